//! `jlock run --fair` (issue 18 B): waiters get the lock (or a slot) in the
//! order they started waiting; a killed waiter leaves the queue; flock(1)
//! still excludes and is excluded; a timed-out waiter leaves no place; a
//! planted queue directory is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{entries, jlock, jlock_bin, test_process, Holder, Watchdog};

/// How long any one condition in these tests may take to come true.
const BOUND: Duration = Duration::from_secs(60);

/// Polls `what` (a cheap look at the queue directory or the kernel) until
/// it holds, failing after [`BOUND`].
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The number of places in `L.queue/` of `dir`.
fn places(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("L.queue"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `jlock run ARGS -c SCRIPT` in `dir`, as a test process.
fn spawn_run(dir: &Path, args: &[&str], script: &str) -> (Child, Watchdog) {
    let child = test_process(Command::new(jlock_bin()).current_dir(dir))
        .arg("run")
        .args(args)
        .args(["-c", script])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn jlock run");
    let dog = Watchdog::new(child.id());
    (child, dog)
}

/// Starts `n` waiters running `script(i)` under `args`, each only once the
/// one before is visibly queued (its place exists): `before` places exist
/// when the first starts.
fn queue_up(
    dir: &Path,
    args: &[&str],
    n: usize,
    before: usize,
    script: impl Fn(usize) -> String,
) -> Vec<(Child, Watchdog)> {
    let mut waiters = Vec::new();
    for i in 0..n {
        waiters.push(spawn_run(dir, args, &script(i)));
        until(&format!("waiter {i} to queue"), || {
            places(dir) == before + i + 1
        });
    }
    waiters
}

fn finish(waiters: Vec<(Child, Watchdog)>) {
    for (i, (mut c, _dog)) in waiters.into_iter().enumerate() {
        let status = c.wait().expect("wait");
        assert!(status.success(), "waiter {i}: {status}");
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn eight_waiters_get_the_lock_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    let waiters = queue_up(d, &["--fair", "L"], 8, 1, |i| format!("echo {i} >> order"));
    holder.release();
    finish(waiters);
    let want: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    assert_eq!(lines(&d.join("order")), want);
    // Every place was given up (the last one out swept what was left).
    until("the queue to empty", || places(d) == 0);
}

#[test]
fn with_two_slots_a_waiter_starts_only_when_at_most_one_before_it_is_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["--slots", "2", "--fair", "L"];
    let first = Holder::jlock_run(d, &args);
    let second = Holder::jlock_run(d, &args);
    let waiters = queue_up(d, &args, 8, 2, |i| {
        format!("echo start {i} >> log; echo end {i} >> log")
    });
    first.release();
    second.release();
    finish(waiters);
    let log = lines(&d.join("log"));
    let at = |what: String| {
        log.iter()
            .position(|l| *l == what)
            .unwrap_or_else(|| panic!("{what} missing from {log:?}"))
    };
    // Two slots: when waiter k starts, fewer than 2 of the waiters before
    // it may still be unfinished (it took a slot once fewer than 2 of
    // those ahead were left).
    for k in 1..8 {
        let unfinished: Vec<usize> = (0..k)
            .filter(|&i| at(format!("end {i}")) > at(format!("start {k}")))
            .collect();
        assert!(
            unfinished.len() < 2,
            "waiter {k} started while {unfinished:?} were unfinished: {log:?}"
        );
    }
}

#[test]
fn a_waiter_killed_while_queued_does_not_block_the_rest_and_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    let mut waiters = queue_up(d, &["--fair", "L"], 5, 1, |i| format!("echo {i} >> order"));
    let (mut killed, _dog) = waiters.remove(2);
    // SAFETY: kill(2) of a process this test started.
    assert_eq!(unsafe { libc::kill(killed.id() as i32, libc::SIGKILL) }, 0);
    killed.wait().unwrap();
    holder.release();
    finish(waiters);
    assert_eq!(lines(&d.join("order")), ["0", "1", "3", "4"]);
    until("the killed waiter's place to be removed", || places(d) == 0);
}

#[test]
fn flock1_and_a_fair_holder_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flock = Holder::start(d, Path::new("flock"), &["L", "-c", "echo held; read x"]);
    jlock(d, &["run", "--fair", "-n", "L", "--", "true"])
        .assert()
        .code(1);
    // It left the queue.
    assert_eq!(places(d), 0);
    flock.release();
    let fair = Holder::jlock_run(d, &["--fair", "L"]);
    let out = Command::new("flock")
        .current_dir(d)
        .args(["-n", "L", "true"])
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    fair.release();
}

#[test]
fn a_timed_out_waiter_leaves_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    jlock(d, &["run", "--fair", "-w", "0.2", "L", "--", "true"])
        .assert()
        .code(1);
    assert_eq!(places(d), 1, "{:?}", entries(&d.join("L.queue")));
    holder.release();
}

#[test]
fn shared_waiters_behind_a_holder_are_admitted_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    // Each, once in, waits (bounded) for the other two to be in as well:
    // possible only if all three hold the shared lock at once.
    let script = |i: usize| {
        format!(
            "touch in{i}; n=0; while [ $(ls | grep -c '^in') -lt 3 ]; do \
             n=$((n+1)); [ $n -gt 6000 ] && exit 9; sleep 0.01; done"
        )
    };
    let waiters = queue_up(d, &["-s", "--fair", "L"], 3, 1, script);
    holder.release();
    finish(waiters);
}

#[test]
fn fair_with_several_locks_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["run", "--fair", "A", "B", "--", "true"])
        .assert()
        .code(64);
}

#[test]
fn status_shows_the_fair_queue_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    let waiters = queue_up(d, &["-s", "--fair", "L"], 1, 1, |_| "true".into());
    let out = jlock(d, &["status", "--json", "L"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let queue = v["fair_queue"].as_array().expect("fair_queue");
    let modes: Vec<&str> = queue.iter().map(|w| w["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["exclusive", "shared"]);
    assert_eq!(queue[0]["pid"], holder.child.id());
    let text = jlock(d, &["status", "L"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("fair queue"), "{text}");
    holder.release();
    finish(waiters);
}

#[test]
fn a_queue_directory_planted_as_a_symlink_is_refused() {
    let Some(user) = crate::trust::other_user() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = dir.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::lchown(&theirs, Some(user.0), Some(user.1)).unwrap();
    let queue = shared.join("L.queue");
    std::os::unix::fs::symlink(&theirs, &queue).unwrap();
    std::os::unix::fs::lchown(&queue, Some(user.0), Some(user.1)).unwrap();
    let out = jlock(&shared, &["run", "--fair", "L", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("L.queue") && err.contains("symlink"), "{err}");
    assert!(entries(&theirs).is_empty(), "written through the link");
}

/// The test that tells fair from the kernel's order: when an exclusive
/// holder lets go, the kernel admits every blocked shared waiter at once,
/// ahead of the exclusive ones queued between them (measured: without
/// --fair, shared 0, 2 and 4 ran before exclusive 1). With --fair, a shared
/// waiter waits for every exclusive one that came before it.
#[test]
fn mixed_shared_and_exclusive_waiters_keep_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    let mut waiters = Vec::new();
    for i in 0..6 {
        let mode = if i % 2 == 0 { "-s" } else { "-x" };
        // The pause only widens the window a barging waiter would use.
        let script = format!("echo start {i} >> log; sleep 0.05; echo end {i} >> log");
        waiters.push(spawn_run(d, &[mode, "--fair", "L"], &script));
        until(&format!("waiter {i} to queue"), || places(d) == i + 2);
    }
    holder.release();
    finish(waiters);
    let log = lines(&d.join("log"));
    let at = |what: String| {
        log.iter()
            .position(|l| *l == what)
            .unwrap_or_else(|| panic!("{what} missing from {log:?}"))
    };
    for later in 0..6 {
        for earlier in 0..later {
            // Any exclusive one among the two: the earlier ends first.
            if earlier % 2 == 1 || later % 2 == 1 {
                assert!(
                    at(format!("end {earlier}")) < at(format!("start {later}")),
                    "{later} started before {earlier} ended: {log:?}"
                );
            }
        }
    }
}

/// `jlock run ARGS -c SCRIPT` in `dir` as the user `(uid, gid)`.
fn spawn_run_as(dir: &Path, user: (u32, u32), args: &[&str], script: &str) -> (Child, Watchdog) {
    use std::os::unix::process::CommandExt;
    let child = test_process(Command::new(jlock_bin()).current_dir(dir))
        .uid(user.0)
        .gid(user.1)
        .env_remove("HOME")
        .arg("run")
        .args(args)
        .args(["-c", script])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn jlock run");
    let dog = Watchdog::new(child.id());
    (child, dog)
}

/// Several users on one fair queue (its directory sticky, so each may
/// remove only their own places): another user's dead place, or a file
/// planted there that this user cannot read, holds no one up.
#[test]
fn other_users_dead_or_unreadable_places_hold_no_one_up() {
    let Some(tester) = crate::trust::other_user() else {
        return;
    };
    // A third user, with no passwd entry: uids are all the kernel needs.
    let third = (54321, 54321);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Root holds the lock; its queue directory is root's, sticky.
    let holder = Holder::jlock_run(d, &["--fair", "L"]);
    let mode = std::fs::metadata(d.join("L.queue"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1777, "a 0644 lock's queue is open to all");
    // The tester queues, and is killed there: a dead place only it (or
    // root) may remove.
    let (mut killed, _dog) = spawn_run_as(d, tester, &["--fair", "L"], "true");
    until("the tester to queue", || places(d) == 2);
    // SAFETY: kill(2) of a process this test started.
    assert_eq!(unsafe { libc::kill(killed.id() as i32, libc::SIGKILL) }, 0);
    killed.wait().unwrap();
    // The tester plants an unreadable "place" too.
    let planted = d.join("L.queue/00000000000000000099");
    let (mut plant, _pdog) = {
        use std::os::unix::process::CommandExt;
        let child = test_process(
            Command::new("sh")
                .args(["-c", &format!("umask 077; echo x > {}", planted.display())])
                .uid(tester.0)
                .gid(tester.1),
        )
        .spawn()
        .unwrap();
        let dog = Watchdog::new(child.id());
        (child, dog)
    };
    assert!(plant.wait().unwrap().success());
    // The third user waits behind root's holder only, not behind the dead
    // place nor the planted file (neither of which it may remove).
    let (mut third_run, _tdog) = spawn_run_as(d, third, &["--fair", "-w", "120", "L"], "true");
    until("the third user to queue", || places(d) == 4);
    assert!(
        third_run.try_wait().unwrap().is_none(),
        "ran while root held the lock"
    );
    holder.release();
    assert!(third_run.wait().unwrap().success());
    // A private (0600) lock's queue is its owner's alone.
    std::fs::write(d.join("P"), "").unwrap();
    std::fs::set_permissions(d.join("P"), std::fs::Permissions::from_mode(0o600)).unwrap();
    jlock(d, &["run", "--fair", "P", "--", "true"])
        .assert()
        .success();
    let mode = std::fs::metadata(d.join("P.queue"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1700);
}
