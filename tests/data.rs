//! The data subcommands from the shell's side: output, paths, file format,
//! permissions and symlinks.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;

use crate::util::jlock;

#[test]
fn get_set_del_incr_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A missing file is an error for get (66), and creates nothing.
    jlock(d, &["get", "db.json"])
        .assert()
        .code(66)
        .stdout("")
        .stderr("jlock: db.json: no such file\njlock: hint: --default VALUE prints VALUE instead; set, incr, update (the writers) create it\n");
    assert!(crate::util::entries(d).is_empty());
    jlock(d, &["set", "db.json", ".owner", "ann", "--string"])
        .assert()
        .success();
    jlock(
        d,
        &[
            "set",
            "db.json",
            ".jobs[0]",
            "{\"name\": \"build\", \"ok\": true}",
        ],
    )
    .assert()
    .success();
    jlock(d, &["get", "db.json", ".owner"])
        .assert()
        .success()
        .stdout("\"ann\"\n");
    jlock(d, &["get", "-r", "db.json", ".owner"])
        .assert()
        .success()
        .stdout("ann\n");
    jlock(d, &["get", "db.json", ".jobs[0].name"])
        .assert()
        .success()
        .stdout("\"build\"\n");
    jlock(d, &["get", "db.json", ".missing"])
        .assert()
        .success()
        .stdout("null\n");
    jlock(d, &["incr", "db.json", ".runs", "--by", "3"])
        .assert()
        .success()
        .stdout("3\n");
    jlock(d, &["incr", "db.json", ".runs", "--by", "-0.5"])
        .assert()
        .success()
        .stdout("2.5\n");
    jlock(d, &["del", "db.json", ".jobs"])
        .assert()
        .success()
        .stdout("");
    assert_eq!(
        fs::read_to_string(d.join("db.json")).unwrap(),
        "{\n  \"owner\": \"ann\",\n  \"runs\": 2.5\n}\n"
    );
    jlock(d, &["set", "--compact", "db.json", ".", "[1,2]"])
        .assert()
        .success();
    assert_eq!(fs::read_to_string(d.join("db.json")).unwrap(), "[1,2]\n");
}

#[test]
fn update_replaces_the_document_with_the_commands_output() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("db.json"), "{\"n\": 1, \"tags\": [\"a\"]}").unwrap();
    jlock(
        dir.path(),
        &["update", "db.json", "--", "sed", "s/\"a\"/\"a\", \"b\"/"],
    )
    .assert()
    .success();
    jlock(dir.path(), &["get", "db.json", ".tags"])
        .assert()
        .success()
        .stdout("[\n  \"a\",\n  \"b\"\n]\n");
}

#[test]
fn permissions_survive_an_update_and_a_symlink_stays_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("data")).unwrap();
    fs::write(d.join("data/real.json"), "{\"n\": 1}").unwrap();
    fs::set_permissions(d.join("data/real.json"), fs::Permissions::from_mode(0o604)).unwrap();
    std::os::unix::fs::symlink("data/real.json", d.join("db.json")).unwrap();

    jlock(d, &["incr", "db.json", ".n"])
        .assert()
        .success()
        .stdout("2\n");
    jlock(d, &["update", "db.json", "--", "sed", "s/2/5/"])
        .assert()
        .success();

    assert!(fs::symlink_metadata(d.join("db.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(d.join("db.json")).unwrap(),
        std::path::Path::new("data/real.json")
    );
    assert_eq!(
        fs::read_to_string(d.join("data/real.json")).unwrap(),
        "{\"n\": 5}"
    );
    let mode = fs::metadata(d.join("data/real.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o604);
}

#[test]
fn help_documents_exit_codes_and_every_subcommand_has_an_example() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Exit codes:").and(predicates::str::contains("65")));
    for sub in ["run", "get", "set", "del", "incr", "update"] {
        jlock(dir.path(), &[sub, "--help"])
            .assert()
            .success()
            .stdout(
                predicates::str::contains("Examples:")
                    .and(predicates::str::contains(format!("jlock {sub}"))),
            );
    }
}
