//! Store behaviour seen from outside the crate: file format, errors that leave
//! the file untouched, permissions and symlinks, and — with real child
//! processes — no lost update under contention and no corrupt file after
//! `kill -9` at random moments.
//!
//! Child processes are this test binary run again with `--exact worker_child
//! --ignored`; the environment tells the child what to do.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jlock_core::{Durability, Error, JsonPath, Store};
use serde_json::{json, Value};

fn root() -> JsonPath {
    JsonPath::root()
}

fn p(s: &str) -> JsonPath {
    s.parse().unwrap()
}

#[test]
fn missing_and_empty_files_read_as_null_and_first_update_creates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.read().unwrap(), Value::Null);
    assert!(!path.exists(), "a read must not create the data file");
    fs::write(&path, "  \n").unwrap();
    assert_eq!(store.read().unwrap(), Value::Null);
    assert_eq!(store.incr(&root(), 1).unwrap(), 1.into());
    assert_eq!(fs::read_to_string(&path).unwrap(), "1\n");
    assert!(dir.path().join("c.json.lock").exists());
}

#[test]
fn writes_keep_key_order_pretty_with_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    fs::write(&path, r#"{"zeta": 1, "alpha": {"b": 2, "a": 3}}"#).unwrap();
    let store = Store::open(&path).unwrap();
    store.set(&p(".mid"), json!("x")).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\n  \"zeta\": 1,\n  \"alpha\": {\n    \"b\": 2,\n    \"a\": 3\n  },\n  \"mid\": \"x\"\n}\n"
    );
    let compact = Store::builder(&path).pretty(false).open().unwrap();
    compact.incr(&p("/alpha/a"), 1).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"zeta\":1,\"alpha\":{\"b\":2,\"a\":4},\"mid\":\"x\"}\n"
    );
}

#[test]
fn set_creates_intermediates_and_delete_removes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("d.json")).unwrap();
    store.set(&p(".a.b[1]"), json!(true)).unwrap();
    assert_eq!(store.read().unwrap(), json!({"a": {"b": [null, true]}}));
    assert_eq!(store.get(&p("/a/b/1")).unwrap(), Some(json!(true)));
    assert_eq!(store.get(&p(".a.nope")).unwrap(), None);
    assert!(store.delete(&p(".a.b")).unwrap());
    assert!(!store.delete(&p(".a.b")).unwrap());
    assert_eq!(store.read().unwrap(), json!({"a": {}}));
}

#[test]
fn incr_counts_from_zero_adds_floats_and_refuses_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.json");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.incr(&p(".hits"), 5).unwrap(), 5.into());
    assert_eq!(store.incr(&p(".hits"), -7).unwrap(), (-2).into());
    let half = serde_json::Number::from_f64(0.5).unwrap();
    assert_eq!(store.incr(&p(".hits"), half).unwrap().as_f64(), Some(-1.5));
    store.set(&p(".big"), json!(i64::MAX)).unwrap();
    let before = fs::read(&path).unwrap();
    let err = store.incr(&p(".big"), 1).unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn bad_data_is_an_error_and_leaves_the_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let store = Store::open(&path).unwrap();

    fs::write(&path, "{\n  \"count\": 1,\n  oops\n}\n").unwrap();
    let before = fs::read(&path).unwrap();
    let err = store.incr(&p(".count"), 1).unwrap_err();
    match &err {
        Error::InvalidJson { line, column, .. } => assert_eq!((*line, *column), (3, 3)),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert!(
        err.to_string().contains("bad.json:3:3: invalid JSON"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);

    fs::write(&path, "{\"name\": \"x\"}").unwrap();
    let before = fs::read(&path).unwrap();
    let err = store.incr(&p(".name"), 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongType {
                found: "a string",
                ..
            }
        ),
        "{err:?}"
    );
    let err = store.set(&p(".name.first"), json!(1)).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err:?}");
    let err: Error = store
        .update(|doc| {
            doc["name"] = json!("changed");
            Err::<(), _>(Error::BadPath {
                input: "caller".into(),
                reason: "closure failed".into(),
            })
        })
        .unwrap_err();
    assert!(matches!(err, Error::BadPath { .. }));
    assert_eq!(fs::read(&path).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "only data and lock file: {leftovers:?}");
}

#[test]
fn unchanged_document_is_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.json");
    fs::write(&path, "{\"a\":1}").unwrap(); // compact, no newline
    let store = Store::open(&path).unwrap();
    assert!(!store.delete(&p(".missing")).unwrap());
    assert_eq!(fs::read(&path).unwrap(), b"{\"a\":1}");
}

#[test]
fn permissions_survive_and_symlinks_stay_links() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    fs::write(&real, "1").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();

    let store = Store::open(&link).unwrap();
    assert_eq!(store.target(), real.as_path());
    assert_eq!(store.incr(&root(), 1).unwrap(), 2.into());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&real).unwrap(), "2\n");
    let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert!(dir.path().join("real.json.lock").exists());
}

#[test]
fn stale_temp_file_from_a_crashed_writer_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let stale = dir.path().join(".s.json.jlock-tmp");
    fs::write(&stale, "{ half a docu").unwrap();
    let store = Store::open(&path).unwrap();
    store.incr(&root(), 1).unwrap();
    assert!(!stale.exists());
    assert_eq!(fs::read_to_string(&path).unwrap(), "1\n");
}

#[test]
fn typed_update_and_read() {
    #[derive(Default, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Stock {
        count: u32,
        sold: Vec<String>,
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.json")).unwrap();
    store
        .update_as(|s: &mut Stock| {
            s.count = 2;
            Ok::<_, Error>(())
        })
        .unwrap();
    store
        .update_as(|s: &mut Stock| {
            s.count -= 1;
            s.sold.push("ann".into());
            Ok::<_, Error>(())
        })
        .unwrap();
    let got: Stock = store.read_as().unwrap();
    assert_eq!(
        got,
        Stock {
            count: 1,
            sold: vec!["ann".into()]
        }
    );
    fs::write(store.path(), "[1, 2]").unwrap();
    let err = store.read_as::<Stock>().unwrap_err();
    assert!(matches!(err, Error::Convert { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// Real processes.

/// What a worker child does, from the environment its parent set.
/// Ignored in normal runs: it is the body of child processes, not a test.
#[test]
#[ignore = "child-process body, run by the multi-process tests"]
fn worker_child() {
    let path = PathBuf::from(std::env::var("JLOCK_WORKER_FILE").expect("worker env"));
    let ops: u64 = std::env::var("JLOCK_WORKER_OPS").unwrap().parse().unwrap();
    let durability: Durability = std::env::var("JLOCK_WORKER_DURABILITY")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::builder(&path).durability(durability).open().unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    // Barrier: wait for the parent's go (one byte on stdin).
    let mut go = [0u8; 1];
    std::io::stdin().read_exact(&mut go).unwrap();
    let mut i = 0;
    while ops == 0 || i < ops {
        let n = store
            .update(|doc| {
                // A document bigger than a page, so a write is not one page.
                let n = doc["n"].as_i64().unwrap_or(0) + 1;
                doc["n"] = json!(n);
                doc["pad"] = json!("x".repeat(6000));
                Ok::<_, Error>(n)
            })
            .unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

struct Worker {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

fn spawn_worker(file: &Path, ops: u64, durability: Durability) -> Worker {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker_child", "--ignored", "--nocapture", "-q"])
        .env("JLOCK_WORKER_FILE", file)
        .env("JLOCK_WORKER_OPS", ops.to_string())
        .env("JLOCK_WORKER_DURABILITY", durability.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "worker died before ready"
        );
        if line.trim() == "ready" {
            break;
        }
    }
    Worker { child, stdout }
}

impl Worker {
    fn go(&mut self) {
        self.child.stdin.as_mut().unwrap().write_all(b"g").unwrap();
    }

    /// Reads acknowledgements until `count` have come; returns the last.
    fn read_acks(&mut self, count: usize) -> i64 {
        let mut last = 0;
        let mut seen = 0;
        let mut line = String::new();
        while seen < count {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "worker ended early"
            );
            if let Some(n) = line.trim().strip_prefix("ack ") {
                last = n.parse().unwrap();
                seen += 1;
            }
        }
        last
    }
}

#[test]
fn processes_updating_in_a_loop_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.json");
    let (procs, ops) = (6, 150);
    let mut workers: Vec<Worker> = (0..procs)
        .map(|_| spawn_worker(&file, ops, Durability::Rename))
        .collect();
    for w in &mut workers {
        w.go();
    }
    for w in &mut workers {
        w.read_acks(ops as usize);
        assert!(w.child.wait().unwrap().success());
    }
    let store = Store::open(&file).unwrap();
    assert_eq!(store.get(&p(".n")).unwrap(), Some(json!(procs * ops)));
}

/// A cheap pseudo-random sequence, seeded from the clock and printed, so a
/// failing run can be told apart from a lucky one.
fn rng_seed() -> u64 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill-timing seed: {seed}");
    seed
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn kill_writers_at_random_moments(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.json");
    let mut rng = rng_seed();
    for round in 0..25 {
        let mut w = spawn_worker(&file, 0, durability);
        w.go();
        // Let it commit a few updates, then kill it after a random delay,
        // most likely in the middle of another update.
        let mut last_ack = w.read_acks(1 + (next(&mut rng) % 5) as usize);
        std::thread::sleep(Duration::from_micros(next(&mut rng) % 3000));
        w.child.kill().unwrap(); // SIGKILL
        w.child.wait().unwrap();
        let mut rest = String::new();
        w.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.lines() {
            if let Some(n) = line.strip_prefix("ack ") {
                last_ack = n.parse().unwrap();
            }
        }
        // The file parses, with the last acknowledged value or the one
        // after it (committed, killed before it could say so).
        let text = fs::read_to_string(&file).unwrap();
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("round {round}: unparsable after kill: {e}"));
        let n = doc["n"].as_i64().unwrap();
        assert!(
            n == last_ack || n == last_ack + 1,
            "round {round}: file has {n}, last acknowledged {last_ack}"
        );
        // The next writer is not tripped up by anything left behind.
        let store = Store::builder(&file).durability(durability).open().unwrap();
        assert_eq!(store.incr(&p(".n"), 1).unwrap(), (n + 1).into());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.contains("jlock-tmp")),
            "round {round}: temp file left after a later update: {names:?}"
        );
    }
}

#[test]
fn writers_killed_at_random_never_corrupt_rename_mode() {
    kill_writers_at_random_moments(Durability::Rename);
}

#[test]
fn writers_killed_at_random_never_corrupt_fsync_mode() {
    kill_writers_at_random_moments(Durability::Fsync);
}
