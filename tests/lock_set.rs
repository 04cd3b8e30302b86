//! `jlock run A B C -- CMD`: several locks at once, all or none, in one order — real processes taking random permutations of overlapping locks never deadlock and never overlap, and a set that cannot be had holds nothing.

use std::fs;

use crate::util::{jlock, run_loops_together, Holder};

/// 12 processes × 10 iterations, each taking 3 of 5 locks in a random
/// order: every one finishes (a deadlock would be stopped by the watchdog
/// and fail the test), and no lock's critical section ever overlaps
/// another's (each holder makes `in.L` with mkdir, which fails if it exists).
#[test]
fn random_permutations_of_overlapping_locks_never_deadlock_or_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_loops_together(d, 12, |_| {
        r#"i=0; while [ $i -lt 10 ]; do
             set -- $(shuf -n 3 -e L0 L1 L2 L3 L4)
             "$J" run "$1" "$2" "$3" -- sh -c '
               for l in "$@"; do mkdir "in.$l" 2>/dev/null || echo "$l" >> overlaps; done
               for l in "$@"; do rmdir "in.$l" 2>/dev/null; done
               echo x >> done' sh "$1" "$2" "$3" || exit 1
             i=$((i + 1))
           done"#
            .to_string()
    });
    assert!(
        !d.join("overlaps").exists(),
        "{:?}",
        fs::read_to_string(d.join("overlaps"))
    );
    assert_eq!(
        fs::read_to_string(d.join("done")).unwrap().lines().count(),
        120
    );
}

/// A set with one lock held elsewhere is not taken at all: `-n` fails at
/// once, `-w` when its one deadline passes, and in both cases the other
/// locks are free afterwards (util-linux flock(1) can take them).
#[test]
fn a_set_that_cannot_be_had_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = Holder::jlock_run(d, &["B"]);
    for wait in [&["-n"][..], &["-w", "0.2"], &["-E", "7", "-n"]] {
        let mut args = vec!["run"];
        args.extend_from_slice(wait);
        args.extend_from_slice(&["A", "B", "C", "--", "touch", "ran"]);
        let code = if wait.contains(&"-E") { 7 } else { 1 };
        jlock(d, &args).assert().code(code);
        assert!(!d.join("ran").exists());
        for free in ["A", "C"] {
            let ok = std::process::Command::new("flock")
                .current_dir(d)
                .args(["-n", free, "true"])
                .status()
                .unwrap();
            assert!(ok.success(), "{free} was left locked after {wait:?}");
        }
    }
    b.release();
    jlock(d, &["run", "A", "B", "C", "--", "touch", "ran"])
        .assert()
        .success();
    assert!(d.join("ran").exists());
}

/// `-s` applies to every lock of the set; one file named twice (or through
/// a symlink) is one lock; a command's own `--` after a single lock and
/// `--` stays the command's.
#[test]
fn shared_sets_duplicates_and_the_commands_own_separator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = Holder::jlock_run(d, &["-s", "A"]);
    jlock(d, &["run", "-n", "-s", "A", "B", "--", "true"])
        .assert()
        .success();
    jlock(d, &["run", "-n", "A", "B", "--", "true"])
        .assert()
        .code(1);
    s.release();
    std::os::unix::fs::symlink("A", d.join("also-A")).unwrap();
    jlock(d, &["run", "-n", "A", "also-A", "A", "--", "true"])
        .assert()
        .success();
    jlock(d, &["run", "A", "--", "echo", "--", "x"])
        .assert()
        .success()
        .stdout("-- x\n");
    jlock(
        d,
        &["run", "A", "B", "--", "sh", "-c", "[ -n \"$JLOCK_FENCE\" ]"],
    )
    .assert()
    .success();
    // A set of files and an etcd:// name, or --slots with a set: refused.
    jlock(d, &["run", "--slots", "2", "A", "B", "--", "true"])
        .assert()
        .code(64);
}

/// The number of waiters `jlock status` lists for `lock`, once it is at
/// least `n` (bounded).
fn await_waiters(dir: &std::path::Path, lock: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = jlock(dir, &["status", "--json", lock]).output().unwrap();
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if s["waiters"].as_array().is_some_and(|w| w.len() >= n) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not {n} waiters on {lock}: {s}"
        );
    }
}

/// A lock file replaced while a set waits for it (found by an adversarial
/// pass): the set that took the new inode, which sorts elsewhere, gives
/// everything back and orders itself again, instead of holding A and
/// waiting for B while another set holds B and waits for A.
#[test]
fn a_lock_file_replaced_while_a_set_waits_does_not_deadlock_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Files whose inodes order them: A's first inode < B's < A's second.
    let mut files: Vec<(u64, std::path::PathBuf)> = (0..20)
        .map(|k| {
            let p = d.join(format!("f{k}"));
            fs::write(&p, "").unwrap();
            (fs::metadata(&p).unwrap().ino(), p)
        })
        .collect();
    files.sort();
    fs::rename(&files[0].1, d.join("A")).unwrap();
    fs::rename(&files[10].1, d.join("B")).unwrap();
    let later_a = files[19].1.clone();
    let flock = std::path::Path::new("/usr/bin/flock");
    let first = Holder::start(d, flock, &["A", "sh", "-c", "echo held; read x"]);
    let run = |name: &str| {
        crate::util::test_process(
            std::process::Command::new(crate::util::jlock_bin())
                .current_dir(d)
                .args(["run", "-w", "30", "A", "B", "--", "sh", "-c"])
                .arg(format!("echo {name} >> ran")),
        )
        .spawn()
        .unwrap()
    };
    let mut p1 = run("p1");
    let _w1 = crate::util::Watchdog::new(p1.id());
    await_waiters(d, "A", 1); // p1 waits for A's first inode
    fs::rename(&later_a, d.join("A")).unwrap();
    let second = Holder::start(d, flock, &["A", "sh", "-c", "echo held; read x"]);
    first.release(); // p1 gets the old inode, finds A replaced, waits for the new one
    await_waiters(d, "A", 1);
    let mut p2 = run("p2"); // orders B before the new A: takes B, waits for A
    let _w2 = crate::util::Watchdog::new(p2.id());
    await_waiters(d, "A", 2);
    second.release();
    for p in [&mut p1, &mut p2] {
        assert!(
            p.wait().unwrap().success(),
            "a set gave up (deadlocked until -w)"
        );
    }
    assert_eq!(
        fs::read_to_string(d.join("ran")).unwrap().lines().count(),
        2
    );
}
