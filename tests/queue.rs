//! `jlock push` and `jlock pop` (issue 18 D): a work queue in a JSON array,
//! with real concurrent producers and consumers, consumers killed with -9,
//! bad input, and waiting woken by a push.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{jlock, jlock_bin, run_loops_together, test_process, Watchdog};

/// Waits (bounded: 60 s, then fails) until process `pid` sleeps in poll(2)
/// — where `pop -w`, `wait` and `watch` block on inotify — so that what the
/// test does next certainly happens while it waits. Where /proc does not
/// tell (a wchan of "0"), it returns at once: the waiters open their watch
/// before their first look, so the test still holds, it only proves less.
pub fn blocked_in_poll(pid: u32) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        if wchan.contains("poll") || wchan == "0" {
            return;
        }
        assert!(
            Instant::now() < end,
            "process {pid} never blocked (wchan {wchan:?})"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The strings of the JSON array at `key` of `file`'s object.
fn strings_at(file: &Path, key: &str) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).unwrap()).expect("valid JSON");
    doc[key]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn four_producers_and_four_consumers_take_every_element_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Loops 0-3 push 50 elements each; loops 4-7 pop until 200 were taken
    // (a counter each consumer bumps after its pop), writing what they got.
    run_loops_together(dir.path(), 8, |i| {
        if i < 4 {
            "k=0; while [ $k -lt 50 ]; do \"$J\" push q.json .todo \"\\\"p$I-$k\\\"\" || exit 1; \
             k=$((k+1)); done"
                .to_string()
        } else {
            "while [ \"$(\"$J\" get q.json .taken --default 0)\" -lt 200 ]; do \
               if item=$(\"$J\" pop -q -r -w 0.5 q.json .todo); then \
                 echo \"$item\" >> out.$I; \"$J\" incr -q q.json .taken || exit 1; \
               fi; \
             done"
                .to_string()
        }
    });
    let mut taken = Vec::new();
    for i in 4..8 {
        let text = std::fs::read_to_string(dir.path().join(format!("out.{i}"))).unwrap_or_default();
        taken.extend(text.lines().map(str::to_string));
    }
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 200, "taken: {taken:?}");
    assert_eq!(distinct.len(), 200, "an element was taken twice");
    let pushed: BTreeSet<String> = (0..4)
        .flat_map(|p| (0..50).map(move |k| format!("p{p}-{k}")))
        .collect();
    assert_eq!(distinct, pushed.iter().collect());
    assert!(strings_at(&dir.path().join("q.json"), "todo").is_empty());
}

#[test]
fn consumers_killed_with_9_lose_nothing_with_an_in_progress_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.json");
    let all: Vec<String> = (0..150).map(|k| format!("job-{k}")).collect();
    let mut args = vec!["push", "q.json", ".todo", "--string"];
    args.extend(all.iter().map(String::as_str));
    jlock(dir.path(), &args).assert().success();
    // 4 threads at once, each starting 30 consumers one after another and
    // killing most of them (SIGKILL) after a pseudo-random 0 to ~3 ms.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let mut seed: u64 = (std::process::id() as u64 + t) ^ 0x9e37_79b9_7f4a_7c15;
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let (mut printed, mut killed) = (Vec::new(), 0);
                for k in 0..30 {
                    let wait = if k % 2 == 0 { "-n" } else { "-w5" };
                    let mut child = test_process(
                        Command::new(jlock_bin())
                            .current_dir(&dir)
                            .args(["pop", "-r", wait, "--to", ".doing", "q.json", ".todo"]),
                    )
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                    let _dog = Watchdog::new(child.id());
                    if next() % 4 != 0 {
                        std::thread::sleep(Duration::from_micros(next() % 3000));
                        let _ = child.kill(); // it may have finished already
                    }
                    let mut out = String::new();
                    child
                        .stdout
                        .take()
                        .unwrap()
                        .read_to_string(&mut out)
                        .unwrap();
                    if child.wait().unwrap().success() {
                        printed.push(out.trim_end().to_string());
                    } else {
                        killed += 1;
                    }
                }
                (printed, killed)
            })
        })
        .collect();
    let (mut printed, mut killed) = (Vec::new(), 0);
    for t in threads {
        let (p, k) = t.join().unwrap();
        printed.extend(p);
        killed += k;
    }
    let todo = strings_at(&file, "todo");
    let doing = strings_at(&file, "doing");
    // Every element is exactly once in the queue or in progress ...
    let mut held: Vec<String> = todo.iter().chain(&doing).cloned().collect();
    held.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(held, want, "an element was lost or duplicated");
    // ... and every one a consumer printed (and exited 0 with) is in
    // progress, taken by that consumer alone.
    let printed_set: BTreeSet<&String> = printed.iter().collect();
    assert_eq!(
        printed_set.len(),
        printed.len(),
        "printed twice: {printed:?}"
    );
    for p in &printed {
        assert!(doing.contains(p), "{p} was printed but is not in .doing");
    }
    eprintln!(
        "{} printed, {killed} killed, {} in progress, {} left",
        printed.len(),
        doing.len(),
        todo.len()
    );
    // Recovery: what a killed consumer left in progress moves back.
    let stranded = doing.len() - printed.len();
    for _ in 0..stranded {
        jlock(
            dir.path(),
            &["pop", "-n", "--to", ".todo", "q.json", ".doing"],
        )
        .assert()
        .success();
    }
}

#[test]
fn a_non_array_at_path_is_bad_data_and_leaves_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.json");
    let before = b"{ \"todo\": {\"a\": 1},  \"n\": 5, \"doing\": \"x\" , \"ok\": [1] }\n";
    std::fs::write(&file, before).unwrap();
    for args in [
        &["push", "q.json", ".todo", "1"][..],
        &["push", "q.json", ".n", "1", "2"],
        &["pop", "q.json", ".todo"],
        &["pop", "-n", "q.json", ".n"],
        &["pop", "-w", "1", "q.json", ".todo"],
        &["pop", "--to", ".doing", "q.json", ".ok"],
    ] {
        jlock(dir.path(), args).assert().code(65);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
    // A VALUE that is not JSON is a usage error, nothing written.
    jlock(dir.path(), &["push", "q.json", ".ok", "{oops"])
        .assert()
        .code(64);
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn push_appends_in_order_in_one_update_and_pop_prints_as_get() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.json");
    std::fs::write(&file, "{\"keep\":  1E2, \"todo\": null}\n").unwrap();
    jlock(
        dir.path(),
        &["push", "q.json", ".todo", "1.50", "\"two\"", "{\"x\": [1]}"],
    )
    .assert()
    .success();
    jlock(
        dir.path(),
        &["push", "--string", "q.json", ".todo", "raw text"],
    )
    .assert()
    .success();
    jlock(dir.path(), &["pop", "q.json", ".todo"])
        .assert()
        .success()
        .stdout("1.50\n");
    jlock(dir.path(), &["pop", "-r", "q.json", ".todo"])
        .assert()
        .success()
        .stdout("two\n");
    jlock(dir.path(), &["pop", "-c", "q.json", ".todo"])
        .assert()
        .success()
        .stdout("{\"x\":[1]}\n");
    jlock(dir.path(), &["pop", "-r", "q.json", "/todo"])
        .assert()
        .success()
        .stdout("raw text\n");
    // The rest of the file kept its bytes.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("{\"keep\":  1E2, \"todo\": "), "{text}");
}

#[test]
fn pop_n_on_an_empty_or_missing_queue_exits_1_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["pop", "-n", "q.json", ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["pop", "-w", "0.2", "q.json", ".todo"])
        .assert()
        .code(1);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a pop of a missing queue creates nothing (no q.json.lock)"
    );
    let file = dir.path().join("q.json");
    std::fs::write(&file, "{\"todo\": [ ]}\n").unwrap();
    jlock(dir.path(), &["pop", "-n", "q.json", ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["pop", "-w", "0.2", "q.json", ".todo"])
        .assert()
        .code(1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"todo\": [ ]}\n");
    jlock(dir.path(), &["pop", "--to", ".todo", "q.json", ".todo"])
        .assert()
        .code(64);
}

#[test]
fn a_waiting_pop_is_woken_by_a_push() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.json"), "{}\n").unwrap();
    let child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["pop", "-w", "120", "q.json", ".todo"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    blocked_in_poll(child.id());
    jlock(dir.path(), &["push", "q.json", ".todo", "42"])
        .assert()
        .success();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    assert!(strings_at(&dir.path().join("q.json"), "todo").is_empty());
}

#[test]
fn a_waiting_pop_is_woken_in_journal_mode_too() {
    let dir = tempfile::tempdir().unwrap();
    let child = test_process(Command::new(jlock_bin()).current_dir(dir.path()).args([
        "pop",
        "--durability",
        "journal",
        "-w",
        "120",
        "q.json",
        ".todo",
    ]))
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    blocked_in_poll(child.id());
    jlock(
        dir.path(),
        &["push", "--durability", "journal", "q.json", ".todo", "7"],
    )
    .assert()
    .success();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n");
}
