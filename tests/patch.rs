//! `jlock patch`: RFC 6902 JSON Patch and RFC 7396 Merge Patch through the binary — lossless, all or nothing, with distinct exit codes, and serialized across processes.

use std::fs;

use predicates::prelude::*;
use predicates::str::contains;

use crate::util::{jlock, run_loops_together};

#[test]
fn a_patch_rewrites_only_what_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("db.json"),
        "{\n\t\"price\": 1.50,\n\t\"id\": 12345678901234567890123,\n\t\"tags\": [\"a\", \"b\"]\n}\n",
    )
    .unwrap();
    fs::write(
        d.join("ops.json"),
        r#"[{"op": "test", "path": "/price", "value": 1.5},
            {"op": "replace", "path": "/price", "value": 2.50},
            {"op": "move", "from": "/tags/0", "path": "/tags/-"},
            {"op": "add", "path": "/n", "value": 1E3}]"#,
    )
    .unwrap();
    jlock(d, &["patch", "db.json", "ops.json"])
        .assert()
        .success()
        .stdout("");
    assert_eq!(
        fs::read_to_string(d.join("db.json")).unwrap(),
        "{\n\t\"price\": 2.50,\n\t\"id\": 12345678901234567890123,\n\t\"tags\": [\"b\", \"a\"],\n\t\"n\": 1E3\n}\n"
    );
    // From stdin, and a Merge Patch.
    jlock(d, &["patch", "--merge", "db.json"])
        .write_stdin(r#"{"tags": null, "owner": {"name": "ci"}}"#)
        .assert()
        .success();
    jlock(d, &["patch", "db.json", "-"])
        .write_stdin(r#"[{"op": "copy", "from": "/owner/name", "path": "/by"}]"#)
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(d.join("db.json")).unwrap(),
        "{\n\t\"price\": 2.50,\n\t\"id\": 12345678901234567890123,\n\t\"n\": 1E3,\n\t\"owner\": {\n\t\t\"name\": \"ci\"\n\t},\n\t\"by\": \"ci\"\n}\n"
    );
}

/// Every failure writes nothing, names the operation, and has its code: 4
/// for a failed test, 65 for a path that is not there, 64 for a patch that
/// is not one.
#[test]
fn a_patch_that_fails_anywhere_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = "{\"v\": 3, \"list\": [1]}\n";
    fs::write(d.join("db.json"), original).unwrap();
    let cases: [(&str, i32, &str); 6] = [
        (
            r#"[{"op": "add", "path": "/w", "value": 1}, {"op": "test", "path": "/v", "value": 4}]"#,
            4,
            "patch operation 1 (test at \"/v\") failed",
        ),
        (
            r#"[{"op": "add", "path": "/w", "value": 1}, {"op": "remove", "path": "/nope"}]"#,
            65,
            "patch operation 1 (remove at \"/nope\"): there is no value there",
        ),
        (
            r#"[{"op": "add", "path": "/list/5", "value": 1}]"#,
            65,
            "index 5 is past the end",
        ),
        (
            r#"[{"op": "frobnicate", "path": "/v"}]"#,
            64,
            "operation 0: unknown op",
        ),
        (r#"{"op": "add"}"#, 64, "a JSON Patch is an array"),
        ("[1,", 64, "the patch is not JSON"),
    ];
    for (patch, code, message) in cases {
        jlock(d, &["patch", "db.json"])
            .write_stdin(patch)
            .assert()
            .code(code)
            .stderr(contains(message))
            .stderr(contains("db.json").or(contains("-: ")));
        assert_eq!(
            fs::read_to_string(d.join("db.json")).unwrap(),
            original,
            "{patch}"
        );
    }
    // A patch file that does not exist: nothing is touched, not even the lock file.
    jlock(d, &["patch", "new.json", "no-such-patch.json"])
        .assert()
        .code(74)
        .stderr(contains("no-such-patch.json"));
    assert!(!d.join("new.json.lock").exists() && !d.join("new.json").exists());
}

/// Four processes each append 50 elements by patch: every one is there,
/// once — each patch is one update under the lock.
#[test]
fn patches_from_many_processes_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("db.json"), "{\"items\": []}\n").unwrap();
    run_loops_together(d, 4, |_| {
        r#"n=0; while [ $n -lt 50 ]; do
             echo "[{\"op\": \"add\", \"path\": \"/items/-\", \"value\": \"$I-$n\"}]" | "$J" patch db.json || exit 1
             n=$((n + 1))
           done"#
            .to_string()
    });
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("db.json")).unwrap()).unwrap();
    let mut items: Vec<String> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(items.len(), 200);
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 200, "an element was added twice or lost");
}

/// Found by an adversarial pass: an empty merge patch (empty stdin, an empty
/// file, white space) replaced the document with `null`; a patch nesting the
/// document 20,000 deep crashed the renderer; `/dev/zero` as PATCH was read
/// without end. Each is now refused with 64 and the file left as it was.
#[test]
fn empty_deep_and_endless_patches_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = "{\"users\": {\"alice\": 1}, \"c\": {}}\n";
    fs::write(d.join("db.json"), original).unwrap();
    fs::write(d.join("empty"), "").unwrap();
    for (args, stdin) in [
        (&["patch", "--merge", "db.json"][..], ""),
        (&["patch", "--merge", "db.json"], " \n"),
        (&["patch", "--merge", "db.json", "empty"], ""),
        (&["patch", "db.json"], ""),
    ] {
        jlock(d, args)
            .write_stdin(stdin)
            .assert()
            .code(64)
            .stderr(contains("the patch is empty"));
        assert_eq!(fs::read_to_string(d.join("db.json")).unwrap(), original);
    }
    let round = r#"{"op": "add", "path": "/n", "value": {}}, {"op": "move", "from": "/c", "path": "/n/c"}, {"op": "move", "from": "/n", "path": "/c"}"#;
    let deep = format!("[{}]", vec![round; 20_000].join(", "));
    fs::write(d.join("deep.json"), deep).unwrap();
    for extra in [&[][..], &["--compact"]] {
        let mut args = vec!["patch"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["db.json", "deep.json"]);
        jlock(d, &args)
            .assert()
            .code(64)
            .stderr(contains("deeper than 128 levels"));
        assert_eq!(fs::read_to_string(d.join("db.json")).unwrap(), original);
    }
    jlock(d, &["patch", "db.json", "/dev/zero"])
        .assert()
        .code(64)
        .stderr(contains("larger than 256 MiB"));
    assert_eq!(fs::read_to_string(d.join("db.json")).unwrap(), original);
}

#[test]
fn a_failing_patch_on_a_missing_document_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    jlock(d, &["patch", "new.json", "-"])
        .write_stdin(r#"[{"op": "test", "path": "/a", "value": 1}]"#)
        .assert()
        .code(4)
        .stderr(contains("new.json: patch operation 0 (test at \"/a\")"));
    jlock(d, &["patch", "new.json", "-"])
        .write_stdin(r#"[{"op": "remove", "path": "/a"}]"#)
        .assert()
        .code(predicate::ne(0));
    assert!(
        fs::read_dir(d).unwrap().next().is_none(),
        "no data file and no lock file was made"
    );
    // One that succeeds creates the document as usual.
    jlock(d, &["patch", "new.json", "-"])
        .write_stdin(r#"[{"op": "add", "path": "", "value": {"a": 1}}]"#)
        .assert()
        .success();
    jlock(d, &["get", "new.json", ".a"]).assert().stdout("1\n");
}
