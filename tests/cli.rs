//! The command line as a new user meets it: help, man pages, usage errors,
//! and what `status` says of a path that cannot exist.

use predicates::prelude::*;
use predicates::str::contains;

use crate::util::jlock;

#[test]
fn data_commands_list_every_durability_mode() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["set", "del", "incr", "update"] {
        jlock(dir.path(), &[cmd, "--help"])
            .assert()
            .success()
            .stdout(contains("journal"))
            .stdout(contains("fsync"));
    }
    // get only reads: a durability is a writer's option, refused there.
    jlock(dir.path(), &["get", "--help"])
        .assert()
        .success()
        .stdout(contains("--durab").not());
    jlock(dir.path(), &["incr", "--durability", "bogus", "c.json"])
        .assert()
        .code(64)
        .stderr(contains("journal"));
}

#[test]
fn every_man_page_the_main_page_names_exists() {
    let dir = tempfile::tempdir().unwrap();
    let main = jlock(dir.path(), &["man"]).assert().success();
    let text = String::from_utf8_lossy(&main.get_output().stdout).to_string();
    let named: Vec<String> = text
        .split("jlock\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)").map(|(name, _)| name.to_string()))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(named.iter().any(|n| n == "incr"), "{named:?}");
    for name in &named {
        jlock(dir.path(), &["man", name])
            .assert()
            .success()
            .stdout(contains(format!(".TH jlock-{name} 1")));
    }
    jlock(dir.path(), &["man", "nonsense"]).assert().code(64);
}

#[test]
fn usage_errors_say_jlock_like_every_other_message() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["incr", "--bogus", "c.json"])
        .assert()
        .code(64)
        .stderr(predicates::str::starts_with(
            "jlock: unexpected argument '--bogus'",
        ));
    jlock(dir.path(), &["frobnicate"])
        .assert()
        .code(64)
        .stderr(predicates::str::starts_with("jlock: "));
    jlock(dir.path(), &["--version"])
        .assert()
        .success()
        .stderr("");
}

#[test]
fn quiet_help_is_not_about_incr_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["run", "--help"])
        .assert()
        .success()
        .stdout(contains("no new value").not());
    jlock(dir.path(), &["incr", "--help"])
        .assert()
        .success()
        .stdout(contains("With -q the new value is not printed"));
}

#[test]
fn status_of_a_path_in_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["status", "no/such/dir/x"])
        .assert()
        .code(74)
        .stderr(contains("no/such/dir"));
    // A missing file in a directory that exists is simply free.
    jlock(dir.path(), &["status", "x.lock"])
        .assert()
        .success()
        .stdout(contains("free"));
}

#[test]
fn a_url_target_is_refused_clearly_by_a_build_without_it() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["get", "nosuch://host:1/doc"])
        .assert()
        .code(64)
        .stderr(contains("nosuch:// targets are not supported"));
}

#[test]
fn completions_report_a_failed_write_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(crate::util::jlock_bin())
        .current_dir(dir.path())
        .args(["completions", "bash"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left"));
}

#[test]
fn status_of_a_slots_lock_names_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let a = crate::util::Holder::jlock_run(dir.path(), &["--slots", "2", "heavy"]);
    jlock(dir.path(), &["status", "heavy"])
        .assert()
        .success()
        .stdout(contains("heavy: 1 of 2 slots held"))
        .stdout(contains(format!("pid {}", a.child.id())));
    let b = crate::util::Holder::jlock_run(dir.path(), &["--slots", "2", "heavy"]);
    // Every slot held: exit 1.
    let out = jlock(dir.path(), &["status", "--json", "heavy"])
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["held"].as_u64()),
        (Some("full"), Some(2))
    );
    a.release();
    b.release();
    jlock(dir.path(), &["status", "heavy"])
        .assert()
        .success()
        .stdout(contains("0 of 2 slots held"));
}

/// Without the lab feature, `demo` and `bench` say how to get them, with
/// the usage code, and the data and lock commands are all there.
#[cfg(not(feature = "lab"))]
#[test]
fn a_build_without_the_lab_says_which_feature_demo_needs() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["demo"][..], &["bench", "--procs", "1"]] {
        crate::util::jlock(dir.path(), args)
            .assert()
            .code(64)
            .stderr(predicates::str::contains("--features lab"));
    }
    crate::util::jlock(dir.path(), &["incr", "c.json"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn every_justfile_recipe_has_a_one_line_doc_comment() {
    // `just --list` shows only the last comment line above a recipe: each
    // recipe has exactly one, directly above it.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/justfile")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut recipes = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_recipe = !line.starts_with([' ', '\t', '#'])
            && line.split_once(':').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !is_recipe {
            continue;
        }
        recipes += 1;
        let above = |k: usize| i.checked_sub(k).map(|j| lines[j]).unwrap_or("");
        assert!(above(1).starts_with("# "), "{line}: no doc comment");
        assert!(
            !above(2).starts_with('#'),
            "{line}: a doc comment of more than one line (just --list shows only the last)"
        );
    }
    assert!(recipes >= 10, "{recipes} recipes found");
}

#[test]
fn a_flag_another_subcommand_has_is_named_there_not_passed_as_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("db.json"), "{\"n\": 1}\n").unwrap();
    let before = crate::util::entries(d);
    jlock(d, &["get", "-u", "db.json"])
        .assert()
        .code(64)
        .stderr(contains("to pass").not())
        .stderr(contains(
            "tip: `jlock get` has no -u; it is an option of `jlock run` (Unlock descriptor FD",
        ));
    jlock(d, &["get", "--durable", "db.json"])
        .assert()
        .code(64)
        .stderr(contains("to pass").not())
        .stderr(contains(
            "`jlock get` has no --durable; it is an option of `jlock set`, `jlock del`, \
             `jlock incr`, `jlock update`",
        ));
    jlock(d, &["set", "-s", "db.json", ".n", "2"])
        .assert()
        .code(64)
        .stderr(contains("option of `jlock run` (Take a shared lock"));
    // A flag nobody has: where to look, not clap's tip.
    jlock(d, &["incr", "--bogus", "db.json"])
        .assert()
        .code(64)
        .stderr(contains("to pass").not())
        .stderr(contains("`jlock incr --help` lists its options"));
    // update's command without `--`.
    jlock(d, &["update", "db.json", "jq", "."])
        .assert()
        .code(64)
        .stderr(contains(
            "tip: put `--` before the command: jlock update FILE -- jq ARGS…",
        ));
    assert_eq!(std::fs::read(d.join("db.json")).unwrap(), b"{\"n\": 1}\n");
    assert_eq!(crate::util::entries(d), before);
}

#[test]
fn incr_help_says_what_incr_does_with_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    jlock(d, &["incr", "--help"])
        .assert()
        .success()
        .stdout(contains("floats").not())
        .stdout(contains("ten --by 0.1 from 0 give 1"))
        .stdout(contains("0.1 + 0.2 gives 0.3"));
    for _ in 0..10 {
        jlock(d, &["incr", "c.json", "--by", "0.1"])
            .assert()
            .success();
    }
    assert_eq!(std::fs::read_to_string(d.join("c.json")).unwrap(), "1\n");
    jlock(d, &["incr", "s.json", "--by", "0.1"])
        .assert()
        .success();
    jlock(d, &["incr", "s.json", "--by", "0.2"])
        .assert()
        .success()
        .stdout("0.3\n");
}

#[test]
fn the_man_page_says_how_to_get_the_pages_it_names() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["man"])
        .assert()
        .success()
        .stdout(contains(".SH \"SEE ALSO\""))
        .stdout(contains("\\fBjlock man\\fR \\fISUBCOMMAND\\fR prints it"))
        .stdout(contains("\\fBjust install\\fR"));
    for sub in ["run", "get", "incr"] {
        jlock(dir.path(), &["man", sub])
            .assert()
            .success()
            .stdout(contains(format!(".TH jlock-{sub} 1")))
            .stdout(contains("jlock(1) (\\fBjlock man\\fR)"));
    }
    jlock(dir.path(), &["man", "--help"])
        .assert()
        .success()
        .stdout(contains("jlock man run | man -l -"))
        .stdout(contains("`just install`"));
}
