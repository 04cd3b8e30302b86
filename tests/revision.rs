//! `jlock rev` and `--if-rev`: a compare-and-set from the shell — a write made only if the document is still at the revision the script read, else exit 4 and nothing written; real processes racing through it lose no update.

use std::fs;

use predicates::str::contains;

use crate::util::{jlock, run_loops_together};

fn rev(dir: &std::path::Path, file: &str) -> String {
    let out = jlock(dir, &["rev", file]).assert().success();
    String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn every_write_command_honours_if_rev() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A missing document has the revision of an empty one: "only if it
    // does not exist yet".
    let none = rev(d, "db.json");
    assert!(
        fs::read_dir(d).unwrap().next().is_none(),
        "rev of a missing document creates nothing (no db.json.lock)"
    );
    fs::write(d.join("empty.json"), "").unwrap();
    assert_eq!(rev(d, "empty.json"), none);
    jlock(d, &["set", "--if-rev", &none, "db.json", ".n", "1"])
        .assert()
        .success();
    jlock(d, &["set", "--if-rev", &none, "db.json", ".n", "9"])
        .assert()
        .code(4)
        .stderr(contains("db.json: the document changed since revision"));
    // The same bytes give the same revision; another byte, another one.
    let r1 = rev(d, "db.json");
    assert_eq!(rev(d, "db.json"), r1);
    assert_ne!(r1, none);
    type Cmd<'a> = (&'a [&'a str], Option<&'a str>);
    let writes: [Cmd; 6] = [
        (&["set", "db.json", ".s", "\"x\""], None),
        (&["incr", "db.json", ".n"], None),
        (&["del", "db.json", ".s"], None),
        (&["update", "db.json", "--", "cat"], None),
        (
            &["patch", "db.json"],
            Some(r#"[{"op": "add", "path": "/p", "value": 1}]"#),
        ),
        (&["patch", "--merge", "db.json"], Some(r#"{"p": null}"#)),
    ];
    for (args, stdin) in writes {
        let current = rev(d, "db.json");
        // A stale revision: exit 4, the file byte for byte as it was.
        let before = fs::read(d.join("db.json")).unwrap();
        let mut stale = vec![args[0], "--if-rev", &none];
        stale.extend_from_slice(&args[1..]);
        let mut cmd = jlock(d, &stale);
        if let Some(s) = stdin {
            cmd.write_stdin(s);
        }
        cmd.assert().code(4);
        assert_eq!(fs::read(d.join("db.json")).unwrap(), before, "{args:?}");
        // The current one: applied.
        let mut fresh = vec![args[0], "--if-rev", &current];
        fresh.extend_from_slice(&args[1..]);
        let mut cmd = jlock(d, &fresh);
        if let Some(s) = stdin {
            cmd.write_stdin(s);
        }
        cmd.assert().success();
    }
    assert_eq!(
        fs::read_to_string(d.join("db.json")).unwrap(),
        "{\n  \"n\": 2\n}\n"
    );
    // A token that no document has is a usage error; --if-rev on a read too.
    jlock(d, &["set", "--if-rev", "nope", "db.json", ".n", "1"])
        .assert()
        .code(64);
    jlock(d, &["get", "--if-rev", &none, "db.json"])
        .assert()
        .code(64);
}

/// Four shell loops each add 1 to a counter 25 times by read, compute,
/// write-if-unchanged, retrying on exit 4: no update is lost, in the
/// rename and the journal modes.
#[test]
fn racing_compare_and_set_loops_lose_no_update() {
    for mode in ["rename", "journal"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("c.json"), "{\"n\": 0}\n").unwrap();
        run_loops_together(d, 4, |_| {
            format!(
                r#"done=0; tries=0
                while [ $done -lt 25 ]; do
                  tries=$((tries + 1)); [ $tries -lt 100000 ] || exit 9
                  rev=$("$J" rev c.json) || exit 1
                  n=$("$J" get c.json .n) || exit 1
                  "$J" set --durability {mode} --if-rev "$rev" c.json .n $((n + 1))
                  case $? in 0) done=$((done + 1)) ;; 4) ;; *) exit 1 ;; esac
                done"#
            )
        });
        assert_eq!(
            fs::read_to_string(d.join("c.json")).unwrap().trim(),
            "{\"n\": 100}",
            "{mode}"
        );
    }
}
