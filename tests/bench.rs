//! `jlock bench`: a small matrix runs, every result is checked and correct,
//! the JSON parses, the chart is drawn, and nothing is left behind.

use serde_json::Value;

use crate::util::{entries, jlock};

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
            "60",
            "--svg",
            "chart.svg",
        ],
    )
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let report: Value = serde_json::from_slice(&out).expect("--json output parses");
    let results = report["results"].as_array().expect("results array");
    let mut seen = std::collections::BTreeSet::new();
    for r in results {
        for key in [
            "approach",
            "procs",
            "doc_bytes",
            "ops",
            "seconds",
            "ops_per_sec",
            "correct",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["correct"], true, "{r}");
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        seen.insert(r["approach"].as_str().unwrap().to_string());
    }
    let want = [
        "edit:records",
        "flock-sh",
        "queue",
        "store:fsync",
        "store:journal",
        "store:rename",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), want);
    // Store modes: 2 process counts × 2 sizes; the records edit: 2 process
    // counts × the one size that is not a bare counter; queue and flock-sh: 2 each.
    assert_eq!(results.len(), 3 * 4 + 2 + 2 + 2);
    let svg = std::fs::read_to_string(dir.path().join("chart.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("store:journal"),
        "not a chart"
    );
    assert_eq!(entries(dir.path()), vec!["chart.svg"]);
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
    assert!(entries(dir.path()).is_empty());
}
