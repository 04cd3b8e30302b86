//! `jlock run FD` and `jlock run -u FD`: flock(1)'s descriptor form, run from
//! real shells (`sh -c`), against util-linux flock(1) both ways.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use predicates::str::contains;
use serde_json::Value;

use crate::util::{entries, jlock, jlock_bin, test_process, Holder, Watchdog};

const FLOCK: &str = "/usr/bin/flock";

/// `sh -c SCRIPT` in `dir`, with `$J` the jlock binary; bounded.
fn sh(dir: &Path, script: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("/bin/sh");
    cmd.current_dir(dir)
        .env("J", jlock_bin())
        .args(["-c", script])
        .timeout(Duration::from_secs(120));
    cmd
}

/// A shell holding `lock` through jlock's descriptor form (the subshell
/// idiom of flock(1)'s man page), until told to let go.
fn descriptor_holder(dir: &Path, opts: &str) -> Holder {
    let script = format!(
        "( {} run {opts} -n 9 || exit 1; echo held; read x ) 9>lock",
        jlock_bin().display()
    );
    Holder::start(dir, Path::new("/bin/sh"), &["-c", &script])
}

/// Waits until the kernel lists a waiter for `lock` (no sleep guesses it).
fn await_waiter(dir: &Path, lock: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = jlock(dir, &["status", "--json", lock]).output().unwrap();
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        if s["waiters"].as_array().is_some_and(|w| !w.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "no waiter on {lock}: {s}");
    }
}

#[test]
fn the_subshell_idiom_holds_the_lock_against_flock_and_jlock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = descriptor_holder(d, "");
    // flock(1) on the path, and jlock on the path, find it held.
    let flock = Command::new(FLOCK)
        .current_dir(d)
        .args(["-n", "lock", "true"])
        .status()
        .unwrap();
    assert_eq!(flock.code(), Some(1));
    jlock(d, &["run", "-n", "lock", "true"]).assert().code(1);
    // So does a second descriptor-form jlock, with its -E code.
    sh(d, "\"$J\" run -n 9 9>lock").assert().code(1).stderr("");
    sh(d, "\"$J\" run -n -E 7 9 9>>lock").assert().code(7);
    sh(d, "\"$J\" run -w 0.05 -E 5 9 9<lock").assert().code(5);
    // With a command the number is a file name: `9`, free.
    jlock(d, &["run", "-n", "9", "--", "true"])
        .assert()
        .success();
    assert_eq!(entries(d), ["9", "lock"]);
    holder.release();
    // The shell closed the descriptor: free again.
    let flock = Command::new(FLOCK)
        .current_dir(d)
        .args(["-n", "lock", "true"])
        .status()
        .unwrap();
    assert_eq!(flock.code(), Some(0));
}

#[test]
fn exec_then_lock_then_unlock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "exec 9>lock; \"$J\" run 9 || exit 9; \
                  flock -n lock true; echo \"held $?\"; \
                  \"$J\" run -n lock true; echo \"jlock $?\"; \
                  \"$J\" run -u 9; echo \"unlocked $?\"; \
                  flock -n lock true; echo \"free $?\"; \
                  \"$J\" run -s 9 && \"$J\" run -s -n lock true; echo \"shared $?\"";
    sh(d, script)
        .assert()
        .success()
        .stdout("held 1\njlock 1\nunlocked 0\nfree 0\nshared 0\n")
        .stderr("");
}

#[test]
fn a_lock_flock_holds_through_a_descriptor_conflicts_with_jlock_run_fd_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = format!("( {FLOCK} -n 8 || exit 1; echo held; read x ) 8>lock");
    let holder = Holder::start(d, Path::new("/bin/sh"), &["-c", &script]);
    jlock(d, &["run", "-n", "lock", "true"]).assert().code(1);
    sh(d, "\"$J\" run -n 9 9>lock").assert().code(1);
    sh(d, "\"$J\" run -s -n 9 9>lock").assert().code(1);
    holder.release();

    // A shared flock(1) holder: shared descriptor locks join it, exclusive ones do not.
    let holder = Holder::start(
        d,
        Path::new(FLOCK),
        &["-s", "lock", "-c", "echo held; read x"],
    );
    sh(d, "\"$J\" run -s -n 9 9>lock").assert().success();
    sh(d, "\"$J\" run -n 9 9>lock").assert().code(1);
    holder.release();
}

#[test]
fn a_timed_descriptor_wait_queues_in_the_kernel_and_gets_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::start(d, Path::new(FLOCK), &["lock", "-c", "echo held; read x"]);
    // `-w 600`: the wait ends when the holder lets go, not by the clock.
    let script = format!(
        "( {} run -w 600 9 || exit 1; echo got; {FLOCK} -n lock true; echo \"flock $?\" ) 9>lock",
        jlock_bin().display()
    );
    let mut waiter = test_process(Command::new("/bin/sh").current_dir(d))
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = Watchdog::new(waiter.id());
    await_waiter(d, "lock");
    holder.release();
    let mut out = String::new();
    let mut stdout = BufReader::new(waiter.stdout.take().unwrap());
    stdout.read_line(&mut out).unwrap();
    stdout.read_line(&mut out).unwrap();
    assert_eq!(out, "got\nflock 1\n");
    assert!(waiter.wait().unwrap().success());
}

#[test]
fn a_descriptor_that_is_not_open_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["run", "97"][..],
        &["run", "-u", "97"],
        &["run", "-n", "97"],
    ] {
        jlock(d, args)
            .assert()
            .code(74)
            .stderr(contains("jlock: descriptor 97 is not open"))
            .stderr(contains("exec 97>FILE"));
    }
    assert!(entries(d).is_empty());
}

#[test]
fn options_that_need_a_command_are_refused_with_a_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("lock"), "keep\n").unwrap();
    for (opts, word) in [
        ("--slots 2", "--slots"),
        ("--kill-after 1", "--kill-after"),
        ("-o", "-o/--close"),
        ("-F", "-F/--no-fork"),
    ] {
        sh(d, &format!("\"$J\" run {opts} 9 9>>lock"))
            .assert()
            .code(64)
            .stderr(contains(word))
            .stderr(contains("locks descriptor FD and returns"));
    }
    // -u runs nothing; a name alone is no descriptor; a name needs a command.
    sh(d, "\"$J\" run -u 9 -- true 9>>lock")
        .assert()
        .code(64)
        .stderr(contains("without a command"));
    jlock(d, &["run", "-u", "lock"])
        .assert()
        .code(64)
        .stderr(contains("FD a number"));
    jlock(d, &["run", "lock"])
        .assert()
        .code(64)
        .stderr(contains("needs a command"));
    jlock(d, &["run", "99999999999"])
        .assert()
        .code(64)
        .stderr(contains("not a descriptor number"));
    // With a command, any number is a file name.
    jlock(d, &["run", "99999999999", "--", "true"])
        .assert()
        .success();
    fs_remove(&d.join("99999999999"));
    assert_eq!(std::fs::read(d.join("lock")).unwrap(), b"keep\n");
    assert_eq!(entries(d), ["lock"]);
}

fn fs_remove(path: &Path) {
    std::fs::remove_file(path).unwrap();
}
