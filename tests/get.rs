//! `jlock get` the way jq users expect (issue 19 C): a missing FILE is an
//! error (66) that creates nothing, `--default`, `-e`, `-c`, no writer's
//! options; and a reader that creates no file — not even the lock file — and
//! so reads a file in a directory it may not write.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use jlock_core::{Durability, Store};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::json;

use crate::trust::{jlock_as, other_user};
use crate::util::{entries, jlock, run_loops_together};

#[test]
fn a_missing_file_is_66_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["get", "missing.json", ".x"][..],
        &["get", "missing.json"],
        &["get", "-e", "missing.json"],
        &["get", "-r", "-c", "missing.json", "/x"],
        &["get", "--lock-file", "other.lock", "missing.json"],
        &["get", "-n", "missing.json"],
        &["get", "sub/missing.json"],
    ] {
        jlock(d, args)
            .assert()
            .code(66)
            .stdout("")
            .stderr(contains("missing.json: no such file"))
            .stderr(contains("hint: --default VALUE"));
    }
    assert!(entries(d).is_empty(), "{:?}", entries(d));
    // --default prints VALUE instead, and still creates nothing.
    jlock(d, &["get", "--default", "0", "missing.json", ".count"])
        .assert()
        .success()
        .stdout("0\n");
    jlock(d, &["get", "-r", "--default", "\"none\"", "missing.json"])
        .assert()
        .success()
        .stdout("none\n");
    jlock(
        d,
        &["get", "-c", "--default", "{\"a\": [1, 2]}", "missing.json"],
    )
    .assert()
    .success()
    .stdout("{\"a\":[1,2]}\n");
    jlock(d, &["get", "--default", "oops", "missing.json"])
        .assert()
        .code(64)
        .stderr(contains("--default \"oops\" is not JSON"));
    assert!(entries(d).is_empty(), "{:?}", entries(d));
    // The writers still create the file, as before.
    jlock(d, &["incr", "missing.json", ".n"])
        .assert()
        .success()
        .stdout("1\n");
    jlock(d, &["get", "missing.json", ".n"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn default_is_for_a_missing_or_null_value_and_false_is_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("db.json"),
        "{\"off\": false, \"none\": null, \"n\": 1E2}\n",
    )
    .unwrap();
    for (path, want) in [
        (".off", "false\n"),
        (".none", "7\n"),
        (".missing", "7\n"),
        (".n", "1E2\n"),
    ] {
        jlock(d, &["get", "--default", "7", "db.json", path])
            .assert()
            .success()
            .stdout(want);
    }
}

#[test]
fn exit_status_is_jqs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("db.json"),
        "{\"off\": false, \"none\": null, \"zero\": 0, \"empty\": \"\", \"list\": []}\n",
    )
    .unwrap();
    for (path, code, out) in [
        (".off", 1, "false\n"),
        (".none", 1, "null\n"),
        (".missing", 1, "null\n"),
        (".zero", 0, "0\n"),
        (".empty", 0, "\"\"\n"),
        (".list", 0, "[]\n"),
    ] {
        jlock(d, &["get", "-e", "db.json", path])
            .assert()
            .code(code)
            .stdout(out)
            .stderr("");
        jlock(d, &["get", "--exit-status", "db.json", path])
            .assert()
            .code(code);
        // Without -e, always 0, as jq.
        jlock(d, &["get", "db.json", path]).assert().success();
    }
    // --default first, then -e looks at what is printed.
    jlock(d, &["get", "-e", "--default", "true", "db.json", ".none"])
        .assert()
        .success()
        .stdout("true\n");
    // In a script.
    let out = std::process::Command::new("/bin/sh")
        .current_dir(d)
        .env("J", crate::util::jlock_bin())
        .args([
            "-c",
            "if \"$J\" get -e db.json .off >/dev/null; then echo on; else echo off; fi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"off\n");
}

#[test]
fn compact_prints_one_line_with_the_files_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "{\n  \"a\": [1, 2.50],\n  \"b\": {\"c\": 1E2, \"s\": \"x y\"}\n}\n";
    fs::write(d.join("db.json"), text).unwrap();
    for flag in ["-c", "--compact"] {
        jlock(d, &["get", flag, "db.json"])
            .assert()
            .success()
            .stdout("{\"a\":[1,2.50],\"b\":{\"c\":1E2,\"s\":\"x y\"}}\n");
    }
    jlock(d, &["get", "db.json", ".a"])
        .assert()
        .success()
        .stdout("[\n  1,\n  2.50\n]\n");
    assert_eq!(fs::read_to_string(d.join("db.json")).unwrap(), text);
}

#[test]
fn a_writers_options_are_refused_by_get() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("db.json"), "{\"n\": 1}\n").unwrap();
    for args in [
        &["get", "--durable", "db.json"][..],
        &["get", "--durability", "journal", "db.json"],
        &["get", "--pretty", "db.json"],
    ] {
        jlock(d, args)
            .assert()
            .code(64)
            .stdout("")
            .stderr(contains("`jlock get` has no --"))
            .stderr(contains("`jlock set`"));
    }
    assert_eq!(fs::read(d.join("db.json")).unwrap(), b"{\"n\": 1}\n");
    assert_eq!(entries(d), ["db.json"]);
}

#[test]
fn get_creates_no_lock_file_and_readers_without_one_never_see_a_write_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("c.json"), "{\"n\": 0}\n").unwrap();
    jlock(d, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("0\n");
    assert_eq!(entries(d), ["c.json"]);
    // Writers that lock another file (so c.json.lock never exists), in the
    // journal mode (in place): readers with no lock file to take are
    // excluded by the data file's own lock, which every writer takes.
    run_loops_together(d, 4, |i| {
        if i < 2 {
            "for j in $(seq 100); do \
             \"$J\" incr --durability journal --lock-file w.lock c.json .n >/dev/null || exit 1; \
             done"
                .to_string()
        } else {
            "last=0; for j in $(seq 100); do \
             v=$(\"$J\" get c.json .n) || exit 1; \
             case $v in ''|*[!0-9]*) echo \"not a count: $v\" >&2; exit 2;; esac; \
             [ \"$v\" -ge \"$last\" ] || exit 3; last=$v; \
             done"
                .to_string()
        }
    });
    jlock(d, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("200\n");
    assert!(!d.join("c.json.lock").exists());
}

/// A directory only root may write, holding a file anyone may read.
fn unwritable_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, ro)
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    entries(dir)
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap_or_default();
            (n, bytes)
        })
        .collect()
}

#[test]
fn a_reader_reads_in_a_directory_it_may_not_write() {
    let Some(user) = other_user() else { return };
    let (_dir, ro) = unwritable_dir();
    fs::write(ro.join("c.json"), "{\"n\": 1}\n").unwrap();
    let before = snapshot(&ro);
    jlock_as(user, &ro, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("1\n")
        .stderr("");
    jlock_as(user, &ro, &["get", "-e", "c.json", ".missing"])
        .assert()
        .code(1);
    // `rev` reads as get does: the same token root's rev gives.
    let root_rev = jlock(&ro, &["rev", "c.json"]).assert().success();
    jlock_as(user, &ro, &["rev", "c.json"])
        .assert()
        .success()
        .stdout(root_rev.get_output().stdout.clone());
    assert_eq!(snapshot(&ro), before);
    // A writer may not: refused, nothing changed.
    jlock_as(user, &ro, &["incr", "c.json", ".n"])
        .assert()
        .code(predicate::in_iter([74, 77]));
    assert_eq!(snapshot(&ro), before);
    // With the lock file there (root made it), the reader takes it.
    jlock(&ro, &["incr", "c.json", ".n"]).assert().success();
    assert!(ro.join("c.json.lock").exists());
    jlock_as(user, &ro, &["get", "c.json", ".n"])
        .assert()
        .success()
        .stdout("2\n");
    // A missing file there: 66, as anywhere.
    jlock_as(user, &ro, &["get", "nope.json"]).assert().code(66);
}

#[test]
fn a_reader_without_a_lock_file_sees_a_killed_journal_writers_document_whole() {
    let Some(user) = other_user() else { return };
    let (_dir, ro) = unwritable_dir();
    let file = ro.join("c.json");
    fs::write(
        &file,
        format!("{{\"n\": 1, \"pad\": \"{}\"}}\n", "a".repeat(64)),
    )
    .unwrap();
    let store = Store::builder(&file)
        .lock_path(ro.join("elsewhere.lock"))
        .durability(Durability::Journal)
        .open()
        .unwrap();
    // Killed after 3 bytes of its data write: the file itself is torn.
    let new = json!({"n": 22, "pad": "b".repeat(64)});
    store.write_killed_after(&new, 3).unwrap();
    drop(store);
    fs::remove_file(ro.join("elsewhere.lock")).unwrap();
    let before = snapshot(&ro);
    assert!(!ro.join("c.json.lock").exists());
    // Readers with no lock file to take (and no right to create one) see
    // the record's document, whole; the file is left for the next writer.
    jlock_as(user, &ro, &["get", "-c", "c.json"])
        .assert()
        .success()
        .stdout(format!("{{\"n\":22,\"pad\":\"{}\"}}\n", "b".repeat(64)));
    assert_eq!(snapshot(&ro), before);
}
