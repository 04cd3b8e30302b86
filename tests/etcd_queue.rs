//! `jlock push`/`pop` on etcd:// targets (issue 18 D), against a real etcd each test
//! starts: every element taken exactly once by concurrent consumers, a waiting pop
//! (which polls the key on etcd) woken by a push, bad input; `wait` and `watch` are
//! refused there as usage errors.
//!
//! Skipped (with a printed reason) when etcd is not installed, unless `JLOCK_REQUIRE_ETCD=1`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use jlock_etcd::local::LocalEtcd;

use crate::util::{jlock, jlock_bin, run_loops_together, test_process, Watchdog};

fn start(test: &str) -> Option<LocalEtcd> {
    if !jlock_etcd::local::available_or_skip(test) {
        return None;
    }
    Some(LocalEtcd::start(1).unwrap_or_else(|e| panic!("{test}: {e}")))
}

#[test]
fn etcd_producers_and_consumers_take_every_element_exactly_once() {
    let Some(e) = start("etcd_queue") else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("q");
    run_loops_together(dir.path(), 4, |i| {
        if i < 2 {
            format!(
                "k=0; while [ $k -lt 25 ]; do \"$J\" push {t} .todo \"\\\"p$I-$k\\\"\" || exit 1; \
                 k=$((k+1)); done"
            )
        } else {
            format!(
                "while [ \"$(\"$J\" get {t} .taken --default 0)\" -lt 50 ]; do \
                   if item=$(\"$J\" pop -q -r -w 0.5 {t} .todo); then \
                     echo \"$item\" >> out.$I; \"$J\" incr -q {t} .taken || exit 1; \
                   fi; \
                 done"
            )
        }
    });
    let mut taken = Vec::new();
    for i in 2..4 {
        let text = std::fs::read_to_string(dir.path().join(format!("out.{i}"))).unwrap_or_default();
        taken.extend(text.lines().map(str::to_string));
    }
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 50, "{taken:?}");
    assert_eq!(distinct.len(), 50, "an element was taken twice");
    jlock(dir.path(), &["get", "-c", &t, ".todo"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn etcd_a_waiting_pop_is_woken_by_a_push_and_bad_input_is_refused() {
    let Some(e) = start("etcd_queue_wait") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("q");
    jlock(dir.path(), &["set", &t, ".n", "5"])
        .assert()
        .success();
    jlock(dir.path(), &["push", &t, ".n", "1"])
        .assert()
        .code(65);
    jlock(dir.path(), &["pop", "-n", &t, ".n"])
        .assert()
        .code(65);
    jlock(dir.path(), &["pop", "-n", &t, ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["pop", "-w", "0.3", &t, ".todo"])
        .assert()
        .code(1);
    jlock(dir.path(), &["get", "-c", &t])
        .assert()
        .success()
        .stdout("{\"n\":5}\n");
    let child = test_process(
        Command::new(jlock_bin())
            .current_dir(dir.path())
            .args(["pop", "--to", ".doing", "-w", "60", &t, ".todo"]),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let _dog = Watchdog::new(child.id());
    jlock(dir.path(), &["push", &t, ".todo", "{\"job\": 1}"])
        .assert()
        .success();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\n  \"job\": 1\n}\n");
    jlock(dir.path(), &["get", "-c", &t, ".doing"])
        .assert()
        .success()
        .stdout("[{\"job\":1}]\n");
    for cmd in [&["wait", &t, ".n", "--until", "5"][..], &["watch", &t]] {
        jlock(dir.path(), cmd)
            .assert()
            .code(64)
            .stderr(predicates::str::contains("local files only"));
    }
}
