//! `jlock bench`: a small matrix runs, every result is checked and correct
//! (counts exact, push/pop elements taken exactly once), the JSON parses,
//! the chart has its panels, ticks and legend, and nothing is left behind;
//! a consumer that loses an element makes the bench fail loudly.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{entries, jlock};

/// However slow the machine, a bench test ends.
const BOUND: Duration = Duration::from_secs(600);

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn python_has_sqlite() -> bool {
    Command::new("python3")
        .args(["-c", "import sqlite3"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The text of every `<text>` element of an SVG drawn by plotters.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let start = t.find('>')? + 1;
            let end = t.find("</text>")?;
            Some(t.get(start..end)?.trim().to_string())
        })
        .collect()
}

#[test]
fn small_matrix_json_is_complete_and_correct() {
    let dir = tempfile::tempdir().unwrap();
    let out = jlock(
        dir.path(),
        &[
            "bench",
            "--json",
            "--procs",
            "1,3",
            "--sizes",
            "counter,4k",
            "--ops",
            "8",
            "--rounds",
            "2",
            "--svg",
            "chart.svg",
        ],
    )
    .timeout(BOUND)
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let report: Value = serde_json::from_slice(&out).expect("--json output parses");
    assert_eq!(report["rounds"], 2);
    assert_eq!(report["svg"], "chart.svg");
    let results = report["results"].as_array().expect("results array");
    let mut seen = std::collections::BTreeSet::new();
    for r in results {
        for key in [
            "approach",
            "unit",
            "procs",
            "doc_bytes",
            "ops",
            "seconds",
            "round_seconds",
            "ops_per_sec",
            "correct",
            "problem",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["correct"], true, "{r}");
        assert_eq!(r["problem"], Value::Null, "{r}");
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["round_seconds"].as_array().unwrap().len(), 2, "{r}");
        let name = r["approach"].as_str().unwrap().to_string();
        if name.starts_with("push-pop:") {
            assert_eq!(r["unit"], "elements", "{r}");
            assert_eq!(
                (r["producers"].clone(), r["consumers"].clone()),
                (4.into(), 4.into())
            );
            assert_eq!(r["procs"], 8, "{r}");
            assert_eq!(r["ops"].as_u64().unwrap() % 4, 0, "{r}");
        }
        seen.insert(name);
    }
    let mut want = vec![
        "edit:records",
        "push-pop:jlock",
        "push-pop:pipe",
        "queue",
        "store:fsync",
        "store:journal",
        "store:rename",
    ];
    if on_path("flock") {
        want.push("flock-sh");
    }
    if on_path("flock") && on_path("jq") {
        want.push("push-pop:flock-jq");
    }
    if python_has_sqlite() {
        want.push("sqlite:wal-full");
    }
    want.sort();
    assert_eq!(seen.iter().map(String::as_str).collect::<Vec<_>>(), want);
    // Counting approaches: 2 process counts, the store's modes × 2 sizes,
    // the records edit only the size that is not a bare counter; push/pop: 1 each.
    let counting = want.iter().filter(|a| !a.starts_with("push-pop:")).count();
    let push_pop = want.len() - counting;
    assert_eq!(results.len(), 2 * (counting + 3) + push_pop);

    let svg = std::fs::read_to_string(dir.path().join("chart.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "not an SVG");
    for panel in [
        "ops/s by process count",
        "µs per update by document size",
        "push/pop: elements/s, 4 producers + 4 consumers",
        "what each approach is",
    ] {
        assert!(svg.contains(panel), "the chart has no {panel:?}");
    }
    for name in &want {
        assert!(svg.contains(name), "the legend lacks {name}");
    }
    assert!(
        svg.contains("one key changed in a pretty-printed document of small records"),
        "edit:records is not explained"
    );
    // Ticks in powers of ten (4k documents reach past 1k), not 1024ths.
    let labels = texts(&svg);
    assert!(labels.iter().any(|t| t == "1k"), "no 1k tick in {labels:?}");
    assert!(
        !labels
            .iter()
            .any(|t| t == "4k" || t == "98k" || t == "977k"),
        "{labels:?}"
    );
    assert_eq!(entries(dir.path()), vec!["chart.svg"]);
}

#[test]
fn the_text_report_explains_every_approach_and_says_where_the_chart_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = jlock(
        dir.path(),
        &[
            "bench",
            "--procs",
            "2",
            "--sizes",
            "1k",
            "--ops",
            "8",
            "--rounds",
            "1",
            "--approaches",
            "edit:records,push-pop:jlock,push-pop:pipe",
            "--svg",
            "c.svg",
        ],
    )
    .timeout(BOUND)
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("edit:records       one key changed"),
        "{text}"
    );
    assert!(text.contains("push-pop:pipe      4 producers"), "{text}");
    assert!(text.contains("each checked taken exactly once"), "{text}");
    assert!(
        text.trim_end().ends_with("chart written to c.svg"),
        "{text}"
    );
    assert!(dir.path().join("c.svg").is_file());
}

#[test]
fn a_lost_element_fails_the_bench_loudly() {
    let dir = tempfile::tempdir().unwrap();
    for approach in ["push-pop:jlock", "push-pop:pipe"] {
        jlock(
            dir.path(),
            &[
                "bench",
                "--rounds",
                "1",
                "--ops",
                "8",
                "--approaches",
                approach,
            ],
        )
        .env("JLOCK_BENCH_LOSE_ONE", "1")
        .timeout(BOUND)
        .assert()
        .code(65)
        .stdout(predicates::str::contains("NO"))
        .stdout(predicates::str::contains("never taken"))
        .stderr(predicates::str::contains(format!("{approach} ×8: ")));
    }
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["bench", "--approaches", "carrier-pigeon"])
        .assert()
        .code(64)
        .stderr(predicates::str::contains("unknown approach"));
    jlock(dir.path(), &["bench", "--sizes", "huge"])
        .assert()
        .code(64);
    jlock(dir.path(), &["bench", "--procs", "0"])
        .assert()
        .code(64);
    jlock(dir.path(), &["bench", "--rounds", "0"])
        .assert()
        .code(64);
    // An approach whose programs are missing is refused when asked for.
    let empty = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["bench", "--approaches", "push-pop:flock-jq"])
        .env("PATH", empty.path())
        .assert()
        .code(64)
        .stderr(predicates::str::contains("cannot run here"));
    assert!(entries(dir.path()).is_empty());
}
