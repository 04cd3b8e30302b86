//! The `jlock` binary on etcd:// targets, against real etcd servers each test starts on
//! 127.0.0.1: exclusion with exact counts, fences, kill -9 of jlock, lost locks (revoked
//! lease, deleted key, SIGSTOP past the TTL), an unreachable engine, queue hygiene after
//! -n/-w/an interrupt, semaphores, lossless documents, and status.
//!
//! Skipped (with a printed reason) when etcd is not installed, unless `JLOCK_REQUIRE_ETCD=1`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use jlock_etcd::local::LocalEtcd;

use crate::util::{jlock_bin, run_loops_together};

/// A bound for waits on conditions that must come (processes exiting, locks freeing):
/// exceeding it fails the test instead of hanging it. Not a timing assertion.
const BOUND: Duration = Duration::from_secs(60);

/// Starts a one-member etcd, or returns None (after printing why) when etcd is not
/// installed and `JLOCK_REQUIRE_ETCD` is not `1`.
fn start(test: &str) -> Option<LocalEtcd> {
    if !jlock_etcd::local::available_or_skip(test) {
        return None;
    }
    Some(LocalEtcd::start(1).unwrap_or_else(|e| panic!("{test}: {e}")))
}

fn jlock(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(jlock_bin());
    c.current_dir(dir).args(args);
    c
}

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = jlock(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "jlock {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `jlock status … TARGET` of a held lock (or a semaphore with every slot
/// held): its output, once the exit code said so (1; 0 means free).
fn status_held(dir: &Path, args: &[&str]) -> String {
    let out = jlock(dir, args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "jlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn output(dir: &Path, args: &[&str]) -> Output {
    jlock(dir, args).stdin(Stdio::null()).output().unwrap()
}

fn keys(e: &LocalEtcd, prefix: &str) -> Vec<String> {
    e.etcdctl(&["get", "--prefix", "--keys-only", prefix])
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn raw(e: &LocalEtcd, key: &str) -> String {
    e.etcdctl(&["get", "--print-value-only", key]).unwrap()
}

/// A `jlock run` whose command printed its first line (so it holds the lock).
struct Held {
    child: Child,
    _out: BufReader<ChildStdout>,
    first: String,
    stderr: std::path::PathBuf,
}

/// Starts `jlock run ARGS -c SCRIPT`; SCRIPT must print a line once it runs.
fn hold(dir: &Path, args: &[&str], script: &str) -> Held {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-c", script]);
    // stderr to a file: reading it never waits for a command that outlived jlock.
    let stderr = tempfile::NamedTempFile::new_in(dir)
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    let mut child = jlock(dir, &all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(
        !first.is_empty(),
        "jlock run {args:?} ended before its command ran"
    );
    Held {
        child,
        _out: out,
        first,
        stderr,
    }
}

impl Held {
    /// Waits (at most [`BOUND`]) for jlock; returns its exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > BOUND {
                let _ = self.child.kill();
                panic!("jlock did not exit within {BOUND:?}");
            }
            // Polling another process's exit, with a bound: nothing to wait on instead.
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        (status.code(), stderr)
    }
}

/// True once `pid` has exited (gone, or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Polls `cond` until it holds; panics after [`BOUND`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "{what}: not within {BOUND:?}");
        // Polling a condition in other processes: there is nothing to wait on.
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn incr_from_concurrent_processes_keeps_an_exact_count() {
    let Some(e) = start("incr_exact") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("count");
    run_loops_together(dir.path(), 4, |_| {
        format!("for i in $(seq 25); do \"$J\" incr -q {t} || exit 1; done")
    });
    assert_eq!(run_ok(dir.path(), &["get", &t]).trim(), "100");
    assert_eq!(raw(&e, "jlock/count/.doc").trim(), "100");
}

#[test]
fn run_excludes_across_processes_and_the_fence_grows() {
    let Some(e) = start("run_exclusion") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("n"), "0\n").unwrap();
    let t = e.target("rmw");
    // A read-modify-write of a local file that only the etcd lock keeps exact, and a log
    // of the fences in the order the holders ran.
    run_loops_together(dir.path(), 4, |_| {
        format!(
            "for i in $(seq 10); do \"$J\" run {t} -c 'n=$(cat n); echo $JLOCK_FENCE >> fences; echo $((n + 1)) > n' || exit 1; done"
        )
    });
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n"))
            .unwrap()
            .trim(),
        "40"
    );
    let fences: Vec<i64> = std::fs::read_to_string(dir.path().join("fences"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(fences.len(), 40);
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences not strictly increasing: {fences:?}"
    );
    assert!(
        keys(&e, "jlock/rmw/").is_empty(),
        "released locks left keys"
    );
}

#[test]
fn kill_9_of_jlock_kills_its_command_and_frees_the_lock_within_the_ttl() {
    let Some(e) = start("kill_9") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("k9");
    // The command (a shell) and a grandchild it started: both must die with jlock.
    let h = hold(
        dir.path(),
        &["--ttl", "2", &t],
        "sleep 600 & echo $$ $! > pids; echo held; wait",
    );
    let pids = pids_in(&dir.path().join("pids"));
    assert_eq!(pids.len(), 2);
    let jlock_pid = h.child.id();
    let mut child = h.child;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for pid in &pids {
        eventually(&format!("process {pid} killed with jlock"), || gone(*pid));
    }
    assert!(gone(jlock_pid));
    // The lease is no longer renewed: the lock frees within the TTL, and the next holder
    // gets it (waiting at most BOUND, so a lock that never frees fails the test).
    let out = run_ok(
        dir.path(),
        &["run", "-w", "60", &t, "-c", "echo $JLOCK_FENCE"],
    );
    assert!(out.trim().parse::<i64>().unwrap() > 0);
}

#[test]
fn a_revoked_lease_stops_the_command_with_the_loss_code() {
    let Some(e) = start("revoked") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("rv");
    let h = hold(
        dir.path(),
        &[&t],
        "sleep 600 & echo $! > pid; echo held; wait",
    );
    let status: serde_json::Value =
        serde_json::from_str(&status_held(dir.path(), &["status", "--json", &t])).unwrap();
    let lease = status["holders"][0]["lease"].as_str().unwrap().to_string();
    e.etcdctl(&["lease", "revoke", &lease]).unwrap();
    let (code, stderr) = h.finish();
    assert_eq!(code, Some(75), "{stderr}");
    assert!(stderr.contains("lost"), "{stderr}");
    let grandchild = pids_in(&dir.path().join("pid"))[0];
    eventually("the command's group stopped", || gone(grandchild));
}

#[test]
fn a_deleted_lock_key_stops_the_command_with_the_loss_code() {
    let Some(e) = start("deleted") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("dk");
    let h = hold(dir.path(), &[&t], "echo held; exec sleep 600");
    let before = keys(&e, "jlock/dk/.lock/");
    assert_eq!(before.len(), 1);
    e.etcdctl(&["del", &before[0]]).unwrap();
    let (code, stderr) = h.finish();
    assert_eq!(code, Some(75), "{stderr}");
    assert!(stderr.contains("its key was deleted"), "{stderr}");
}

#[test]
fn sigstop_past_the_ttl_lets_the_next_holder_in_and_stops_the_first_on_waking() {
    let Some(e) = start("sigstop") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("st");
    let first = hold(
        dir.path(),
        &["--ttl", "2", &t],
        "echo $JLOCK_FENCE; exec sleep 600",
    );
    let fence1: i64 = first.first.trim().parse().unwrap();
    let pid = first.child.id();
    assert!(Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    // The paused holder's lease expires; the next one proceeds, with a higher fence.
    let out = run_ok(
        dir.path(),
        &["run", "-w", "60", &t, "-c", "echo $JLOCK_FENCE"],
    );
    let fence2: i64 = out.trim().parse().unwrap();
    assert!(fence2 > fence1, "{fence2} after {fence1}");
    assert!(Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    // On waking, jlock finds its lock lost and stops its command.
    let (code, stderr) = first.finish();
    assert_eq!(code, Some(75), "{stderr}");
}

/// Waits (at most [`BOUND`]) for a child; kills it and fails if it runs on.
fn wait_bounded(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {BOUND:?}");
        }
        // Polling another process's exit, with a bound: nothing to wait on instead.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 15 C: a paused jlock (SIGSTOP of jlock alone, not of its command) cannot leave its
/// command running once its lease may have expired. The guard process kills the command's
/// group on its own clock at the lease's local deadline, so when the next holder gets the
/// lock and writes, the old command has stopped writing: in the shared log, no line of the
/// first command comes after the second holder's first line.
#[test]
fn a_paused_jlock_cannot_leave_its_command_running_past_its_lease() {
    let Some(e) = start("paused_holder") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = e.target("paused");
    let log = d.join("log");
    let a = hold(
        d,
        &["--ttl", "2", &t],
        "echo $$ > apid; echo held; while :; do echo \"A $JLOCK_FENCE\" >> log; sleep 0.01; done",
    );
    let a_shell = pids_in(&d.join("apid"))[0];
    let jlock_a = a.child.id();
    eventually("the first command writes", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.starts_with("A "))
    });
    assert!(Command::new("kill")
        .args(["-STOP", &jlock_a.to_string()])
        .status()
        .unwrap()
        .success());
    // The next holder waits for the paused holder's lease to expire, then writes its own
    // lines for a while.
    let mut b = jlock(
        d,
        &[
            "run",
            "-w",
            "60",
            &t,
            "-c",
            "i=0; while [ $i -lt 50 ]; do echo \"B $JLOCK_FENCE\" >> log; sleep 0.01; i=$((i + 1)); done",
        ],
    )
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let b_status = wait_bounded(&mut b, "the second jlock run");
    let during = std::fs::read_to_string(&log).unwrap();
    // Wake the first jlock before asserting, so a failure leaves nothing stopped behind.
    assert!(Command::new("kill")
        .args(["-CONT", &jlock_a.to_string()])
        .status()
        .unwrap()
        .success());
    let (code, stderr) = a.finish();
    eventually("the first command is gone", || gone(a_shell));
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(b_status.success(), "second holder: {b_status:?}");
    let lines: Vec<&str> = after.lines().collect();
    let first_b = lines
        .iter()
        .position(|l| l.starts_with("B "))
        .unwrap_or_else(|| panic!("the second holder wrote nothing:\n{after}"));
    let late: Vec<&str> = lines[first_b..]
        .iter()
        .copied()
        .filter(|l| l.starts_with("A "))
        .collect();
    assert!(
        late.is_empty(),
        "{} lines of the first command after the second holder's first line:\n{after}",
        late.len()
    );
    assert!(after.starts_with(&during), "the log was rewritten");
    assert!(first_b > 0, "the first command never wrote");
    // Fences: the second holder's is higher.
    let fence = |l: &str| l.split_whitespace().nth(1).unwrap().parse::<i64>().unwrap();
    assert!(fence(lines[first_b]) > fence(lines[0]), "{after}");
    // On waking, the first jlock finds its lock lost: the loss code.
    assert_eq!(code, Some(75), "{stderr}");
}

/// Sends `sig` (`STOP`, `CONT`) to a process.
fn kill(sig: &str, pid: u32) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// Runs jlock, bounded by [`BOUND`]; returns its output and how long it took.
fn timed(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = jlock(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(&mut child, &format!("jlock {args:?}"));
    let took = start.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 15 D: a member that hangs (SIGSTOP: it keeps accepting connections and never
/// answers) does not fail commands while the other two answer: every `incr` (from
/// concurrent processes) and a `run` that holds its lock across several keep-alives
/// succeed, and the count is exact.
#[test]
fn a_hung_member_fails_no_command_while_a_majority_answers() {
    if !jlock_etcd::local::available_or_skip("hung_member") {
        return;
    }
    let e = LocalEtcd::start(3).unwrap_or_else(|err| panic!("hung_member: {err}"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = e.target("hung");
    // The first member listed is the one stopped.
    let stopped = e.pids()[0];
    kill("STOP", stopped);
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for i in 0..10 {
        let (out, took) = timed(d, &["incr", &t, ".n"]);
        slowest = slowest.max(took);
        if !out.status.success() {
            failures.push(format!(
                "incr {i}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    // Held across a keep-alive (every TTL/3). The default TTL: the stopped member may be
    // the leader, and a lease outlives the next one's election only with a TTL longer than
    // the election.
    let (run, run_took) = timed(d, &["run", &t, "-c", "sleep 4; echo ran"]);
    // Concurrent writers too, each a process of its own.
    let loops = std::panic::catch_unwind(|| {
        run_loops_together(d, 3, |_| {
            format!("for i in $(seq 5); do \"$J\" incr -q {t} .n || exit 1; done")
        })
    });
    let (get, _) = timed(d, &["get", &t, ".n"]);
    kill("CONT", stopped);
    eprintln!("one member stopped: slowest incr {slowest:?}, run (4 s command) {run_took:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert_ok("run", &run);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "ran\n");
    assert!(loops.is_ok(), "concurrent incr failed");
    assert_ok("get", &get);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "25");
}

/// Issue 15 D: an endpoint that accepts connections and never answers, listed first,
/// beside a good member: `run` and `incr` go to the good one.
#[test]
fn a_black_hole_endpoint_listed_first_is_passed_over() {
    let Some(e) = start("black_hole") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    // Accepts every connection and keeps it open, never writing a byte. The thread ends
    // with the test process.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hole.accept() {
            held.push(conn);
        }
    });
    let t = format!("etcd://127.0.0.1:{hole_port},{}/hole", e.endpoints());
    for want in ["1", "2", "3"] {
        let (out, took) = timed(d, &["incr", &t, ".n"]);
        assert_ok("incr", &out);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
        eprintln!("black hole listed first: incr took {took:?}");
    }
    let (out, took) = timed(d, &["run", "--ttl", "2", &t, "-c", "sleep 2.5; echo ran"]);
    eprintln!("black hole listed first: run (2.5 s command) took {took:?}");
    assert_ok("run", &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(raw(&e, "jlock/hole/.doc").contains("\"n\": 3"));
}

#[test]
fn an_unreachable_engine_fails_with_69_naming_the_endpoints_and_runs_nothing() {
    if start("unreachable").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = format!("etcd://127.0.0.1:{port}/u");
    let out = output(
        dir.path(),
        &["run", "--connect-timeout", "0.5", &t, "-c", "touch ran"],
    );
    assert_eq!(out.status.code(), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!dir.path().join("ran").exists(), "the command ran");
    // -F cannot hand an etcd lock to the command: refused before connecting.
    let out = output(dir.path(), &["run", "-F", &t, "--", "true"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-F cannot be used"));
    for args in [vec!["incr"], vec!["get"], vec!["status"]] {
        let mut a = args.clone();
        a.extend_from_slice(&["--connect-timeout", "0.5", &t]);
        assert_eq!(output(dir.path(), &a).status.code(), Some(69), "{a:?}");
    }
}

#[test]
fn giving_up_leaves_no_queued_key() {
    let Some(e) = start("no_queue") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("q");
    let h = hold(dir.path(), &[&t], "echo held; exec sleep 600");
    let held = keys(&e, "jlock/q/");
    assert_eq!(held.len(), 1);
    assert_eq!(
        output(dir.path(), &["run", "-n", &t, "--", "true"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        output(dir.path(), &["run", "-n", "-E", "42", &t, "--", "true"])
            .status
            .code(),
        Some(42)
    );
    assert_eq!(
        output(dir.path(), &["run", "-w", "0.3", &t, "--", "true"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(keys(&e, "jlock/q/"), held);
    // A waiter interrupted by SIGTERM leaves the queue too.
    let mut waiter = jlock(dir.path(), &["run", &t, "--", "true"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the waiter queued", || keys(&e, "jlock/q/").len() == 2);
    assert!(Command::new("kill")
        .args(["-TERM", &waiter.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert_eq!(waiter.wait().unwrap().code(), Some(128 + 15));
    assert_eq!(keys(&e, "jlock/q/"), held);
    let mut child = h.child;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn slots_let_n_commands_run_at_once() {
    let Some(e) = start("slots") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("pool");
    let a = hold(
        dir.path(),
        &["--slots", "2", &t],
        "echo $JLOCK_SLOT; exec sleep 600",
    );
    let b = hold(
        dir.path(),
        &["--slots", "2", &t],
        "echo $JLOCK_SLOT; exec sleep 600",
    );
    let mut slots = [a.first.trim().to_string(), b.first.trim().to_string()];
    slots.sort();
    assert_eq!(slots, ["0", "1"]);
    assert_eq!(
        output(dir.path(), &["run", "-n", "--slots", "2", &t, "--", "true"])
            .status
            .code(),
        Some(1)
    );
    let status: serde_json::Value =
        serde_json::from_str(&status_held(dir.path(), &["status", "--json", &t])).unwrap();
    assert_eq!(status["slots"]["holders"].as_array().unwrap().len(), 2);
    for h in [a, b] {
        let mut c = h.child;
        c.kill().unwrap();
        c.wait().unwrap();
    }
    run_ok(
        dir.path(),
        &["run", "-w", "60", "--slots", "2", &t, "--", "true"],
    );
}

/// `jlock rev` and `--if-rev` on etcd: the same tokens as for a file (of the
/// same bytes), a stale one exits 4 and writes nothing, and `patch` too.
#[test]
fn rev_and_if_rev_and_patch_work_on_etcd() {
    let Some(e) = start("rev") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = e.target("rev");
    let none = run_ok(d, &["rev", &t]).trim().to_string();
    assert_eq!(none, run_ok(d, &["rev", "missing.json"]).trim());
    run_ok(d, &["set", "--if-rev", &none, &t, ".n", "1"]);
    let r1 = run_ok(d, &["rev", &t]).trim().to_string();
    let before = raw(&e, "jlock/rev/.doc");
    let stale = output(d, &["incr", "--if-rev", &none, &t, ".n"]);
    assert_eq!(
        stale.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    assert_eq!(raw(&e, "jlock/rev/.doc"), before);
    assert_eq!(run_ok(d, &["incr", "--if-rev", &r1, &t, ".n"]).trim(), "2");
    let out = std::process::Command::new(crate::util::jlock_bin())
        .current_dir(d)
        .args(["patch", &t])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(br#"[{"op": "test", "path": "/n", "value": 2}, {"op": "add", "path": "/m", "value": 1E2}]"#)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(raw(&e, "jlock/rev/.doc").contains("\"m\": 1E2"));
}

#[test]
fn documents_on_etcd_are_lossless_and_incr_is_exact() {
    let Some(e) = start("lossless") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("doc");
    // A missing document is an error for get, as a missing file is (66);
    // --default stands in for it.
    let out = output(dir.path(), &["get", &t]);
    assert_eq!(out.status.code(), Some(66));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(": no such key"),
        "{out:?}"
    );
    assert_eq!(
        run_ok(dir.path(), &["get", "--default", "null", &t]).trim(),
        "null"
    );
    assert!(keys(&e, "jlock/doc/").is_empty(), "get wrote a key");
    let original = "{ \"a\":1.50 ,\t\"b\" : [1,2],  \"big\": 12345678901234567890123 }";
    e.etcdctl(&["put", "jlock/doc/.doc", original]).unwrap();
    run_ok(dir.path(), &["set", &t, ".c", "true"]);
    let with_c = raw(&e, "jlock/doc/.doc");
    assert!(
        with_c.starts_with("{ \"a\":1.50 ,\t\"b\" : [1,2],"),
        "{with_c}"
    );
    run_ok(dir.path(), &["del", &t, ".c"]);
    assert_eq!(raw(&e, "jlock/doc/.doc").trim_end_matches('\n'), original);
    // Exact arithmetic on the numbers as written.
    assert_eq!(
        run_ok(dir.path(), &["incr", &t, ".big"]).trim(),
        "12345678901234567890124"
    );
    for _ in 0..10 {
        run_ok(dir.path(), &["incr", &t, ".f", "--by", "0.1"]);
    }
    assert_eq!(run_ok(dir.path(), &["get", &t, ".f"]).trim(), "1");
    assert_eq!(run_ok(dir.path(), &["get", &t, ".a"]).trim(), "1.50");
    // An update that changes nothing writes nothing (same revision).
    let rev = |dir: &Path| {
        let s: serde_json::Value =
            serde_json::from_str(&run_ok(dir, &["status", "--json", &t])).unwrap();
        s["document"]["revision"].as_i64().unwrap()
    };
    let before = rev(dir.path());
    run_ok(dir.path(), &["update", &t, "--", "cat"]);
    assert_eq!(rev(dir.path()), before);
    // A wrong type is bad data, and nothing is written.
    assert_eq!(
        output(dir.path(), &["incr", &t, ".b"]).status.code(),
        Some(65)
    );
    assert_eq!(rev(dir.path()), before);
    // Over etcd's request limit: refused, nothing written.
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(2 << 20));
    std::fs::write(dir.path().join("big.json"), big).unwrap();
    let out = output(dir.path(), &["update", &t, "--", "cat", "big.json"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("request limit"));
    assert_eq!(rev(dir.path()), before);
}

#[test]
fn status_says_who_holds_since_when_with_which_fence_and_who_waits() {
    let Some(e) = start("status") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("st");
    // Free: exit 0, and `-q` prints nothing; nothing of NAME exists yet.
    let free = jlock(dir.path(), &["-q", "status", &t]).output().unwrap();
    assert_eq!((free.status.code(), free.stdout.len()), (Some(0), 0));
    let v: serde_json::Value =
        serde_json::from_str(&run_ok(dir.path(), &["status", "--json", &t])).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["exists"].as_bool()),
        (Some("free"), Some(false))
    );
    let h = hold(
        dir.path(),
        &["--ttl", "2", &t],
        "echo $JLOCK_FENCE; exec sleep 600",
    );
    let fence: i64 = h.first.trim().parse().unwrap();
    let mut waiter = jlock(dir.path(), &["run", "-s", &t, "--", "true"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the waiter queued", || {
        keys(&e, "jlock/st/.lock/").len() == 2
    });
    let text = status_held(dir.path(), &["status", &t]);
    assert_eq!(status_held(dir.path(), &["-q", "status", &t]), "");
    assert!(
        text.contains(&format!("{t} (lock): held exclusive by")),
        "{text}"
    );
    assert!(text.contains(&format!("pid {}", h.child.id())), "{text}");
    assert!(text.contains("echo $JLOCK_FENCE; exec sleep 600"), "{text}");
    assert!(text.contains(&format!("fence {fence}")), "{text}");
    assert!(text.contains("since "), "{text}");
    assert!(text.contains("waiting for it:"), "{text}");
    assert!(text.contains(&format!("pid {}", waiter.id())), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&status_held(dir.path(), &["status", "--json", &t])).unwrap();
    assert_eq!(v["state"], "exclusive");
    assert_eq!(v["holders"][0]["pid"], h.child.id());
    assert_eq!(v["holders"][0]["fence"], fence);
    assert_eq!(v["holders"][0]["mode"], "exclusive");
    assert_eq!(v["waiters"][0]["pid"], waiter.id());
    assert_eq!(v["waiters"][0]["mode"], "shared");
    assert!(v["document"].is_null());
    let mut child = h.child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(waiter.wait().unwrap().success());
}

/// `etcds://` reaches a cluster that serves clients over TLS only and checks client
/// certificates: with the CA and a client certificate, data commands and `run` work;
/// without the CA option it is a usage error; with no client certificate, the wrong CA, or
/// plain `etcd://` to the TLS port, the engine is unreachable (69) and nothing runs; TLS
/// options on a plain target or a file are refused.
#[cfg(feature = "etcd-tls")]
#[test]
fn etcds_targets_reach_a_tls_cluster_and_check_certificates() {
    let test = "etcds_targets_reach_a_tls_cluster_and_check_certificates";
    if !jlock_etcd::local::available_or_skip(test) {
        return;
    }
    let e = LocalEtcd::start_tls().unwrap_or_else(|err| panic!("{test}: {err}"));
    let certs = e.tls.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = e.target("tls");
    assert!(t.starts_with("etcds://127.0.0.1:"), "{t}");
    let tls = certs.client_args();
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.splice(1..1, tls.iter().cloned());
        v
    };
    let call = |v: Vec<String>| output(d, &v.iter().map(String::as_str).collect::<Vec<_>>());
    for want in ["1\n", "2\n"] {
        let out = call(with(&["incr", &t, ".n"]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
    assert!(raw(&e, "jlock/tls/.doc").contains("\"n\": 2"));
    for args in [
        &["set", &t, ".s", "1E2"][..],
        &["del", &t, ".s"],
        &["update", &t, "--", "cat"],
        &["get", &t, ".n"],
        &["status", &t],
    ] {
        let out = call(with(args));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = call(with(&[
        "run",
        &t,
        "--",
        "sh",
        "-c",
        "echo fence=$JLOCK_FENCE",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("fence="));

    // No CA: a usage error that says which option is missing.
    let out = output(d, &["get", &t, ".n"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cacert"));
    // The CA but no client certificate: the server refuses the handshake.
    let ca = format!("--cacert={}", certs.ca.display());
    let marker = d.join("ran");
    let touch = format!("touch {}", marker.display());
    let unreachable = |out: Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(69), "{err}");
    };
    let run_touch = |target: &str, extra: &[&str]| {
        let mut args = vec!["run", "--connect-timeout", "2"];
        args.extend(extra);
        args.extend([target, "--", "sh", "-c", &touch]);
        output(d, &args)
    };
    unreachable(run_touch(&t, &[&ca]));
    // Another CA: the server's certificate is not trusted.
    let other = tempfile::tempdir().unwrap();
    let other_ca = jlock_etcd::local::TestCerts::make(other.path()).unwrap().ca;
    let mut wrong = tls.clone();
    wrong[0] = format!("--cacert={}", other_ca.display());
    let mut args = vec!["get".to_string(), "--connect-timeout".into(), "2".into()];
    args.extend(wrong);
    args.extend([t.clone(), ".n".into()]);
    unreachable(call(args));
    // Plain etcd:// to the TLS port.
    let plain = t.replacen("etcds://", "etcd://", 1);
    unreachable(run_touch(&plain, &[]));
    assert!(!marker.exists(), "a command ran without its lock");
    // TLS options where they mean nothing.
    let out = call(with(&["get", &plain, ".n"]));
    assert_eq!(out.status.code(), Some(64));
    let out = output(d, &["run", &ca, "f.lock", "true"]);
    assert_eq!(out.status.code(), Some(64));
}

/// Built without `etcd-tls`, an `etcds://` target is refused at once with a usage error
/// that says how to get TLS.
#[cfg(not(feature = "etcd-tls"))]
#[test]
fn etcds_targets_need_the_tls_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path(), &["get", "etcds://127.0.0.1:1/x", "."]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("etcd-tls"));
}

/// The etcd options are refused on local files, where they would mean nothing (64),
/// and nothing is created.
#[test]
fn etcd_options_are_refused_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["get", "--connect-timeout", "1", "f.json"][..],
        &["incr", "--connect-timeout", "1", "f.json"],
        &["status", "--connect-timeout", "1", "f.json"],
        &["run", "--connect-timeout", "1", "f.lock", "true"],
        &["run", "--ttl", "5", "f.lock", "true"],
    ] {
        let out = output(d, args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("etcd://"),
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
}
