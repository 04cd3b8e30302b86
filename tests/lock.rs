//! `jlock run` and the lock options every subcommand takes: conflict,
//! timeout, shared mode, exit codes, and interplay with util-linux flock(1).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::util::{jlock, jlock_bin, on_a_terminal, Holder};

/// A bound for commands that used to hang: a hang fails the test instead
/// of stalling the suite. Not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

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

#[test]
fn a_wait_is_reported_only_with_verbose_and_verbose_reports_failure() {
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    // A cron job that waits and gives up must not send mail.
    jlock(dir.path(), &["run", "-w", "0.05", "job.lock", "true"])
        .assert()
        .code(1)
        .stderr("");
    jlock(dir.path(), &["run", "-n", "job.lock", "true"])
        .assert()
        .code(1)
        .stderr("");
    // With -v, as flock --verbose: the wait, then the time-out or conflict.
    jlock(dir.path(), &["-v", "run", "-w", "0.05", "job.lock", "true"])
        .assert()
        .code(1)
        .stderr(contains("waiting for job.lock, held by pid"))
        .stderr(contains("timed out after"));
    jlock(
        dir.path(),
        &["-v", "run", "-n", "-E", "9", "job.lock", "true"],
    )
    .assert()
    .code(9)
    .stderr(contains("failed to get job.lock"));
    jlock(dir.path(), &["-q", "run", "-w", "0.05", "job.lock", "true"])
        .assert()
        .code(1)
        .stderr("");
    holder.release();
}

#[test]
fn a_timed_wait_is_reported_without_verbose_when_stderr_is_a_terminal() {
    // Someone watching a terminal is told why nothing happens; script(1)
    // gives jlock one.
    let dir = tempfile::tempdir().unwrap();
    let holder = Holder::jlock_run(dir.path(), &["job.lock"]);
    let out = on_a_terminal(dir.path(), "run -w 0.05 job.lock true")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1), from util-linux, is part of the test set-up");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("waiting for job.lock, held by pid"),
        "{text:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{text:?}");
    holder.release();
}

#[test]
fn a_program_can_lock_its_own_executable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `cp /bin/true t; jlock run t -- ./t`: a lock file open for writing
    // could not be executed ("Text file busy", exit 126).
    std::fs::copy("/bin/true", d.join("t")).unwrap();
    jlock(d, &["run", "t", "--", "./t"]).assert().success();
    jlock(d, &["run", "-F", "t", "--", "./t"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read("/bin/true").unwrap(),
        std::fs::read(d.join("t")).unwrap()
    );
}

#[test]
fn the_flocker_idiom_of_flocks_man_page_works_with_jlock_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = d.join("job.sh");
    let text = "#!/bin/sh\n\
        [ \"${FLOCKER}\" != \"$0\" ] && exec env FLOCKER=\"$0\" \"$JLOCK\" run -en \"$0\" \"$0\" \"$@\" || :\n\
        echo held; read x; echo \"done $*\"\n";
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let jlock_path = jlock_bin();
    let mut first = std::process::Command::new(&script);
    first
        .env("JLOCK", &jlock_path)
        .env_remove("FLOCKER")
        .current_dir(d)
        .arg("a");
    first
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut first = first.spawn().unwrap();
    let mut out = std::io::BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "held\n");
    // A second copy while the first runs: -n, so it exits 1 at once.
    let second = std::process::Command::new(&script)
        .env("JLOCK", &jlock_path)
        .env_remove("FLOCKER")
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    std::io::Write::write_all(first.stdin.as_mut().unwrap(), b"\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "done a\n");
    assert!(first.wait().unwrap().success());
    // The script was not touched (no fencing token written into it).
    assert_eq!(std::fs::read_to_string(&script).unwrap(), text);
}

#[test]
fn a_fifo_as_lock_file_does_not_block_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    jlock(dir.path(), &["run", "fifo", "echo", "ran"])
        .timeout(HANG)
        .assert()
        .success()
        .stdout("ran\n");
}

#[test]
fn a_caller_that_ignores_sigchld_neither_hangs_nor_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sh = |script: &str| {
        // bash, not dash: dash does not pass an ignored SIGCHLD on to
        // what it execs.
        let mut c = assert_cmd::Command::new("bash");
        c.current_dir(dir.path())
            .env("J", jlock_bin())
            .args(["-c", &format!("trap '' CHLD; {script}")])
            .timeout(HANG);
        c
    };
    sh("exec \"$J\" run l.lock sh -c 'sleep 0.2; exit 7'")
        .assert()
        .code(7);
    sh("exec \"$J\" run l.lock ./no-such-program")
        .assert()
        .code(127)
        .stderr(contains("no-such-program"));
    std::fs::write(dir.path().join("c.json"), "{\"n\":1}\n").unwrap();
    sh("exec \"$J\" update c.json -- sh -c 'sleep 0.2; cat'")
        .assert()
        .success();
    sh("exec \"$J\" run --kill-after 60 l.lock sh -c 'sleep 0.2; exit 3'")
        .assert()
        .code(3);
}

#[test]
fn a_path_ending_in_slash_is_not_a_directory_as_flock_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    jlock(dir.path(), &["run", "file/", "true"])
        .assert()
        .code(74)
        .stderr(contains("file/").and(contains("Not a directory")));
    jlock(dir.path(), &["run", "missing/", "true"])
        .assert()
        .code(74)
        .stderr(contains("No such file or directory"));
    assert!(!dir.path().join("missing").exists());
}

#[test]
fn an_exclusive_holder_gets_a_fence_that_grows_with_each_acquisition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fence = |args: &[&str]| -> String {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-c", "echo \"${JLOCK_FENCE-none}\""]);
        let out = jlock(d, &all)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap().trim().to_string()
    };
    assert_eq!(fence(&["f.lock"]), "1");
    assert_eq!(fence(&["-o", "f.lock"]), "2");
    // A shared holder gets none; neither does a flock(1) holder bump it.
    assert_eq!(fence(&["-s", "f.lock"]), "none");
    let status = std::process::Command::new("/usr/bin/flock")
        .current_dir(d)
        .args(["f.lock", "true"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fence(&["f.lock"]), "3");
    assert_eq!(
        std::fs::read_to_string(d.join("f.lock")).unwrap(),
        "jlock-fence 00000000000000000003\n"
    );
    // A lock file with other content, or a directory: no fence, and nothing
    // written. An inherited JLOCK_FENCE is not passed on.
    std::fs::write(d.join("pid.lock"), "4242\n").unwrap();
    let out = jlock(
        d,
        &["run", "pid.lock", "-c", "echo \"${JLOCK_FENCE-none}\""],
    )
    .env("JLOCK_FENCE", "77")
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    assert_eq!(out, b"none\n");
    assert_eq!(
        std::fs::read_to_string(d.join("pid.lock")).unwrap(),
        "4242\n"
    );
    std::fs::create_dir(d.join("dir")).unwrap();
    assert_eq!(fence(&["dir"]), "none");
}
