//! `jlock run` against util-linux `flock(1)`: the cases of util-linux's own
//! test suite (`tests/ts/flock` in util-linux), written anew for `jlock run`,
//! and the same command lines run side by side through `/usr/bin/flock` and
//! `jlock run`, comparing exit codes and output.
//!
//! The descriptor form (`fd`: lock a descriptor number the shell holds;
//! `unlock`: `-u FD`) is tested in `tests/descriptor.rs`. Upstream cases with
//! no counterpart: `close` (`--fd`), every `fcntl-*` case and `range-lock`
//! (`--fcntl`, `--start`, `--length`: byte-range OFD locks).
//! `time-check` measures seconds; here the order of events is checked instead.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{jlock, jlock_bin, Holder};

const FLOCK: &str = "/usr/bin/flock";

/// The holder of upstream's `flock` test: `flock --shared lockfile bash -c
/// "echo 'API: flock(2)'; echo 'Locking'; sleep 3; echo 'Unlocking'"`, with
/// the sleep replaced by a line on stdin, so the test decides when it ends.
struct SharedHolder {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl SharedHolder {
    fn start(dir: &Path) -> SharedHolder {
        let mut child = Command::new(jlock_bin())
            .current_dir(dir)
            .args(["run", "--shared", "lockfile", "bash", "-c"])
            .arg("echo 'API: flock(2)'; echo 'Locking'; read x; echo 'Unlocking'")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = String::new();
        for _ in 0..2 {
            out.read_line(&mut lines).unwrap();
        }
        assert_eq!(lines, "API: flock(2)\nLocking\n");
        SharedHolder { child, out }
    }

    fn finish(mut self) -> String {
        self.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        let mut rest = String::new();
        self.out.read_line(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        rest
    }
}

/// Upstream's `do_lock OPTS EXPECTED_RC MESSAGE`: `flock OPTS lockfile echo MESSAGE`.
fn do_lock(dir: &Path, opts: &[&str], expected_rc: i32, mesg: &str) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["lockfile", "echo", mesg]);
    let out = jlock(dir, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(expected_rc), "{opts:?}: {out:?}");
    out
}

/// Waits until the kernel lists a waiter for `lock` (the way upstream's
/// timeout case is known to be waiting, without a sleep).
fn await_waiter(dir: &Path, lock: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = jlock(dir, &["status", "--json", lock]).output().unwrap();
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        if !s["waiters"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "no waiter on {lock}: {s}");
    }
}

#[test]
fn upstream_flock_cases_non_block_no_fork_shared_exclusive_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = SharedHolder::start(d);

    // non-block
    let out = do_lock(
        d,
        &["--nonblocking", "--conflict-exit-code", "123"],
        123,
        "You will never see this!",
    );
    assert!(out.stdout.is_empty());
    // no-fork
    let out = do_lock(
        d,
        &["--no-fork", "--nonblocking", "--conflict-exit-code", "123"],
        123,
        "You will never see this!",
    );
    assert!(out.stdout.is_empty());
    // shared
    let out = do_lock(d, &["--shared"], 0, "Have shared lock");
    assert_eq!(out.stdout, b"Have shared lock\n");
    // exclusive: as non-block, with --exclusive spelled out
    let out = do_lock(
        d,
        &["--nb", "--exclusive", "--conflict-exit-code", "123"],
        123,
        "You will never see this!",
    );
    assert!(out.stdout.is_empty());

    // timeout: waits for the shared holder, then runs.
    let waiter = Command::new(jlock_bin())
        .current_dir(d)
        .args(["run", "--timeout", "600", "--conflict-exit-code", "5"])
        .args(["lockfile", "echo", "After timeout."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    await_waiter(d, "lockfile");
    // time-check, as an order of events: the holder unlocked first.
    assert_eq!(holder.finish(), "Unlocking\n");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"After timeout.\n");
}

#[test]
fn upstream_unlock_case_wait_zero_is_nonblock_and_verbose_reports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `flock --exclusive --wait 0 --verbose lock true`: a free lock is got
    // and the time it took is reported.
    jlock(
        d,
        &[
            "run",
            "--exclusive",
            "--wait",
            "0",
            "--verbose",
            "lock",
            "true",
        ],
    )
    .assert()
    .success()
    .stderr(predicates::str::contains("got lock after"));
    // And a held one fails at once, as -n.
    let holder = Holder::jlock_run(d, &["lock"]);
    jlock(d, &["run", "--exclusive", "--wait", "0", "lock", "true"])
        .assert()
        .code(1)
        .stderr("");
    holder.release();
}

#[test]
fn upstream_close_case_the_command_has_the_descriptor_only_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // How many of the command's descriptors are the lock file.
    let count = "n=0; for f in /proc/$$/fd/*; do \
                 [ \"$(readlink \"$f\")\" = \"$PWD/lock\" ] && n=$((n+1)); done; echo $n";
    for (opts, want) in [
        (&[][..], "1\n"),
        (&["--close"][..], "0\n"),
        (&["-o"][..], "0\n"),
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["lock", "--command", count]);
        jlock(d, &args).assert().success().stdout(want);
    }
}

/// Who holds the lock while a side-by-side case runs.
#[derive(Clone, Copy, Debug)]
enum State {
    Free,
    Exclusive,
    Shared,
}

fn holder(dir: &Path, state: State) -> Option<Holder> {
    let flock = Path::new(FLOCK);
    match state {
        State::Free => None,
        State::Exclusive => Some(Holder::start(dir, flock, &["L", "-c", "echo held; read x"])),
        State::Shared => Some(Holder::start(
            dir,
            flock,
            &["-s", "L", "-c", "echo held; read x"],
        )),
    }
}

#[test]
fn side_by_side_with_flock_the_same_command_lines_give_the_same_results() {
    assert!(
        Path::new(FLOCK).exists(),
        "util-linux flock(1) is part of the test set-up"
    );
    let options: &[&[&str]] = &[
        &[],
        &["-x"],
        &["-e"],
        &["--exclusive"],
        &["-s"],
        &["--shared"],
        &["-n"],
        &["--nb"],
        &["--nonblocking"],
        &["-en"],
        &["-e", "-n"],
        &["--exclusive", "--nb"],
        &["-s", "-n"],
        &["--shared", "--nonblocking"],
        &["-w", "0"],
        &["-w", "0.05"],
        &["--wait", "0.05"],
        &["--timeout", "0.05"],
        &["-n", "-E", "7"],
        &["--nb", "--conflict-exit-code", "7"],
        &["--timeout", "0.05", "--conflict-exit-code", "9"],
        &["-o", "-n"],
        &["--close", "--nb"],
        &["-F", "-n"],
        &["--no-fork", "--nonblocking"],
    ];
    let commands: &[&[&str]] = &[
        &["echo", "ran"],
        &["-c", "echo ran; exit 3"],
        &["--command", "exit 4"],
        &["sh", "-c", "kill -TERM $$"],
    ];
    let mut compared = 0;
    for state in [State::Free, State::Exclusive, State::Shared] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let held = holder(d, state);
        for opts in options {
            // Options that wait without a limit would wait for the holder
            // forever, in both tools: not run where the lock is held.
            let limited = opts.iter().any(|o| {
                [
                    "-n",
                    "--nb",
                    "--nonblocking",
                    "-en",
                    "-w",
                    "--wait",
                    "--timeout",
                ]
                .contains(o)
            });
            let shared = opts.iter().any(|o| ["-s", "--shared"].contains(o));
            let blocks = match state {
                State::Free => false,
                State::Exclusive => !limited,
                State::Shared => !limited && !shared,
            };
            if blocks {
                continue;
            }
            for cmd in commands {
                let mut line: Vec<&str> = opts.to_vec();
                line.push("L");
                line.extend_from_slice(cmd);
                let theirs = Command::new(FLOCK)
                    .current_dir(d)
                    .args(&line)
                    .output()
                    .unwrap();
                let mut ours = vec!["run"];
                ours.extend_from_slice(&line);
                let mine = jlock(d, &ours).output().unwrap();
                let case = format!("{state:?}: flock {}", line.join(" "));
                assert_eq!(mine.status.code(), theirs.status.code(), "{case}");
                assert_eq!(mine.stdout, theirs.stdout, "{case}");
                // Where flock says nothing, so does jlock.
                if theirs.stderr.is_empty() {
                    assert!(mine.stderr.is_empty(), "{case}: {mine:?}");
                }
                compared += 1;
            }
        }
        if let Some(h) = held {
            h.release();
        }
    }
    // 25 option sets on a free lock, 19 on a held one, 21 on a shared one.
    assert_eq!(compared, (25 + 19 + 21) * commands.len());
}

#[test]
fn side_by_side_usage_errors_and_the_known_differences() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let both = |line: &[&str]| -> (Option<i32>, Option<i32>) {
        let theirs = Command::new(FLOCK)
            .current_dir(d)
            .args(line)
            .output()
            .unwrap();
        let mut ours = vec!["run"];
        ours.extend_from_slice(line);
        let mine = jlock(d, &ours).output().unwrap();
        (theirs.status.code(), mine.status.code())
    };
    // Usage errors: 64 from both (EX_USAGE).
    for line in [
        &["L", "-c", "echo a", "extra"][..],
        &["--bogus", "L", "true"],
        &["-E", "x", "-n", "L", "true"],
        &["-w", "soon", "L", "true"],
        &["-F", "-o", "L", "true"],
    ] {
        assert_eq!(both(line), (Some(64), Some(64)), "{line:?}");
    }
    // Where they differ, on purpose: a lock file that cannot be opened is
    // 66/73 (sysexits) for flock, 74 (I/O error) for jlock, as for every
    // jlock command; a command that cannot be found is 69 for flock, 127
    // for jlock (the shell's convention, as for `jlock update`).
    std::fs::write(d.join("file"), "").unwrap();
    assert_eq!(both(&["file/", "true"]), (Some(66), Some(74)));
    assert_eq!(both(&["no/such/dir/L", "true"]), (Some(66), Some(74)));
    assert_eq!(both(&["L", "./no-such-program"]), (Some(69), Some(127)));
    // Both name the problem in the same words.
    jlock(d, &["run", "file/", "true"])
        .assert()
        .stderr(predicates::str::contains("Not a directory"));
}
