//! Bad input: a clear message naming the file, the documented exit code, and
//! every file left byte-for-byte as it was.

use std::path::Path;

use predicates::str::contains;

use crate::util::{entries, jlock};

/// Runs `args` in a directory holding `db.json` = `content`, expecting exit
/// `code` and a message containing `message`; checks db.json is unchanged and
/// nothing but its lock file was added.
fn rejects(content: &str, args: &[&str], code: i32, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.json");
    std::fs::write(&file, content).unwrap();
    jlock(dir.path(), args)
        .assert()
        .code(code)
        .stdout("")
        .stderr(contains(message));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        content,
        "{args:?} changed the file"
    );
    let extra: Vec<String> = entries(dir.path())
        .into_iter()
        .filter(|n| n != "db.json" && n != "db.json.lock")
        .collect();
    assert!(extra.is_empty(), "{args:?} left {extra:?}");
}

const DOC: &str = "{\"name\": \"build\",   \"n\": 1}";

#[test]
fn invalid_json_in_the_file() {
    let broken = "{\n  \"n\": 1,\n  n: 2\n}\n";
    rejects(
        broken,
        &["incr", "db.json", ".n"],
        65,
        "db.json:3:3: invalid JSON",
    );
    rejects(broken, &["get", "db.json"], 65, "db.json:3:3");
    rejects(
        broken,
        &["update", "db.json", "--", "cat"],
        65,
        "db.json:3:3",
    );
}

#[test]
fn wrong_type_at_the_path() {
    rejects(
        DOC,
        &["incr", "db.json", ".name"],
        65,
        "db.json: at .name: expected a number, found a string",
    );
    rejects(
        DOC,
        &["set", "db.json", ".n.deeper", "1"],
        65,
        "expected an object, found a number",
    );
    rejects("1e999999999", &["incr", "db.json"], 65, "4096 digits");
}

#[test]
fn bad_path_value_or_number() {
    rejects(DOC, &["incr", "db.json", ".n["], 64, "bad path \".n[\"");
    rejects(DOC, &["set", "db.json", "/a~9", "1"], 64, "bad path");
    rejects(DOC, &["set", "db.json", ".n", "{oops"], 64, "not JSON");
    rejects(
        DOC,
        &["incr", "db.json", "--by", "two"],
        64,
        "--by \"two\" is not a number",
    );
    rejects(
        DOC,
        &["frobnicate", "db.json"],
        64,
        "unrecognized subcommand",
    );
}

#[test]
fn update_command_that_fails_or_prints_non_json() {
    rejects(
        DOC,
        &[
            "update",
            "db.json",
            "--",
            "sh",
            "-c",
            "cat >/dev/null; exit 3",
        ],
        3,
        "sh failed (exit 3)",
    );
    rejects(
        DOC,
        &["update", "db.json", "--", "sh", "-c", "echo '{\"n\": '"],
        65,
        "db.json: not updated: sh printed invalid JSON",
    );
    rejects(
        DOC,
        &["update", "db.json", "--", "echo", "1", "2"],
        65,
        "more than one JSON document",
    );
    rejects(
        DOC,
        &["update", "db.json", "--", "true"],
        65,
        "printed nothing",
    );
    rejects(
        DOC,
        &["update", "db.json", "--", "./not-there"],
        127,
        "not-there",
    );
}

#[test]
fn lock_file_that_cannot_be_created() {
    rejects(
        DOC,
        &["incr", "db.json", "--lock-file", "no/such/dir/x.lock"],
        74,
        "no/such/dir/x.lock: open lock file",
    );
    // Not writable: /proc refuses new files even to root.
    rejects(
        DOC,
        &[
            "set",
            "db.json",
            ".n",
            "2",
            "--lock-file",
            "/proc/jlock-test.lock",
        ],
        74,
        "/proc/jlock-test.lock",
    );
    // A path through a regular file.
    rejects(
        DOC,
        &["del", "db.json", ".n", "--lock-file", "db.json/x.lock"],
        74,
        "db.json/x.lock",
    );
    rejects(
        DOC,
        &["run", "no/such/dir/x.lock", "true"],
        74,
        "no/such/dir/x.lock",
    );
}

#[test]
fn data_file_in_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    jlock(dir.path(), &["incr", "nowhere/c.json"])
        .assert()
        .code(74)
        .stderr(contains("nowhere/c.json.lock"));
    assert!(!Path::new(&dir.path().join("nowhere")).exists());
}
