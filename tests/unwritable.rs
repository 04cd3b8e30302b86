//! jlock never aborts (issue 15 B): with stdout and stderr on /dev/full
//! (every write fails with ENOSPC) every subcommand still exits with the
//! code that says what happened — never a signal (SIGABRT from a panicking
//! `eprintln!`), and 3 for an update that was applied but not printed.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use crate::util::jlock_bin;

/// What a lab command that cannot print exits with: 74 with the lab, 64
/// (usage: not in this build) without.
const LAB: i32 = if cfg!(feature = "lab") { 74 } else { 64 };

/// Runs `jlock ARGS` in `dir` with stdout and stderr on /dev/full; returns
/// the exit code, failing if a signal ended it.
fn on_full(dir: &std::path::Path, args: &[&str]) -> i32 {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let status = Command::new(jlock_bin())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(full())
        .stderr(full())
        .status()
        .unwrap();
    match status.code() {
        Some(code) => code,
        None => panic!("{args:?} was killed by signal {:?}", status.signal()),
    }
}

#[test]
fn every_subcommand_exits_with_its_code_when_nothing_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("g.json"), "{\"n\": 1}\n").unwrap();
    let cases: &[(&[&str], i32)] = &[
        // Usage errors, help and version.
        (&["--bogus"], 64),
        (&["get"], 64),
        (&["--help"], 74),
        (&["--version"], 74),
        (&["run", "--help"], 74),
        // Data commands: applied but unprinted is 3, printed nothing is 0.
        (&["incr", "g.json", ".n"], 3),
        (&["set", "g.json", ".s", "\"x\""], 0),
        (&["del", "g.json", ".s"], 0),
        (&["update", "g.json", "--", "cat"], 0),
        (&["get", "g.json", ".n"], 74),
        (&["get", "/nonexistent/x"], 66),
        (&["incr", "g.json", ".missing.deeper[", "1"], 64),
        // Locks and their status.
        (&["run", "L", "true"], 0),
        (&["run", "L", "false"], 1),
        (&["run", "-v", "L", "true"], 0),
        (&["run", "L", "/nonexistent/program"], 127),
        (&["status", "L"], 74),
        (&["status", "--json", "L"], 74),
        (&["status", "g.json"], 74),
        // Generated text.
        (&["completions", "bash"], 74),
        (&["man"], 74),
        (&["man", "run"], 74),
        // The lab (in a build without it: a usage error that says so).
        (&["demo", "counter", "--lock"], LAB),
        (
            &["bench", "--procs", "1", "--sizes", "counter", "--ops", "20"],
            LAB,
        ),
    ];
    let mut wrong = Vec::new();
    for (args, want) in cases {
        let got = on_full(d, args);
        if got != *want {
            wrong.push(format!("{args:?}: exit {got}, expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Each increment was applied once, exactly: 1, then the one above.
    let doc = std::fs::read_to_string(d.join("g.json")).unwrap();
    assert_eq!(doc, "{\"n\": 2}\n");
}
