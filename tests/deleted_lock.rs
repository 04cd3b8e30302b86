//! A lock file deleted or replaced while it is held must not let two
//! processes in at once (issue 15 A): `rm *.lock`, a tmp cleaner, a user
//! tidying a shared directory. Real processes, a real deleting loop beside
//! them; the checks count lost updates and overlapping critical sections.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::run_loops_together;

/// A shell loop that deletes (or replaces) `victim` every 10 ms until the
/// file `stop` appears — or, bounding it, 3,000 rounds (30 s) pass.
struct Vandal(Child);

impl Vandal {
    fn start(dir: &Path, victim: &str, replace: bool) -> Vandal {
        let act = if replace {
            // A new inode under the old name, as `mv` or an editor's save makes.
            format!(": > {victim}.new && mv -f {victim}.new {victim}")
        } else {
            format!("rm -f {victim}")
        };
        let script = format!(
            "n=0; while [ ! -e stop ] && [ $n -lt 3000 ]; do {act}; sleep 0.01; n=$((n+1)); done"
        );
        let child = Command::new("/bin/sh")
            .current_dir(dir)
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the deleting loop");
        Vandal(child)
    }

    fn stop(mut self, dir: &Path) {
        std::fs::write(dir.join("stop"), "").unwrap();
        self.0.wait().expect("wait for the deleting loop");
    }
}

/// 4 writers × 250 `jlock incr` while the sidecar lock file keeps being
/// deleted or replaced: every increment acknowledged is in the file, each
/// value printed once.
fn incr_storm(durability: &str, replace: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("d.json"), "{\"c\": 0}\n").unwrap();
    let vandal = Vandal::start(d, "d.json.lock", replace);
    run_loops_together(d, 4, |_| {
        format!(
            "i=0; while [ $i -lt 250 ]; do \"$J\" incr --durability {durability} d.json .c \
             >> acks.$I; i=$((i+1)); done"
        )
    });
    vandal.stop(d);
    let mut acks = Vec::new();
    for i in 0..4 {
        let text = std::fs::read_to_string(d.join(format!("acks.{i}"))).unwrap();
        acks.extend(text.lines().map(|l| l.parse::<u64>().expect("a number")));
    }
    let distinct: HashSet<u64> = acks.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        acks.len(),
        "{} of {} values handed out twice",
        acks.len() - distinct.len(),
        acks.len()
    );
    assert_eq!(acks.len(), 1000, "every incr acknowledged");
    let out = Command::new(crate::util::jlock_bin())
        .current_dir(d)
        .args(["get", "d.json", ".c"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000");
    // No temporary file left behind by writers that shared a name.
    let left: Vec<String> = crate::util::entries(d)
        .into_iter()
        .filter(|n| n.contains("jlock-tmp"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn incr_loses_nothing_while_the_lock_file_is_deleted_rename_mode() {
    incr_storm("rename", false);
}

#[test]
fn incr_loses_nothing_while_the_lock_file_is_deleted_journal_mode() {
    incr_storm("journal", false);
}

#[test]
fn incr_loses_nothing_while_the_lock_file_is_replaced() {
    incr_storm("rename", true);
}

/// 4 loops × 60 `jlock run` of a critical section that detects an overlap
/// (mkdir is atomic: a second process inside finds the directory there),
/// while the lock file keeps being deleted or replaced.
fn run_storm(replace: bool, slots: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (victim, opts) = if slots {
        ("L.slot0", "--slots 1")
    } else {
        ("L", "")
    };
    let vandal = Vandal::start(d, victim, replace);
    run_loops_together(d, 4, |_| {
        format!(
            "i=0; while [ $i -lt 60 ]; do \"$J\" run {opts} L -c '
                 mkdir inside.d 2>/dev/null || echo overlap >> overlaps
                 echo x >> sections
                 k=0; while [ $k -lt 300 ]; do k=$((k+1)); done
                 rmdir inside.d 2>/dev/null || echo overlap >> overlaps
                 :
             ' || exit 1; i=$((i+1)); done"
        )
    });
    vandal.stop(d);
    let sections = std::fs::read_to_string(d.join("sections")).unwrap();
    assert_eq!(sections.lines().count(), 240);
    let overlaps = std::fs::read_to_string(d.join("overlaps")).unwrap_or_default();
    let n = overlaps.lines().count();
    let how = if replace { "replaced" } else { "deleted" };
    assert_eq!(
        n, 0,
        "{n} overlaps in 240 critical sections while the lock file was {how}"
    );
}

#[test]
fn run_excludes_while_the_lock_file_is_deleted() {
    run_storm(false, false);
}

#[test]
fn run_excludes_while_the_lock_file_is_replaced() {
    run_storm(true, false);
}

#[test]
fn slots_exclude_while_a_slot_file_is_deleted() {
    run_storm(false, true);
}
