//! The shell scripts in examples/ run and say what they should.

use std::process::Command;

use crate::util::jlock_bin;

/// Runs `examples/<script> ARGS` with the built jlock; its success and output.
fn run_script(script: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("/bin/sh")
        .arg(format!("{}/examples/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .env("JLOCK", jlock_bin())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The counter examples, with 4 jobs of 25 increments.
fn run_example(script: &str) -> (bool, String) {
    run_script(script, &["4", "25"])
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

/// A cookbook script, with its default arguments.
fn run_recipe(script: &str) -> (bool, String) {
    run_script(script, &[])
}

#[test]
fn cookbook_cron_job_never_overlaps() {
    let (ok, text) = run_recipe("cron-no-overlap.sh");
    assert!(ok, "{text}");
    assert!(text.contains("second run skipped with exit 1"), "{text}");
}

#[test]
fn cookbook_ci_cache_is_filled_once_and_shared() {
    let (ok, text) = run_recipe("ci-cache.sh");
    assert!(ok, "{text}");
    assert!(
        text.contains("filled 1 time(s), used by 4 of 4 jobs"),
        "{text}"
    );
}

#[test]
fn cookbook_deploy_counter_hands_out_distinct_numbers() {
    let (ok, text) = run_recipe("deploy-counter.sh");
    assert!(ok, "{text}");
    assert!(
        text.contains("6 deploys, counter at 6, 6 distinct numbers"),
        "{text}"
    );
}

#[test]
fn cookbook_at_most_two_heavy_builds() {
    let (ok, text) = run_recipe("heavy-builds.sh");
    assert!(ok, "{text}");
    assert!(text.contains("5 builds, at most"), "{text}");
}

#[test]
fn cookbook_worker_pool_does_every_job_once_and_recovers_a_killed_workers_job() {
    let (ok, text) = run_recipe("worker-pool.sh");
    assert!(ok, "{text}");
    assert!(
        text.contains("40 jobs, 40 done by 4 workers, 40 distinct; w0 was killed holding [1]"),
        "{text}"
    );
}
