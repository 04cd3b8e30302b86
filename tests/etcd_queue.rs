//! `jlock push`/`pop`, `wait` and `watch` on etcd:// targets (issue 18 C, D), against a
//! real etcd each test starts: every element taken exactly once by concurrent waiting
//! consumers, a waiting pop (an etcd watch on the key, no polling) woken by a push, a
//! `wait --until` satisfied by another process's `set`, a `watch` that prints the first
//! and the last value of a burst, exit 69 when the server goes away, bad input.
//!
//! Skipped (with a printed reason) when etcd is not installed, unless `JLOCK_REQUIRE_ETCD=1`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jlock_etcd::local::LocalEtcd;

use crate::util::{jlock, jlock_bin, run_loops_together, test_process, Watchdog};

fn start(test: &str) -> Option<LocalEtcd> {
    if !jlock_etcd::local::available_or_skip(test) {
        return None;
    }
    Some(LocalEtcd::start(1).unwrap_or_else(|e| panic!("{test}: {e}")))
}

#[test]
fn etcd_producers_and_consumers_take_every_element_exactly_once() {
    let Some(e) = start("etcd_queue") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("q");
    // 3 producers × 20, 3 consumers waiting with pop -w (an etcd watch).
    run_loops_together(dir.path(), 6, |i| {
        if i < 3 {
            format!(
                "k=0; while [ $k -lt 20 ]; do \"$J\" push {t} .todo \"\\\"p$I-$k\\\"\" || exit 1; \
                 k=$((k+1)); done"
            )
        } else {
            format!(
                "while [ \"$(\"$J\" get {t} .taken --default 0)\" -lt 60 ]; do \
                   if item=$(\"$J\" pop -q -r -w 0.5 {t} .todo); then \
                     echo \"$item\" >> out.$I; \"$J\" incr -q {t} .taken || exit 1; \
                   else rc=$?; [ $rc -eq 1 ] || exit $rc; \
                   fi; \
                 done"
            )
        }
    });
    let mut taken = Vec::new();
    for i in 3..6 {
        let text = std::fs::read_to_string(dir.path().join(format!("out.{i}"))).unwrap_or_default();
        taken.extend(text.lines().map(str::to_string));
    }
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 60, "{taken:?}");
    assert_eq!(distinct.len(), 60, "an element was taken twice");
    let want: BTreeSet<String> = (0..3)
        .flat_map(|p| (0..20).map(move |k| format!("p{p}-{k}")))
        .collect();
    assert_eq!(distinct.into_iter().cloned().collect::<BTreeSet<_>>(), want);
    jlock(dir.path(), &["get", "-c", &t, ".todo"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn etcd_a_waiting_pop_is_woken_by_a_push_and_bad_input_is_refused() {
    let Some(e) = start("etcd_queue_wait") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("q");
    jlock(dir.path(), &["set", &t, ".n", "5"])
        .assert()
        .success();
    jlock(dir.path(), &["push", &t, ".n", "1"])
        .assert()
        .code(65);
    jlock(dir.path(), &["pop", "-n", &t, ".n"])
        .assert()
        .code(65);
    jlock(dir.path(), &["pop", "-n", &t, ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["pop", "-w", "0.3", &t, ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["get", "-c", &t])
        .assert()
        .success()
        .stdout("{\"n\":5}\n");
    let child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["pop", "--to", ".doing", "-w", "60", &t, ".todo"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    jlock(dir.path(), &["push", &t, ".todo", "{\"job\": 1}"])
        .assert()
        .success();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\n  \"job\": 1\n}\n");
    jlock(dir.path(), &["get", "-c", &t, ".doing"])
        .assert()
        .success()
        .stdout("[{\"job\":1}]\n");
}

#[test]
fn etcd_wait_until_returns_once_another_process_sets_the_value() {
    let Some(e) = start("etcd_wait") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("s");
    jlock(dir.path(), &["set", &t, ".db", "\"starting\""])
        .assert()
        .success();
    let mut child = test_process(Command::new(jlock_bin()).current_dir(dir.path()).args([
        "wait",
        &t,
        ".db",
        "--until",
        "\"ready\"",
        "-w",
        "120",
    ]))
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    // Other changes do not end it.
    jlock(dir.path(), &["set", &t, ".other", "1"])
        .assert()
        .success();
    jlock(dir.path(), &["set", &t, ".db", "\"migrating\""])
        .assert()
        .success();
    assert!(child.try_wait().unwrap().is_none(), "wait returned early");
    jlock(dir.path(), &["set", &t, ".db", "\"ready\""])
        .assert()
        .success();
    assert!(child.wait().unwrap().success());
    // A value that never comes: 1 at the deadline, as for files.
    jlock(
        dir.path(),
        &["wait", &t, ".db", "--until", "3", "-w", "0.3"],
    )
    .assert()
    .code(1)
    .stderr(predicates::str::contains("timed out"));
    jlock(dir.path(), &["wait", &t, ".db", "--change", "-w", "0.3"])
        .assert()
        .code(1);
    jlock(dir.path(), &["wait", &t, ".gone", "--until", "null"])
        .assert()
        .success();
    jlock(
        dir.path(),
        &["wait", "--lock-file", "x", &t, "--until", "1"],
    )
    .assert()
    .code(64);
}

/// Reads `watch`'s lines on a thread, so that each read can be bounded.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn etcd_watch_prints_the_first_value_and_the_last_after_a_burst() {
    let Some(e) = start("etcd_watch") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("s");
    jlock(dir.path(), &["set", &t, ".n", "0"])
        .assert()
        .success();
    let mut child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["watch", &t, ".n"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    let rx = lines_of(&mut child);
    let limit = Duration::from_secs(60);
    assert_eq!(rx.recv_timeout(limit).unwrap(), "0");
    // 30 updates from another process, as fast as it can.
    run_loops_together(dir.path(), 1, |_| {
        format!("i=1; while [ $i -le 30 ]; do \"$J\" set {t} .n $i || exit 1; i=$((i+1)); done")
    });
    let mut seen = vec![0];
    while *seen.last().unwrap() != 30 {
        let line = rx
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no final value; seen {seen:?}"));
        seen.push(line.parse().unwrap());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    eprintln!("watch printed {} of 31 values", seen.len());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn etcd_watch_and_wait_fail_with_69_when_the_server_goes_away() {
    let Some(mut e) = start("etcd_watch_gone") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("s");
    jlock(dir.path(), &["set", &t, ".n", "0"])
        .assert()
        .success();
    let spawn = |args: &[&str]| {
        test_process(Command::new(jlock_bin()).current_dir(dir.path()).args(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut watcher = spawn(&["watch", &t, ".n"]);
    let _dog = Watchdog::new(watcher.id());
    let waiter = spawn(&["wait", &t, ".n", "--until", "1", "-w", "120"]);
    let _dog2 = Watchdog::new(waiter.id());
    let rx = lines_of(&mut watcher);
    // The watch has read the value: it now waits on its etcd watch.
    assert_eq!(rx.recv_timeout(Duration::from_secs(60)).unwrap(), "0");
    e.kill(0);
    for child in [watcher, waiter] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(69), "{stderr}");
        assert!(stderr.contains("etcd"), "{stderr}");
    }
}

#[test]
fn etcd_watch_exits_69_instead_of_hanging_when_the_server_hangs() {
    let Some(e) = start("etcd_watch_hung") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("s");
    jlock(dir.path(), &["set", &t, ".n", "0"])
        .assert()
        .success();
    let mut watcher = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["watch", &t, ".n"]),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(watcher.id());
    let rx = lines_of(&mut watcher);
    assert_eq!(rx.recv_timeout(Duration::from_secs(60)).unwrap(), "0");
    // The server stops answering (it keeps its connections): the connection's keep-alive
    // ends the stream, no member answers a new watch, and watch fails instead of hanging.
    let pid = e.pids()[0] as i32;
    // SAFETY: kill(2) of the etcd this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let out = watcher.wait_with_output();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("watching the document failed"), "{stderr}");
}

#[test]
fn etcd_watch_moves_to_another_member_when_its_member_dies() {
    if !jlock_etcd::local::available_or_skip("etcd_watch_failover") {
        return;
    }
    let mut e = LocalEtcd::start(3).unwrap_or_else(|err| panic!("etcd_watch_failover: {err}"));
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("s");
    jlock(dir.path(), &["set", &t, ".n", "0"])
        .assert()
        .success();
    let mut watcher = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["watch", &t, ".n"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(watcher.id());
    let rx = lines_of(&mut watcher);
    let limit = Duration::from_secs(60);
    assert_eq!(rx.recv_timeout(limit).unwrap(), "0");
    // The member listed first (the one the watch is on) dies; a write through the others
    // still reaches the watch, opened again on another member from the revision it read.
    e.kill(0);
    // If the dead member was the leader, a write may fail until the others elect one (or
    // fail with its outcome unknown): it is the same value, so it is sent until it lands.
    let end = std::time::Instant::now() + limit;
    loop {
        let out = jlock(dir.path(), &["set", &t, ".n", "1"]).output().unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "set never succeeded: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(rx.recv_timeout(limit).unwrap(), "1");
    let _ = watcher.kill();
    let _ = watcher.wait();
}
