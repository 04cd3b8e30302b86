//! What an edit changes, through the `jlock` binary: exactly what it
//! touches — numbers keep their digits, the file keeps its layout, `incr`
//! adds exactly, and every limit is a clear error that leaves the file as
//! it was.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use predicates::str::contains;

use crate::util::jlock;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// `jlock ARGS` succeeds and prints `out`.
fn ok(dir: &Path, args: &[&str], out: &str) {
    jlock(dir, args).assert().success().stdout(out.to_string());
}

#[test]
fn an_edit_of_one_key_changes_no_other_number() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "{\n    \"f\": 0.9999999999999999,\n    \"big\": 12345678901234567890123,\n    \
                \"ids\": [99999999999999999999, 100000000000000000001],\n    \"e\": 1E2,\n    \
                \"z\": -0,\n    \"huge\": 1e400,\n    \"tiny\": 2.4e-324\n}\n";
    write(d, "c.json", text);
    ok(d, &["set", "c.json", ".k", "1"], "");
    ok(d, &["del", "c.json", ".k"], "");
    assert_eq!(read(d, "c.json"), text);
    ok(d, &["get", "c.json", ".ids[0]"], "99999999999999999999\n");
    // `get` prints a number as the file spells it.
    ok(d, &["get", "c.json", ".huge"], "1e400\n");
    ok(d, &["get", "c.json", ".e"], "1E2\n");
    // VALUE keeps its digits too.
    ok(
        d,
        &["set", "c.json", ".ids[1]", "100000000000000000002"],
        "",
    );
    assert_eq!(
        read(d, "c.json"),
        text.replace("100000000000000000001", "100000000000000000002")
    );
}

#[test]
fn set_then_del_gives_back_the_original_bytes_in_any_layout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layouts = [
        "{\"a\":1,\"b\":[1,2,3]}",
        "{\r\n\t\"a\": 1,\r\n\t\"b\": [1, 2, 3]\r\n}\r\n",
        "{\n    \"a\": \"\\u00e9\\/\",\n    \"a\": 2,\n    \"b\": {}\n}\n",
        "\u{feff}{ \"a\" : 1 , \"b\" : [ ] }\n",
        "  [ 1 ,\n 2 ]  ",
    ];
    for text in layouts {
        write(d, "c.json", text);
        let path = if text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('[')
        {
            ".[2]"
        } else {
            ".k"
        };
        ok(d, &["set", "c.json", path, "{\"x\": [1, 2]}"], "");
        assert_ne!(read(d, "c.json"), text);
        ok(d, &["del", "c.json", path], "");
        assert_eq!(read(d, "c.json"), text, "{text:?}");
    }
}

#[test]
fn a_new_member_is_laid_out_like_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.json", "{\n\t\"a\": 1\n}");
    ok(d, &["set", "c.json", ".b", "[1,2]"], "");
    assert_eq!(
        read(d, "c.json"),
        "{\n\t\"a\": 1,\n\t\"b\": [\n\t\t1,\n\t\t2\n\t]\n}"
    );
    write(d, "d.json", "{\"a\": 1, \"z\": 0}\n");
    ok(d, &["set", "d.json", ".b", "{\"c\":2}"], "");
    assert_eq!(
        read(d, "d.json"),
        "{\"a\": 1, \"z\": 0, \"b\": {\"c\": 2}}\n"
    );
    // The only member gives no comma to copy: its colon's spacing is followed.
    write(d, "e.json", "{\"a\": 1}");
    ok(d, &["set", "e.json", ".b", "2"], "");
    assert_eq!(read(d, "e.json"), "{\"a\": 1, \"b\": 2}");
    ok(d, &["del", "e.json", ".b"], "");
    assert_eq!(read(d, "e.json"), "{\"a\": 1}");
    // A new file starts pretty-printed, as always.
    ok(d, &["set", "new.json", ".a", "1"], "");
    assert_eq!(read(d, "new.json"), "{\n  \"a\": 1\n}\n");
    // Restyling is asked for explicitly.
    ok(d, &["set", "--compact", "c.json", ".a", "2"], "");
    assert_eq!(read(d, "c.json"), "{\"a\":2,\"b\":[1,2]}\n");
    ok(d, &["set", "--pretty", "c.json", ".a", "3"], "");
    assert_eq!(
        read(d, "c.json"),
        "{\n  \"a\": 3,\n  \"b\": [\n    1,\n    2\n  ]\n}\n"
    );
}

#[test]
fn update_rewrites_only_what_the_command_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "{\n    \"n\": 1,\n    \"price\": 1.10,\n    \"list\": [1, 2, 3],\n    \"s\": \"\\u00e9\"\n}\n";
    write(d, "c.json", text);
    ok(d, &["update", "c.json", "--", "jq", ".n += 1"], "");
    assert_eq!(read(d, "c.json"), text.replace("\"n\": 1", "\"n\": 2"));
    // Equal values: nothing is written at all (same inode, same bytes).
    let before = fs::metadata(d.join("c.json")).unwrap();
    ok(d, &["update", "c.json", "--", "cat"], "");
    ok(d, &["update", "c.json", "--", "jq", "."], "");
    let after = fs::metadata(d.join("c.json")).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
}

#[test]
fn incr_adds_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for _ in 0..10 {
        jlock(d, &["incr", "c.json", "--by", "0.1"])
            .assert()
            .success();
    }
    assert_eq!(read(d, "c.json"), "1\n");
    write(d, "p.json", "0.1");
    ok(d, &["incr", "p.json", "--by", "0.2"], "0.3\n");
    write(d, "b.json", "{\"id\": 12345678901234567890123}");
    ok(d, &["incr", "b.json", ".id"], "12345678901234567890124\n");
    assert_eq!(read(d, "b.json"), "{\"id\": 12345678901234567890124}");
    write(d, "u.json", "18446744073709551615");
    ok(d, &["incr", "u.json"], "18446744073709551616\n");
    ok(
        d,
        &["incr", "u.json", "--by", "99999999999999999999"],
        "118446744073709551615\n",
    );
    // Bounded: a sum that would take unbounded digits is an error, not work.
    write(d, "e.json", "1e999999999\n");
    jlock(d, &["incr", "e.json"])
        .assert()
        .code(65)
        .stderr(contains("4096 digits"));
    assert_eq!(read(d, "e.json"), "1e999999999\n");
}

/// `jlock ARGS` on `c.json` = `text` fails with `code`, leaving the file as it was.
fn refused(text: &str, args: &[&str], code: i32, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.json", text);
    jlock(d, args)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(code)
        .stderr(contains(says));
    assert_eq!(read(d, "c.json"), text, "{args:?}");
}

#[test]
fn limits_are_usage_errors_that_change_nothing() {
    let deep = ".a".repeat(200);
    refused("{}", &["set", "c.json", &deep, "1"], 64, "deeper than");
    let deep_value = format!("{}{}", "[".repeat(200), "]".repeat(200));
    refused(
        "{}",
        &["set", "c.json", ".a", &deep_value],
        64,
        "deeper than 128",
    );
    refused(
        "{\"a\": []}",
        &["set", "c.json", ".a[100000000]", "1"],
        64,
        "past the end",
    );
    refused(
        "{\"a\": []}",
        &["set", "c.json", ".a[9223372036854775807]", "1"],
        64,
        "past the end",
    );
    refused(
        "{\"a\": []}",
        &["set", "c.json", "/a/1000000000000", "1"],
        64,
        "past the end",
    );
    refused("{\"arr\": [1]}", &["del", "c.json", "/arr/x"], 65, "arr");
    refused("{\"arr\": [1]}", &["del", "c.json", "/arr/01"], 65, "arr");
    refused("\u{c}", &["incr", "c.json"], 65, "invalid JSON");
    refused(
        "{}",
        &["incr", "c.json", "--lock-file", "c.json"],
        64,
        "lock file",
    );
}

#[test]
fn a_deep_file_is_read_up_to_the_limit_jlock_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let past_limit = format!("{}{}", "[".repeat(129), "]".repeat(129));
    write(d, "c.json", &past_limit);
    jlock(d, &["get", "c.json"]).assert().code(65);
    let at_limit = format!("{}{}", "[".repeat(128), "]".repeat(128));
    write(d, "c.json", &at_limit);
    jlock(d, &["get", "c.json"]).assert().success();
    // The deepest document jlock writes is one it reads back.
    let path = ".a".repeat(127);
    jlock(d, &["set", "n.json", &path, "[]"]).assert().success();
    jlock(d, &["get", "n.json"]).assert().success();
}

#[test]
fn a_byte_order_mark_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.json", "\u{feff}{\"n\": 1}\n");
    ok(d, &["incr", "c.json", ".n"], "2\n");
    assert_eq!(read(d, "c.json"), "\u{feff}{\"n\": 2}\n");
}

#[test]
fn an_update_command_that_prints_without_end_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.json", "{\"n\": 1}\n");
    // Unbounded output: read up to the bound, then the command is killed.
    jlock(
        d,
        &["update", "c.json", "--", "sh", "-c", "yes 1 | tr -d '\\n'"],
    )
    .timeout(std::time::Duration::from_secs(120))
    .assert()
    .code(65)
    .stderr(contains("printed more than 256 MiB"));
    assert_eq!(read(d, "c.json"), "{\"n\": 1}\n");
    // Its output is read with the data file's grammar: nesting past the limit
    // is refused the same way, not with a parser's internal message.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    jlock(d, &["update", "c.json", "--", "echo", &deep])
        .assert()
        .code(65)
        .stderr(contains("deeper than 128"));
    assert_eq!(read(d, "c.json"), "{\"n\": 1}\n");
}

#[test]
fn what_is_not_a_regular_file_gets_no_lock_file_and_hard_links_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("f.json"))
        .status()
        .unwrap();
    assert!(made.success());
    fs::create_dir(d.join("dir.json")).unwrap();
    for file in ["f.json", "dir.json"] {
        jlock(d, &["set", file, ".a", "1"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(74);
        assert!(!d.join(format!("{file}.lock")).exists(), "{file}");
    }
    write(d, "h.json", "{\"n\": 1}\n");
    fs::hard_link(d.join("h.json"), d.join("h2.json")).unwrap();
    jlock(d, &["incr", "--durability", "journal", "h.json", ".n"])
        .assert()
        .code(74)
        .stderr(contains("2 hard links"));
    assert_eq!(read(d, "h2.json"), "{\"n\": 1}\n");
    assert!(!d.join(".h.json.jlock-journal").exists());
}

/// Every file of JSONTestSuite's `test_parsing` through the binary: what
/// must be accepted is read (`get`, exit 0) and edited (`set` of a new key
/// or element, exit 0, then `del` gives back the bytes); what must be
/// refused is exit 65 naming the file with a line and column, for `get`
/// and `set` alike, the file byte for byte as it was. Nothing crashes.
#[test]
fn jsontestsuite_through_the_binary() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/json/tests/data/JSONTestSuite/test_parsing");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut names: Vec<_> = fs::read_dir(&suite)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 318);
    for name in names {
        let bytes = fs::read(suite.join(&name)).unwrap();
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let blank = body.iter().all(|b| b" \t\r\n".contains(b));
        fs::write(d.join("f.json"), &bytes).unwrap();
        let accepted = jlock_json::check(&bytes).is_ok();
        let get = jlock(d, &["get", "f.json", "."]).output().unwrap();
        let code = get.status.code();
        if name.starts_with("y_") || (accepted && name.starts_with("i_")) || blank {
            assert!(accepted, "{name}");
            assert_eq!(
                code,
                Some(0),
                "{name}: {}",
                String::from_utf8_lossy(&get.stderr)
            );
            let (path, back) = match body.iter().find(|b| !b" \t\r\n".contains(b)) {
                Some(b'{') => (".added_by_test", ".added_by_test"),
                Some(b'[') => ("/-", ""),
                _ => continue, // a scalar root has no place to add to
            };
            let len = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.as_array().map(Vec::len));
            let set = jlock(d, &["set", "f.json", path, "7"]).output().unwrap();
            assert_eq!(
                set.status.code(),
                Some(0),
                "{name}: {}",
                String::from_utf8_lossy(&set.stderr)
            );
            let del_path = match len {
                Some(n) => format!("/{n}"),
                None => back.to_string(),
            };
            jlock(d, &["del", "f.json", &del_path]).assert().success();
            assert_eq!(
                fs::read(d.join("f.json")).unwrap(),
                bytes,
                "{name}: set + del"
            );
        } else {
            assert!(!accepted, "{name}");
            assert_eq!(
                code,
                Some(65),
                "{name}: {}",
                String::from_utf8_lossy(&get.stderr)
            );
            let err = String::from_utf8_lossy(&get.stderr).into_owned();
            assert!(
                err.contains("f.json:") && err.contains("invalid JSON"),
                "{name}: {err}"
            );
            jlock(d, &["set", "f.json", ".k", "1"]).assert().code(65);
            jlock(d, &["incr", "f.json", ".k"]).assert().code(65);
            assert_eq!(
                fs::read(d.join("f.json")).unwrap(),
                bytes,
                "{name}: changed"
            );
        }
    }
}

/// New numbers are written as the text they came from spelled them: a
/// VALUE, an `update` command's output; restyling keeps the file's own.
#[test]
fn new_numbers_keep_the_spelling_they_were_typed_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "f.json", "{\"a\": 1}");
    ok(d, &["set", "f.json", ".x", "1E2"], "");
    ok(
        d,
        &["set", "f.json", ".y", "[1.50, -0, 2E-3, 4e5, 6E+7]"],
        "",
    );
    assert_eq!(
        read(d, "f.json"),
        "{\"a\": 1, \"x\": 1E2, \"y\": [1.50, -0, 2E-3, 4e5, 6E+7]}"
    );
    // One held number spelled two ways in one text: written as held.
    ok(d, &["set", "f.json", ".z", "[1E0, 1e0]"], "");
    assert!(read(d, "f.json").ends_with("\"z\": [1e+0, 1e+0]}"));
    write(d, "g.json", "{\"n\": 1, \"k\": 3E1}\n");
    ok(
        d,
        &[
            "update",
            "g.json",
            "--",
            "sh",
            "-c",
            "echo '{\"n\": 1E2, \"k\": 30, \"m\": 5e-1}'",
        ],
        "",
    );
    assert_eq!(read(d, "g.json"), "{\"n\": 1E2, \"k\": 3E1, \"m\": 5e-1}\n");
    ok(d, &["set", "--compact", "g.json", ".q", "2E0"], "");
    assert_eq!(
        read(d, "g.json"),
        "{\"n\":1E2,\"k\":3E1,\"m\":5e-1,\"q\":2E0}\n"
    );
    // `get` prints them as the file spells them, by a path or whole.
    ok(d, &["get", "g.json", ".n"], "1E2\n");
    ok(
        d,
        &["get", "g.json"],
        "{\n  \"n\": 1E2,\n  \"k\": 3E1,\n  \"m\": 5e-1,\n  \"q\": 2E0\n}\n",
    );
}
