//! Processes really killed with SIGKILL: locks are freed by the kernel, and
//! a writer killed at any moment leaves a whole document behind.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{entries, jlock, jlock_bin, Holder};

#[test]
fn killed_run_keeps_the_lock_while_its_command_lives_then_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Holder::start(
        dir.path(),
        &jlock_bin(),
        &[
            "run",
            "job.lock",
            "-c",
            "echo held; echo $$; exec sleep 1000",
        ],
    );
    let mut pid_line = String::new();
    holder.stdout.read_line(&mut pid_line).unwrap();
    let command_pid: i32 = pid_line.trim().parse().unwrap();

    // SIGKILL jlock itself: its command still holds the inherited lock.
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    jlock(dir.path(), &["run", "-n", "job.lock", "true"])
        .assert()
        .code(1);

    // A waiter queues up; SIGKILL the command; the kernel frees the lock
    // and the waiter gets it.
    let waiter = Command::new(jlock_bin())
        .current_dir(dir.path())
        .args(["run", "-w", "60", "job.lock", "--", "echo", "got it"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // SAFETY: kill(2) with a pid we were told and a constant signal.
    assert_eq!(unsafe { libc::kill(command_pid, libc::SIGKILL) }, 0);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "waiter: {:?}", out.status);
    assert_eq!(out.stdout, b"got it\n");
}

#[test]
fn data_writers_killed_at_random_moments_leave_a_whole_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    // More than a page, so a write is not a single page copy.
    let pad = "x".repeat(9000);
    jlock(
        dir.path(),
        &["set", "c.json", ".pad", &format!("\"{pad}\"")],
    )
    .assert()
    .success();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill-timing seed: {seed}");
    let mut last = 0;
    let mut killed_mid_run = 0;
    for round in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let durability = ["rename", "fsync", "journal"][round % 3];
        let mut child = Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["incr", "c.json", ".n", "--durability", durability])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(seed % 4000));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        // Read as any jlock reader does, under the lock (which also sees
        // through a journal record a killed fast-mode writer left).
        let out = jlock(dir.path(), &["get", "c.json"]).output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("round {round}: torn document after kill: {e}"));
        let n = doc["n"].as_i64().unwrap_or(0);
        assert!(n == last || n == last + 1, "round {round}: {last} -> {n}");
        assert_eq!(doc["pad"].as_str().map(str::len), Some(9000));
        last = n;
    }
    eprintln!("{killed_mid_run} of 60 writers were killed before finishing");
    // Whatever was left behind, the next writer is not tripped up by it, and
    // a rename-mode update leaves a whole file for readers without a lock.
    jlock(dir.path(), &["incr", "c.json", ".n"])
        .assert()
        .success()
        .stdout(format!("{}\n", last + 1));
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(raw["n"], last + 1);
    let left: Vec<String> = entries(dir.path())
        .into_iter()
        .filter(|n| n != ".c.json.jlock-journal")
        .collect();
    assert_eq!(left, vec!["c.json", "c.json.lock"]);
}
