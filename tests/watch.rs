//! `jlock wait` and `jlock watch` (issue 18 C): waiting for a value, and
//! following one, on inotify, against real writer processes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::queue::blocked_in_poll;
use crate::util::{jlock, jlock_bin, run_loops_together, test_process, Watchdog};

#[test]
fn wait_until_returns_once_another_process_sets_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{\"db\": \"starting\"}\n").unwrap();
    let mut child = test_process(Command::new(jlock_bin()).current_dir(dir.path()).args([
        "wait",
        "s.json",
        ".db",
        "--until",
        "\"ready\"",
        "-w",
        "120",
    ]))
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    blocked_in_poll(child.id());
    // Other changes do not end it.
    jlock(dir.path(), &["set", "s.json", ".other", "1"])
        .assert()
        .success();
    jlock(dir.path(), &["set", "s.json", ".db", "\"migrating\""])
        .assert()
        .success();
    blocked_in_poll(child.id());
    assert!(child.try_wait().unwrap().is_none(), "wait returned early");
    jlock(dir.path(), &["set", "s.json", ".db", "\"ready\""])
        .assert()
        .success();
    assert!(child.wait().unwrap().success());
}

#[test]
fn wait_times_out_with_1_and_compares_numbers_by_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        "{\"n\": 1.0, \"o\": {\"a\": 1, \"b\": 2}}\n",
    )
    .unwrap();
    jlock(
        dir.path(),
        &["wait", "s.json", ".n", "--until", "2", "-w", "0.2"],
    )
    .assert()
    .code(1);
    jlock(
        dir.path(),
        &["wait", "s.json", ".n", "--until", "1", "-w", "5"],
    )
    .assert()
    .success();
    jlock(
        dir.path(),
        &["wait", "s.json", ".o", "--until", "{\"b\": 2.0, \"a\": 1}"],
    )
    .assert()
    .success();
    jlock(dir.path(), &["wait", "s.json", ".gone", "--until", "null"])
        .assert()
        .success();
    jlock(
        dir.path(),
        &["wait", "s.json", ".n", "--change", "-w", "0.2"],
    )
    .assert()
    .code(1);
    jlock(dir.path(), &["wait", "s.json", ".n"])
        .assert()
        .code(64);
    // No file: waiting creates none.
    jlock(
        dir.path(),
        &["wait", "none.json", "--until", "1", "-w", "0.1"],
    )
    .assert()
    .code(1);
    assert!(!dir.path().join("none.json").exists());
    assert!(!dir.path().join("none.json.lock").exists());
}

#[test]
fn wait_change_returns_on_a_change_of_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{\"n\": 1}\n").unwrap();
    let mut child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["wait", "s.json", ".n", "--change", "-w", "120"]),
    )
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    blocked_in_poll(child.id());
    // A change made before the waiter's first read is not a change to it
    // (and /proc's wchan can be read before it blocks): change the value
    // until it has seen one, within a bound.
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        jlock(dir.path(), &["incr", "s.json", ".n"])
            .assert()
            .success();
        let seen = std::time::Instant::now() + Duration::from_millis(500);
        while std::time::Instant::now() < seen {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < end,
            "wait --change never returned"
        );
    };
    assert!(status.success());
}

#[test]
fn watch_prints_the_first_value_and_the_last_after_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{\"n\": 0}\n").unwrap();
    let mut child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["watch", "s.json", ".n"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let limit = Duration::from_secs(60);
    assert_eq!(rx.recv_timeout(limit).unwrap(), "0");
    // 100 updates from another process, as fast as it can.
    run_loops_together(dir.path(), 1, |_| {
        "i=1; while [ $i -le 100 ]; do \"$J\" set s.json .n $i || exit 1; i=$((i+1)); done"
            .to_string()
    });
    let mut seen = vec![0];
    while *seen.last().unwrap() != 100 {
        let line = rx
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no final value; seen {seen:?}"));
        seen.push(line.parse().unwrap());
    }
    // Every value printed was one written, in the order written.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    eprintln!("watch printed {} of 101 values", seen.len());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn watch_json_seq_writes_rfc_7464_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{\"a\": [1, 2]}\n").unwrap();
    let mut child = test_process(Command::new(jlock_bin()).current_dir(dir.path()).args([
        "watch",
        "--json-seq",
        "s.json",
    ]))
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "\u{1e}{\"a\":[1,2]}\n");
    jlock(dir.path(), &["del", "s.json", ".a"])
        .assert()
        .success();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "\u{1e}{}\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn wait_on_a_symlinked_data_file_sees_the_change_made_where_the_link_points() {
    // The store writes the file the link names (in another directory); the
    // watch must be on that directory, not only on the link's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::create_dir(dir.path().join("links")).unwrap();
    std::fs::write(dir.path().join("real/s.json"), "{\"db\": \"starting\"}\n").unwrap();
    std::os::unix::fs::symlink("../real/s.json", dir.path().join("links/s.json")).unwrap();
    let mut child = test_process(Command::new(jlock_bin()).current_dir(dir.path()).args([
        "wait",
        "links/s.json",
        ".db",
        "--until",
        "\"ready\"",
        "-w",
        "600",
    ]))
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    blocked_in_poll(child.id());
    // Written through the real path, so nothing happens in links/. (Its
    // -w is past the watchdog's limit: a wait that missed the change is
    // killed, and fails, rather than seeing the value at its deadline.)
    jlock(dir.path(), &["set", "real/s.json", ".db", "\"ready\""])
        .assert()
        .success();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_link(dir.path().join("links/s.json")).unwrap(),
        std::path::Path::new("../real/s.json"),
        "the link is left a link"
    );
}
