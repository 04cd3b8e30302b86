//! The shell scripts in examples/ run and say what they should.

use std::process::Command;

use crate::util::jlock_bin;

fn run_example(script: &str) -> (bool, String) {
    let out = Command::new("/bin/sh")
        .arg(format!("{}/examples/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(["4", "25"])
        .env("JLOCK", jlock_bin())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

#[test]
fn counter_with_jlock_loses_nothing() {
    let (ok, text) = run_example("counter.sh");
    assert!(ok, "{text}");
    assert!(
        text.starts_with("jlock incr:   100 of 100 increments (0 lost)"),
        "{text}"
    );
}

#[test]
fn counter_with_flock_loses_nothing() {
    let (ok, text) = run_example("counter-flock.sh");
    assert!(ok, "{text}");
    assert!(
        text.starts_with("flock + sh:   100 of 100 increments (0 lost)"),
        "{text}"
    );
}

#[test]
fn counter_without_a_lock_reports_its_count() {
    let (ok, text) = run_example("counter-nolock.sh");
    assert!(ok, "{text}");
    let count: u32 = text["no lock:".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {text:?}"));
    assert!(count <= 100, "{text}");
}
