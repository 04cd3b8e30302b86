//! What operators need of a lock tool: who holds it, counting slots,
//! signals passed on, a time limit, safety in /tmp, shell completions and a
//! man page.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use predicates::str::contains;
use serde_json::Value;

use crate::util::{jlock, jlock_bin, on_a_terminal, run_loops_together, Holder};

/// `jlock status --json PATH`, whose exit code must say what the JSON says:
/// 0 free, 1 held.
fn status_json(dir: &std::path::Path, path: &str) -> Value {
    let out = jlock(dir, &["status", "--json", path]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = if v["state"] == "free" { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(want), "{v}");
    v
}

/// Looks until `jlock status` shows `pid` waiting for `lock` in the
/// kernel's table — a waiter says so just before it blocks — and fails
/// after 120 s rather than hang.
fn await_kernel_waiter(dir: &std::path::Path, lock: &str, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status_json(dir, lock);
        let waiters = s["waiters"].as_array().unwrap();
        if waiters.iter().any(|w| w["pid"] == pid) {
            return;
        }
        assert!(Instant::now() < deadline, "pid {pid} never waited: {s}");
        std::thread::yield_now();
    }
}

/// `status` a script can use: exit 0 free, 1 held; `-q` prints nothing; a
/// lock file that does not exist is free, says so, and is not created.
#[test]
fn status_exits_0_when_free_and_1_when_held_and_q_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    jlock(d, &["status", "job.lock"])
        .assert()
        .code(0)
        .stdout("job.lock: free (no lock file yet)\n");
    let v = status_json(d, "job.lock");
    assert_eq!(
        (v["state"].as_str(), v["exists"].as_bool()),
        (Some("free"), Some(false))
    );
    assert!(!d.join("job.lock").exists(), "status created the lock file");
    let holder = Holder::jlock_run(d, &["job.lock"]);
    jlock(d, &["-q", "status", "job.lock"])
        .assert()
        .code(1)
        .stdout("");
    jlock(d, &["status", "-q", "--json", "job.lock"])
        .assert()
        .code(1)
        .stdout("");
    jlock(d, &["status", "job.lock"])
        .assert()
        .code(1)
        .stdout(contains("job.lock: held exclusive by"));
    assert_eq!(status_json(d, "job.lock")["exists"], true);
    holder.release();
    jlock(d, &["-q", "status", "job.lock"])
        .assert()
        .code(0)
        .stdout("");
    // In a shell `if`, as README shows it.
    let out = std::process::Command::new("sh")
        .current_dir(d)
        .args([
            "-c",
            "if \"$0\" -q status job.lock; then echo free; else echo busy; fi",
        ])
        .arg(jlock_bin())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "free\n");
    // A semaphore: 0 while a slot is free, 1 when every slot is held.
    let a = Holder::jlock_run(d, &["--slots", "2", "pool"]);
    jlock(d, &["-q", "status", "pool"]).assert().code(0);
    let b = Holder::jlock_run(d, &["--slots", "2", "pool"]);
    jlock(d, &["-q", "status", "pool"]).assert().code(1);
    a.release();
    b.release();
    jlock(d, &["-q", "status", "pool"]).assert().code(0);
}

#[test]
fn status_names_holder_and_waiter_from_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(status_json(dir.path(), "job.lock")["state"], "free");
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    let s = status_json(dir.path(), "job.lock");
    assert_eq!(s["state"], "exclusive");
    // jlock, and the command that inherited its descriptor, in either order.
    let holders = s["holders"].as_array().unwrap();
    let jlock_holder = holders
        .iter()
        .find(|h| h["pid"] == holder.child.id())
        .unwrap_or_else(|| panic!("jlock not among the holders: {s}"));
    assert!(jlock_holder["command"]
        .as_str()
        .unwrap()
        .contains("run job.lock"));
    assert!(jlock_holder["started"].as_str().unwrap().ends_with('Z'));

    // A blocking waiter shows up in the table once it blocks; -v makes it
    // say whom it waits for. (A -w waiter queues in the kernel too: see
    // a_timed_waiter_queues_in_the_kernel_like_flock.)
    let mut waiter = crate::util::test_process(&mut Command::new(jlock_bin()))
        .current_dir(dir.path())
        .args(["-v", "run", "job.lock", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = crate::util::Watchdog::new(waiter.id());
    let mut said = String::new();
    std::io::BufReader::new(waiter.stderr.as_mut().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(
        said.contains(&format!(
            "waiting for job.lock, held by pid {}",
            holder.child.id()
        )),
        "{said}"
    );
    await_kernel_waiter(dir.path(), "job.lock", waiter.id());
    holder.release();
    assert!(waiter.wait().unwrap().success());
    jlock(dir.path(), &["status", "job.lock"])
        .assert()
        .success()
        .stdout("job.lock: free\n");
}

#[test]
fn status_of_a_data_file_reports_a_journal_awaiting_replay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pad = "z".repeat(5000);
    jlock(
        d,
        &[
            "set",
            "--durability",
            "journal",
            "db.json",
            ".pad",
            &format!("\"{pad}\""),
        ],
    )
    .assert()
    .success();
    jlock(d, &["incr", "--durability", "journal", "db.json", ".n"])
        .assert()
        .success();
    let s = status_json(d, "db.json");
    assert_eq!(s["lock_file"], "db.json.lock");
    assert_eq!(s["data"]["journal"], "nothing to replay");
    // What a writer killed mid-write leaves: its record whole, the data
    // file half-way from the old document to the new one.
    let store = jlock_core::Store::builder(d.join("db.json"))
        .durability(jlock_core::Durability::Journal)
        .open()
        .unwrap();
    let mut doc = store.read().unwrap();
    doc["n"] = 2222.into();
    store.write_killed_after(&doc, 2).unwrap();
    let s = status_json(d, "db.json");
    assert!(
        s["data"]["journal"]
            .as_str()
            .unwrap()
            .starts_with("awaiting replay"),
        "{s}"
    );
    // The killed writer's record completes its write, for readers and writers.
    jlock(d, &["get", "db.json", ".n"])
        .assert()
        .success()
        .stdout("2222\n");
    jlock(d, &["incr", "db.json", ".n"])
        .assert()
        .success()
        .stdout("2223\n");
    assert_eq!(
        status_json(d, "db.json")["data"]["journal"],
        "nothing to replay"
    );
}

#[test]
fn slots_let_at_most_n_commands_run_together() {
    let dir = tempfile::tempdir().unwrap();
    // Each command counts itself in, records how many run, works, counts out.
    run_loops_together(dir.path(), 6, |_| {
        "\"$J\" run --slots 2 heavy -c '\"$J\" incr running.json >> seen; echo \"$JLOCK_SLOT\" >> slots; sleep 0.2; \"$J\" -q incr running.json --by -1'".into()
    });
    let seen: Vec<u32> = std::fs::read_to_string(dir.path().join("seen"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(seen.len(), 6);
    assert!(
        seen.iter().all(|&n| (1..=2).contains(&n)),
        "more than 2 at once: {seen:?}"
    );
    let slots = std::fs::read_to_string(dir.path().join("slots")).unwrap();
    assert!(slots.lines().all(|s| s == "0" || s == "1"), "{slots}");
    // All slots taken: -n fails at once.
    let a = Holder::jlock_run(dir.path(), &["--slots", "2", "heavy"]);
    let b = Holder::jlock_run(dir.path(), &["--slots", "2", "heavy"]);
    jlock(dir.path(), &["run", "--slots", "2", "-n", "heavy", "true"])
        .assert()
        .code(1);
    a.release();
    jlock(dir.path(), &["run", "--slots", "2", "-n", "heavy", "true"])
        .assert()
        .success();
    b.release();
}

#[test]
fn signals_reach_the_command_and_the_lock_is_held_until_it_exits() {
    // Without --kill-after the command shares jlock's process group; with
    // it, the command has a group of its own and jlock passes signals on to
    // that group.
    for (sig, name, kill_after) in [
        (libc::SIGTERM, "TERM", None),
        (libc::SIGINT, "INT", None),
        (libc::SIGHUP, "HUP", None),
        (libc::SIGINT, "INT", Some("600")),
        (libc::SIGTERM, "TERM", Some("600")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("trap 'echo got {name}; read x; exit 3' {name}; echo held; while :; do sleep 0.02; done");
        let mut args = vec!["run"];
        if let Some(secs) = kill_after {
            args.extend_from_slice(&["--kill-after", secs]);
        }
        args.extend_from_slice(&["job.lock", "-c", &script]);
        let mut holder = Holder::start(dir.path(), &jlock_bin(), &args);
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(holder.child.id() as i32, sig) }, 0);
        let mut line = String::new();
        holder.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("got {name}"));
        // The command is still cleaning up: the lock is still held.
        jlock(dir.path(), &["run", "-n", "job.lock", "true"])
            .assert()
            .code(1);
        holder
            .child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"\n")
            .unwrap();
        assert_eq!(holder.child.wait().unwrap().code(), Some(3), "{name}");
        jlock(dir.path(), &["run", "-n", "job.lock", "true"])
            .assert()
            .success();
    }
}

#[test]
fn kill_after_stops_the_command_with_exit_124() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    jlock(
        dir.path(),
        &["run", "--kill-after", "0.2", "t.lock", "--", "sleep", "30"],
    )
    .assert()
    .code(124);
    assert!(start.elapsed() < Duration::from_secs(20));
    // One that ignores SIGTERM gets SIGKILL after the grace period.
    jlock(
        dir.path(),
        &[
            "run",
            "--kill-after",
            "0.1",
            "t.lock",
            "-c",
            "trap '' TERM; sleep 30",
        ],
    )
    .assert()
    .code(124);
    jlock(
        dir.path(),
        &["run", "--kill-after", "5", "t.lock", "--", "true"],
    )
    .assert()
    .success();
}

#[test]
fn kill_after_stops_the_commands_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // The shell's background sleep inherited the lock: it must go too, or
    // it keeps the lock for 30 s after jlock has given up.
    jlock(
        dir.path(),
        &[
            "run",
            "--kill-after",
            "0.2",
            "g.lock",
            "--",
            "sh",
            "-c",
            "sleep 30 & wait",
        ],
    )
    .assert()
    .code(124);
    jlock(dir.path(), &["run", "-n", "g.lock", "true"])
        .assert()
        .success();
    // One that ignores SIGTERM, left behind by a command that obeyed it,
    // gets SIGKILL.
    jlock(
        dir.path(),
        &[
            "run",
            "--kill-after",
            "0.2",
            "g.lock",
            "-c",
            "(trap '' TERM; exec sleep 30) & wait",
        ],
    )
    .assert()
    .code(124);
    jlock(dir.path(), &["run", "-n", "g.lock", "true"])
        .assert()
        .success();
}

#[test]
fn ctrl_c_on_a_terminal_reaches_a_command_in_its_own_process_group() {
    // script(1) gives jlock a real terminal. ^C typed there is sent by the
    // kernel to the terminal's foreground process group: jlock's, which
    // under --kill-after is not the command's; jlock must pass it on. (If
    // it did not, --kill-after would end the command: exit 124, not 5.)
    let dir = tempfile::tempdir().unwrap();
    let args = "run --kill-after 60 job.lock -c \
                'trap \"echo got INT; exit 5\" INT; echo held; while :; do sleep 0.02; done'";
    let mut script = on_a_terminal(dir.path(), args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux, is part of the test set-up");
    let mut out = std::io::BufReader::new(script.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("held") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no 'held' from the command"
        );
    }
    script.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("got INT"), "{rest:?}");
    assert_eq!(script.wait().unwrap().code(), Some(5), "{rest:?}");
}

#[test]
fn a_timed_waiter_queues_in_the_kernel_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    // A -w waiter that polled with LOCK_NB would never be in the kernel's
    // table, and would lose its turn to every blocked waiter.
    let mut waiter = crate::util::test_process(&mut Command::new(jlock_bin()))
        .current_dir(dir.path())
        .args(["run", "-w", "600", "job.lock", "true"])
        .spawn()
        .unwrap();
    let _watchdog = crate::util::Watchdog::new(waiter.id());
    await_kernel_waiter(dir.path(), "job.lock", waiter.id());
    holder.release();
    assert!(waiter.wait().unwrap().success());
}

#[test]
fn close_does_not_pass_the_lock_to_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Holder::start(
        dir.path(),
        &jlock_bin(),
        &["run", "-o", "job.lock", "-c", "echo held; exec sleep 30"],
    );
    holder.child.kill().unwrap(); // SIGKILL jlock only; sleep lives on
    holder.child.wait().unwrap();
    jlock(dir.path(), &["run", "-n", "job.lock", "true"])
        .assert()
        .success();
}

/// A world-writable sticky directory, like /tmp.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::set_permissions(
        dir.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    dir
}

#[test]
fn shared_directory_refuses_dangling_symlinks() {
    let dir = shared_dir();
    let d = dir.path();
    std::os::unix::fs::symlink("../victim.lock", d.join("tmp/job.lock")).unwrap();
    std::os::unix::fs::symlink("../victim.json", d.join("tmp/db.json")).unwrap();
    jlock(d, &["run", "tmp/job.lock", "true"])
        .assert()
        .code(77)
        .stderr(contains("dangling symlink"));
    jlock(d, &["incr", "tmp/db.json"])
        .assert()
        .code(77)
        .stderr(contains("tmp/db.json"));
    assert!(!d.join("victim.lock").exists() && !d.join("victim.json").exists());
    // Our own link to an existing file is followed, as anywhere.
    std::fs::write(d.join("mine.json"), "1").unwrap();
    std::os::unix::fs::symlink("../mine.json", d.join("tmp/mine.json")).unwrap();
    jlock(d, &["incr", "tmp/mine.json"])
        .assert()
        .success()
        .stdout("2\n");
}

#[test]
fn shared_directory_refuses_another_users_symlink() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("victim.json"), "1").unwrap();
    let link = d.join("tmp/db.json");
    std::os::unix::fs::symlink("../victim.json", &link).unwrap();
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test gives a symlink to another user, which needs root (CI runs as root)");
    }
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    jlock(d, &["incr", "tmp/db.json"])
        .assert()
        .code(77)
        .stderr(contains("owned by another user (uid 65534)"));
    assert_eq!(std::fs::read_to_string(d.join("victim.json")).unwrap(), "1");
    let lock_link = d.join("tmp/job.lock");
    std::os::unix::fs::symlink("../victim.lock", &lock_link).unwrap();
    std::os::unix::fs::lchown(&lock_link, Some(65534), Some(65534)).unwrap();
    jlock(d, &["run", "tmp/job.lock", "true"]).assert().code(77);
    assert!(!d.join("victim.lock").exists());
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        jlock(dir.path(), &["completions", shell])
            .assert()
            .success()
            .stdout(contains("incr"));
    }
    jlock(dir.path(), &["man"])
        .assert()
        .success()
        .stdout(contains(".TH jlock 1"));
}

#[test]
fn errors_carry_a_hint_and_quiet_silences_them() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["c.json.lock"]);
    jlock(dir.path(), &["incr", "-n", "c.json"])
        .assert()
        .code(1)
        .stderr(contains(
            "jlock: hint: `jlock status c.json.lock` shows who holds it",
        ));
    jlock(dir.path(), &["-q", "incr", "-n", "c.json"])
        .assert()
        .code(1)
        .stderr("");
    holder.release();
    jlock(dir.path(), &["-q", "incr", "c.json"])
        .assert()
        .success()
        .stdout("");
    jlock(dir.path(), &["-v", "incr", "c.json"])
        .assert()
        .success()
        .stdout("2\n");
}

#[test]
fn temp_and_journal_files_are_never_written_through_a_planted_symlink() {
    let dir = shared_dir();
    let d = dir.path();
    std::fs::write(d.join("victim"), "precious").unwrap();
    std::fs::write(d.join("tmp/db.json"), "1").unwrap();
    // Planted where the temporary file will be created: O_EXCL does not
    // follow it; it is removed as a stale leftover and replaced.
    std::os::unix::fs::symlink("../victim", d.join("tmp/.db.json.jlock-tmp")).unwrap();
    jlock(d, &["incr", "tmp/db.json"])
        .assert()
        .success()
        .stdout("2\n");
    // Planted where the journal will be: opened with O_NOFOLLOW, it is
    // refused, naming the planted file.
    std::os::unix::fs::symlink("../victim", d.join("tmp/.db.json.jlock-journal")).unwrap();
    jlock(d, &["incr", "--durability", "journal", "tmp/db.json"])
        .assert()
        .code(77)
        .stderr(contains(".db.json.jlock-journal"));
    assert_eq!(
        std::fs::read_to_string(d.join("victim")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_to_string(d.join("tmp/db.json")).unwrap(), "2");
}

/// Found by an adversarial pass: `status --json` panicked on a path that is
/// not UTF-8, and a holder's command line with a newline could forge a line
/// of `status` (a fake "free"). The JSON now shows such a name with U+FFFD,
/// and control characters in a command are escaped.
#[test]
fn status_survives_odd_names_and_commands() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let odd = std::ffi::OsStr::from_bytes(b"bad\xff.lock");
    std::fs::write(d.join(odd), "").unwrap();
    let out = Command::new(jlock_bin())
        .current_dir(d)
        .args(["status", "--json"])
        .arg(odd)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lock_file"], "bad\u{fffd}.lock");
    let holder = Holder::start(
        d,
        std::path::Path::new("/usr/bin/flock"),
        &["lk", "sh", "-c", "echo held; read x", "sh", "x\nlk: free"],
    );
    let out = jlock(d, &["status", "lk"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .all(|l| l != "lk: free" && !l.starts_with("lk: free")),
        "{text}"
    );
    assert!(text.contains("x\\nlk: free"), "{text}");
    holder.release();
}
