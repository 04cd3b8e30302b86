//! `jlock run` and the lock options every subcommand takes: conflict,
//! timeout, shared mode, exit codes, and interplay with util-linux flock(1).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{jlock, Holder};

#[test]
fn nonblock_on_a_held_lock_fails_at_once_with_code_1_or_the_e_code() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    jlock(dir.path(), &["run", "-n", "job.lock", "--", "echo", "ran"])
        .assert()
        .code(1)
        .stdout("");
    jlock(dir.path(), &["run", "-n", "-E", "42", "job.lock", "true"])
        .assert()
        .code(42);
    holder.release();
    jlock(dir.path(), &["run", "-n", "job.lock", "--", "echo", "ran"])
        .assert()
        .success()
        .stdout("ran\n");
}

#[test]
fn wait_gives_up_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    let start = Instant::now();
    jlock(dir.path(), &["-v", "run", "-w", "0.2", "job.lock", "true"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "jlock: waiting for job.lock, held by pid {}",
            holder.child.id()
        )));
    let waited = start.elapsed();
    // It waited (not an instant failure) and it stopped waiting (not a hang).
    assert!(
        waited >= Duration::from_millis(200),
        "returned after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(20),
        "returned after {waited:?}"
    );
    holder.release();
}

#[test]
fn data_commands_honour_nonblock_and_leave_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.json"), "5\n").unwrap();
    let holder = Holder::jlock_run(dir.path(), &["c.json.lock"]);
    jlock(dir.path(), &["incr", "-n", "c.json"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("c.json.lock: lock is held"));
    jlock(dir.path(), &["get", "-w", "0.05", "c.json"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("timed out"));
    holder.release();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c.json")).unwrap(),
        "5\n"
    );
    jlock(dir.path(), &["incr", "-n", "c.json"])
        .assert()
        .success()
        .stdout("6\n");
}

#[test]
fn shared_holders_coexist_and_exclude_an_exclusive_one() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["-s", "s.lock"]);
    jlock(dir.path(), &["run", "-s", "-n", "s.lock", "true"])
        .assert()
        .success();
    jlock(dir.path(), &["run", "-x", "-n", "s.lock", "true"])
        .assert()
        .code(1);
    holder.release();
    jlock(dir.path(), &["run", "-x", "-n", "s.lock", "true"])
        .assert()
        .success();
}

#[test]
fn excludes_and_is_excluded_by_util_linux_flock() {
    let dir = tempfile::tempdir().unwrap();
    let flock = Path::new("/usr/bin/flock");
    assert!(
        flock.exists(),
        "util-linux flock(1) is part of the test set-up"
    );
    let holder = Holder::start(
        dir.path(),
        flock,
        &["db.json.lock", "-c", "echo held; read x"],
    );
    jlock(dir.path(), &["run", "-n", "db.json.lock", "true"])
        .assert()
        .code(1);
    jlock(dir.path(), &["set", "-n", "db.json", ".a", "1"])
        .assert()
        .code(1);
    holder.release();
    let holder = Holder::jlock_run(dir.path(), &["db.json.lock"]);
    let status = std::process::Command::new(flock)
        .current_dir(dir.path())
        .args(["-n", "db.json.lock", "true"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "flock -n got a lock jlock holds");
    holder.release();
}

#[test]
fn a_directory_can_be_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("locks")).unwrap();
    let holder = Holder::jlock_run(dir.path(), &["locks"]);
    jlock(dir.path(), &["run", "-n", "locks", "true"])
        .assert()
        .code(1);
    holder.release();
}

#[test]
fn run_exits_with_the_commands_code_or_128_plus_signal() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["run", "x.lock", "-c", "exit 7"])
        .assert()
        .code(7);
    jlock(
        dir.path(),
        &["run", "x.lock", "--", "sh", "-c", "kill -TERM $$"],
    )
    .assert()
    .code(128 + 15);
    jlock(dir.path(), &["run", "x.lock", "--", "./no-such-program"])
        .assert()
        .code(127)
        .stderr(predicates::str::contains("no-such-program"));
    // The lock file is created, and a command sees its arguments verbatim.
    jlock(dir.path(), &["run", "y.lock", "printf", "%s|", "-a", "b c"])
        .assert()
        .success()
        .stdout("-a|b c|");
    assert!(dir.path().join("y.lock").exists());
}
