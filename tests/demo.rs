//! `jlock demo`: the lesson's claims hold every time it runs.

use serde_json::Value;

use crate::util::{entries, jlock};

/// Runs `jlock demo ARGS --json` with short pauses, in a private TMPDIR that
/// must be empty afterwards; returns the `demos` array.
fn demo_json(args: &[&str]) -> Vec<Value> {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = vec![
        "demo",
        "--json",
        "--pause-ms",
        "30",
        "--delay-ms",
        "5",
        "--ops",
        "60",
    ];
    all.extend_from_slice(args);
    let out = jlock(tmp.path(), &all)
        .env("TMPDIR", tmp.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        entries(tmp.path()).is_empty(),
        "demo left {:?}",
        entries(tmp.path())
    );
    let summary: Value = serde_json::from_slice(&out).expect("--json output parses");
    summary["demos"].as_array().expect("demos array").clone()
}

fn find<'a>(demos: &'a [Value], demo: &str, lock: Value) -> &'a Value {
    demos
        .iter()
        .find(|d| d["demo"] == demo && d["lock"] == lock)
        .unwrap_or_else(|| panic!("no {demo} lock={lock} in {demos:?}"))
}

#[test]
fn the_whole_lesson_in_one_run() {
    let demos = demo_json(&[]);
    assert_eq!(
        demos.len(),
        7,
        "print, tickets, counter with and without lock; queue"
    );
    for d in &demos {
        for key in ["demo", "lock", "procs", "correct", "seconds"] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
    }

    let print = find(&demos, "print", true.into());
    assert_eq!(
        print["correct"], true,
        "locked print blocks are whole: {print}"
    );

    let tickets = find(&demos, "tickets", false.into());
    assert_eq!(tickets["tickets"], 1);
    assert_eq!(
        tickets["sold"], 10,
        "every buyer read before any wrote: {tickets}"
    );
    assert_eq!(tickets["correct"], false);
    let tickets = find(&demos, "tickets", true.into());
    assert_eq!(
        (tickets["sold"].as_u64(), tickets["correct"].as_bool()),
        (Some(1), Some(true))
    );

    let counter = find(&demos, "counter", true.into());
    assert_eq!(counter["expected"], 240);
    assert_eq!(counter["count"], 240);
    assert!(counter["ops_per_sec"].as_f64().unwrap() > 0.0);
    let unlocked = find(&demos, "counter", false.into());
    assert!(unlocked["count"].as_u64().unwrap() <= 240, "{unlocked}");
    assert_eq!(
        unlocked["lost"].as_u64().unwrap() + unlocked["count"].as_u64().unwrap(),
        240
    );

    let queue = find(&demos, "queue", Value::Null);
    assert_eq!(
        (queue["count"].as_u64(), queue["correct"].as_bool()),
        (Some(240), Some(true))
    );
    assert!(queue["speedup_over_locked_file"].as_f64().is_some());
}

#[test]
fn unlocked_ticket_office_oversells_in_every_run() {
    for run in 0..3 {
        let demos = demo_json(&["tickets", "--no-lock", "-p", "6", "--tickets", "2"]);
        assert_eq!(demos.len(), 1);
        assert_eq!(demos[0]["sold"], 6, "run {run}: {}", demos[0]);
        assert_eq!(demos[0]["oversold"], 4, "run {run}");
    }
}

#[test]
fn locked_runs_are_exact_with_more_processes() {
    let demos = demo_json(&["counter", "--lock", "-p", "8"]);
    assert_eq!(demos[0]["count"], 480);
    let demos = demo_json(&["tickets", "--lock", "-p", "12", "--tickets", "5"]);
    assert_eq!(
        (demos[0]["sold"].as_u64(), demos[0]["correct"].as_bool()),
        (Some(5), Some(true))
    );
}

#[test]
fn plain_text_without_a_terminal_and_keep_keeps_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = jlock(
        dir.path(),
        &[
            "demo",
            "print",
            "--lock",
            "--pause-ms",
            "1",
            "--keep",
            "kept",
        ],
    )
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains('\x1b'), "colour codes in piped output");
    assert!(
        text.contains("Summary") && text.contains("process 2: step 3"),
        "{text}"
    );
    assert!(dir.path().join("kept/print-lock/print.lock").exists());
}

#[test]
fn procs_is_dash_p_because_dash_n_means_nonblock_everywhere_else() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["demo", "counter", "-n", "2"])
        .assert()
        .code(64);
    let help = jlock(dir.path(), &["demo", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(help).unwrap();
    assert!(help.contains("-p, --procs <PROCS>"), "{help}");
    assert!(entries(dir.path()).is_empty());
}

/// The counter's medians and its time split are what the rounds measured,
/// and add up: a consistency check of the report, never of the timing.
#[test]
fn counter_reports_medians_and_a_time_split_that_adds_up() {
    let demos = demo_json(&["counter", "--rounds", "3"]);
    assert_eq!(demos.len(), 2, "{demos:?}");
    for lock in [false, true] {
        let d = find(&demos, "counter", lock.into());
        let f = |key: &str| d[key].as_f64().unwrap_or_else(|| panic!("{key} in {d}"));
        assert_eq!(d["rounds"], 3, "{d}");
        let mut seconds: Vec<f64> = d["round_seconds"]
            .as_array()
            .expect("round_seconds")
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        assert_eq!(seconds.len(), 3, "{d}");
        seconds.sort_by(f64::total_cmp);
        assert_eq!(
            f("seconds"),
            seconds[1],
            "seconds is the median round's: {d}"
        );
        let expected = f("expected");
        assert_eq!(expected, 240.0);
        let rate = expected / f("seconds");
        assert!((f("ops_per_sec") - rate).abs() <= 1e-9 * rate, "{d}");

        let mut counts: Vec<u64> = d["round_counts"]
            .as_array()
            .expect("round_counts")
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        counts.sort_unstable();
        assert_eq!(d["count"], counts[1], "count is the median count: {d}");
        let wrong = counts.iter().filter(|&&c| c != 240).count();
        assert_eq!(d["wrong_rounds"], wrong, "{d}");
        assert_eq!(d["correct"], wrong == 0, "{d}");

        let split = &d["per_op_us"];
        let us = |key: &str| {
            split[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} in {d}"))
        };
        for key in ["lock_wait", "file_work", "other", "total"] {
            assert!(us(key) >= 0.0, "{key} < 0 in {d}");
        }
        assert!(us("file_work") > 0.0, "{d}");
        let parts = us("lock_wait") + us("file_work") + us("other");
        assert!((parts - us("total")).abs() <= 1e-6 * us("total"), "{d}");
        // Each child's time lies inside the parent's measured run.
        let procs = f("procs");
        assert!(
            us("total") * expected <= procs * f("seconds") * 1e6 * (1.0 + 1e-9),
            "children's time exceeds the run's: {d}"
        );
        if lock {
            // One process at a time: the file work fits in the run.
            let share = f("lock_busy_share");
            assert!(share > 0.0 && share <= 1.0, "{d}");
        } else {
            assert_eq!(us("lock_wait"), 0.0, "{d}");
            assert!(d.get("lock_busy_share").is_none(), "{d}");
        }
    }
    let locked = find(&demos, "counter", true.into());
    assert_eq!(
        (locked["correct"].as_bool(), locked["wrong_rounds"].as_u64()),
        (Some(true), Some(0))
    );
}

/// The lab's child commands are not part of the product's command line: no
/// shell completion offers them (the hidden subcommands did), yet the demo's
/// children still start.
#[test]
fn child_commands_stay_out_of_the_product_command_line() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = jlock(dir.path(), &["completions", shell])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let script = String::from_utf8(out).unwrap();
        for child in ["demo-child", "demo_child", "bench-child", "bench_child"] {
            assert!(!script.contains(child), "{shell} completion offers {child}");
        }
    }
    jlock(dir.path(), &["demo-child", "queue", "0", ".", "--ops", "2"])
        .write_stdin("g")
        .assert()
        .success()
        .stdout("0 ready \n0 inc 1\n0 inc 1\n0 done \n");
    jlock(dir.path(), &["demo-child", "--no-such-option"])
        .assert()
        .code(64);
    assert!(entries(dir.path()).is_empty());
}
