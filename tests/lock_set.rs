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
