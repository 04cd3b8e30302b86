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
use jlock_json::Error as JsonError;
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
fn writes_keep_key_order_and_layout_or_restyle_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    fs::write(&path, r#"{"zeta": 1, "alpha": {"b": 2, "a": 3}}"#).unwrap();
    let store = Store::open(&path).unwrap();
    store.set(&p(".mid"), json!("x")).unwrap();
    // By default only what changed is written: the one-line layout stays.
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        r#"{"zeta": 1, "alpha": {"b": 2, "a": 3}, "mid": "x"}"#
    );
    let pretty = Store::builder(&path).pretty(true).open().unwrap();
    pretty.set(&p(".mid"), json!("x")).unwrap();
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
fn incr_counts_from_zero_adds_exactly_and_bounds_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.json");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.incr(&p(".hits"), 5).unwrap(), 5.into());
    assert_eq!(store.incr(&p(".hits"), -7).unwrap(), (-2).into());
    let half = serde_json::Number::from_f64(0.5).unwrap();
    assert_eq!(store.incr(&p(".hits"), half).unwrap().to_string(), "-1.5");
    // No 64-bit limit: integers of any size add exactly.
    store.set(&p(".big"), json!(i64::MAX)).unwrap();
    assert_eq!(
        store.incr(&p(".big"), 1).unwrap().to_string(),
        "9223372036854775808"
    );
    // A sum that would need unbounded digits is an error, file untouched.
    fs::write(&path, "{\"huge\": 1e999999999}").unwrap();
    let before = fs::read(&path).unwrap();
    let err = store.incr(&p(".huge"), 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                error: JsonError::Overflow { .. },
                ..
            }
        ),
        "{err:?}"
    );
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
        Error::Json {
            error: JsonError::InvalidJson { line, column, .. },
            ..
        } => assert_eq!((*line, *column), (3, 3)),
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
            Error::Json {
                error: JsonError::WrongType {
                    found: "a string",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    let err = store.set(&p(".name.first"), json!(1)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                error: JsonError::WrongType { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let err: Error = store
        .update(|doc| {
            doc["name"] = json!("changed");
            Err::<(), _>(Error::from(JsonError::BadPath {
                input: "caller".into(),
                reason: "closure failed".into(),
            }))
        })
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Json {
            error: JsonError::BadPath { .. },
            path: None
        }
    ));
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
    assert_eq!(fs::read_to_string(&real).unwrap(), "2");
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
    let pad: usize = std::env::var("JLOCK_WORKER_PAD").unwrap().parse().unwrap();
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
                // Every byte of the document changes with every update, so a
                // write cut short leaves a visibly mixed file.
                doc["pad"] = json!(pad_for(n, pad));
                // The store serializes and writes from here on.
                let mut w = std::io::stdout();
                w.write_all(b"writing\n").and_then(|()| w.flush()).unwrap();
                Ok::<_, Error>(n)
            })
            .unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

/// The padding of the document whose counter is `n`: `pad` copies of one
/// letter that changes with `n`.
fn pad_for(n: i64, pad: usize) -> String {
    let letter = char::from(b'a' + (n % 26) as u8);
    std::iter::repeat_n(letter, pad).collect()
}

struct Worker {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

fn spawn_worker(file: &Path, ops: u64, durability: Durability) -> Worker {
    spawn_worker_padded(file, ops, durability, 6000)
}

fn spawn_worker_padded(file: &Path, ops: u64, durability: Durability, pad: usize) -> Worker {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker_child", "--ignored", "--nocapture", "-q"])
        .env("JLOCK_WORKER_FILE", file)
        .env("JLOCK_WORKER_OPS", ops.to_string())
        .env("JLOCK_WORKER_DURABILITY", durability.as_str())
        .env("JLOCK_WORKER_PAD", pad.to_string())
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

    /// Reads until the worker says it is about to write an update.
    fn await_writing(&mut self) {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "worker ended early"
            );
            if line.trim() == "writing" {
                return;
            }
        }
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

/// `procs` worker processes, released together, each make `ops` updates in
/// `durability` mode; the count must be exact.
fn no_update_lost(durability: Durability, procs: u64, ops: u64) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.json");
    let mut workers: Vec<Worker> = (0..procs)
        .map(|_| spawn_worker(&file, ops, durability))
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

#[test]
fn processes_updating_in_a_loop_lose_no_update() {
    no_update_lost(Durability::Rename, 6, 150);
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

/// Kills writers of a document of `pad` bytes, `rounds` times, each at a
/// random moment while the store serializes and writes an update: the
/// worker says when its closure is done; the parent times that phase once,
/// then kills at a random point of its second half (where the writes are) in
/// the next update.
fn kill_writers_at_random_moments(durability: Durability, pad: usize, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.json");
    let mut rng = rng_seed();
    let mut torn = 0;
    for round in 0..rounds {
        let mut w = spawn_worker_padded(&file, 0, durability, pad);
        w.go();
        // Let it commit a few updates, then kill it after a random delay,
        // most likely in the middle of another update.
        // Time the second update: the first may also allocate the files.
        w.await_writing();
        w.read_acks(1);
        w.await_writing();
        let start = std::time::Instant::now();
        let mut last_ack = w.read_acks(1);
        let phase = start.elapsed().as_micros() as u64 + 1;
        w.await_writing();
        // Mostly in the last fifth of the phase, where the bytes are written.
        let at = phase / 2 + next(&mut rng) % (phase * 3 / 4 + 1);
        std::thread::sleep(Duration::from_micros(at));
        w.child.kill().unwrap(); // SIGKILL
        w.child.wait().unwrap();
        let mut rest = String::new();
        w.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.lines() {
            if let Some(n) = line.strip_prefix("ack ") {
                last_ack = n.parse().unwrap();
            }
        }
        // Every reader that takes the lock sees the last acknowledged value
        // or the one after it (committed, killed before it could say so).
        let store = Store::builder(&file).durability(durability).open().unwrap();
        let doc = store
            .read()
            .unwrap_or_else(|e| panic!("round {round}: unreadable after kill: {e}"));
        let n = doc["n"].as_i64().unwrap();
        assert!(
            n == last_ack || n == last_ack + 1,
            "round {round}: store reads {n}, last acknowledged {last_ack}"
        );
        assert_eq!(
            doc["pad"].as_str(),
            Some(pad_for(n, pad).as_str()),
            "round {round}"
        );
        let raw: Option<Value> = fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if raw.as_ref() != Some(&doc) {
            torn += 1;
        }
        if durability != Durability::Journal {
            // The rename modes promise more: the file itself is always whole,
            // even for readers that take no lock.
            let text = fs::read_to_string(&file).unwrap();
            let raw: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("round {round}: torn file after kill: {e}"));
            assert_eq!(raw, doc);
        }
        // The next writer is not tripped up by anything left behind.
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
    eprintln!("{durability}: {torn} of {rounds} kills left the data file itself torn");
}

const SMALL: usize = 6000; // more than a page
const LARGE: usize = 8 << 20; // a write long enough for kills to land inside it

#[test]
fn writers_killed_at_random_never_corrupt_rename_mode() {
    kill_writers_at_random_moments(Durability::Rename, SMALL, 25);
    kill_writers_at_random_moments(Durability::Rename, LARGE, 8);
}

#[test]
fn writers_killed_at_random_never_corrupt_fsync_mode() {
    kill_writers_at_random_moments(Durability::Fsync, SMALL, 25);
}

#[test]
fn writers_killed_at_random_never_corrupt_journal_mode() {
    kill_writers_at_random_moments(Durability::Journal, SMALL, 40);
    kill_writers_at_random_moments(Durability::Journal, LARGE, 20);
}

#[test]
fn processes_in_journal_mode_lose_no_update() {
    no_update_lost(Durability::Journal, 6, 200);
}

// ---------------------------------------------------------------------------
// Journal recovery from the states a killed writer can leave, made exactly.

fn doc_with(n: i64) -> Value {
    json!({"n": n, "pad": "y".repeat(5000)})
}

fn journal_store(file: &Path) -> Store {
    Store::builder(file)
        .durability(Durability::Journal)
        .open()
        .unwrap()
}

#[test]
fn journal_replays_a_record_whose_data_write_was_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("j.json");
    let store = journal_store(&file);
    store.set(&root(), doc_with(1)).unwrap();
    let old = fs::read(&file).unwrap();
    // Killed mid-pwrite of the data file, one byte of "22" over the "1".
    store.write_killed_after(&doc_with(22), 1).unwrap();
    let torn = fs::read(&file).unwrap();
    assert_ne!(torn, old);
    assert!(serde_json::from_slice::<Value>(&torn).is_err() || torn != old);
    // A reader with the lock sees the new document without writing...
    assert_eq!(journal_store(&file).read().unwrap(), doc_with(22));
    assert_eq!(Store::open(&file).unwrap().read().unwrap(), doc_with(22));
    assert_eq!(fs::read(&file).unwrap(), torn);
    // ...the next writer repairs the file first, then updates it.
    assert_eq!(journal_store(&file).incr(&p(".n"), 1).unwrap(), 23.into());
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc_with(23));
}

#[test]
fn journal_ignores_a_record_whose_data_write_never_began() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("j.json");
    let store = journal_store(&file);
    store.set(&root(), doc_with(1)).unwrap();
    let before = fs::read(&file).unwrap();
    // Killed after its record was whole, before the data file was touched:
    // the update never happened (its writer never returned).
    store.write_killed_after(&doc_with(2), 0).unwrap();
    assert_eq!(fs::read(&file).unwrap(), before);
    assert_eq!(journal_store(&file).read().unwrap(), doc_with(1));
    assert_eq!(journal_store(&file).incr(&p(".n"), 1).unwrap(), 2.into());
    assert_eq!(journal_store(&file).read().unwrap(), doc_with(2));
}

/// After a journal-mode write, `change` alters the file the way another
/// writer would; jlock must keep that change, never replay over it.
fn journal_record_never_undoes(change: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    fs::write(&file, "{\"n\":1}\n").unwrap();
    for killed in [false, true] {
        let store = journal_store(&file);
        if killed {
            // A writer killed mid-write, then another (flock(1)) writer
            // takes the lock before any jlock: its write stands too.
            store.write_killed_after(&json!({"n": 5}), 3).unwrap();
        } else {
            store.incr(&p(".n"), 1).unwrap();
        }
        change(&file);
        assert_eq!(
            Store::open(&file).unwrap().read().unwrap(),
            json!({"n": 100})
        );
        assert_eq!(journal_store(&file).incr(&p(".n"), 1).unwrap(), 101.into());
        assert_eq!(
            Store::open(&file).unwrap().read().unwrap(),
            json!({"n": 101})
        );
        fs::write(&file, "{\"n\":1}\n").unwrap();
    }
}

#[test]
fn journal_record_never_undoes_an_in_place_writer() {
    // `echo '{"n":100}' > c.json` under the lock: truncate and write, same inode.
    journal_record_never_undoes(|f| fs::write(f, "{\"n\":100}\n").unwrap());
}

#[test]
fn journal_record_never_undoes_a_writer_of_the_same_length() {
    journal_record_never_undoes(|f| {
        let now = fs::read(f).unwrap();
        let same_len = format!("{{\"n\":100}}{}", " ".repeat(now.len().saturating_sub(9)));
        fs::write(f, same_len.as_bytes()).unwrap();
    });
}

#[test]
fn journal_record_never_undoes_rm_and_create() {
    // rm + create: on ext4 and tmpfs the new file may get the same inode.
    journal_record_never_undoes(|f| {
        fs::remove_file(f).unwrap();
        fs::write(f, "{\"n\":100}\n").unwrap();
    });
}

#[test]
fn journal_record_never_undoes_a_rename_mode_writer() {
    journal_record_never_undoes(|f| {
        Store::open(f)
            .unwrap()
            .set(&root(), json!({"n": 100}))
            .unwrap();
    });
}

#[test]
fn journal_and_flock_writers_in_place_lose_no_update() {
    // Three journal-mode jlock writers and three writers that rewrite the
    // file in place under the same lock, as a flock(1) script would.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    fs::write(&file, "{\"n\":0}\n").unwrap();
    let ops = 100;
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let store = journal_store(&file);
                for _ in 0..ops {
                    store.incr(&p(".n"), 1).unwrap();
                }
            });
            s.spawn(|| {
                let mut lock = jlock_core::LockFile::open(dir.path().join("c.json.lock")).unwrap();
                for _ in 0..ops {
                    let _g = lock.lock_exclusive().unwrap();
                    let v: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
                    let n = v["n"].as_i64().unwrap() + 1;
                    fs::write(&file, format!("{{\"n\": {n}}}\n")).unwrap();
                }
            });
        }
    });
    assert_eq!(
        Store::open(&file).unwrap().read().unwrap(),
        json!({"n": 600})
    );
}

#[test]
fn journal_of_a_replaced_file_is_not_replayed_and_modes_mix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("j.json");
    journal_store(&file).set(&root(), doc_with(1)).unwrap();
    // Someone replaces the file outside jlock (an editor's save): the
    // journal describes another inode now and must not be replayed over it.
    let other = dir.path().join("other.json");
    fs::write(&other, "{\"n\": 50}").unwrap();
    fs::rename(&other, &file).unwrap();
    assert_eq!(journal_store(&file).read().unwrap(), json!({"n": 50}));
    // A rename-mode writer clears the journal; journal mode picks up after it.
    assert_eq!(
        Store::open(&file).unwrap().incr(&p(".n"), 1).unwrap(),
        51.into()
    );
    assert_eq!(journal_store(&file).incr(&p(".n"), 1).unwrap(), 52.into());
    assert_eq!(
        Store::open(&file).unwrap().incr(&p(".n"), 1).unwrap(),
        53.into()
    );
    assert_eq!(journal_store(&file).read().unwrap(), json!({"n": 53}));
}

#[test]
fn lookup_creates_no_file_and_tells_a_missing_file_from_a_null_value() {
    use jlock_core::{Lookup, StoreBuilder};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.json");
    let path: JsonPath = ".a".parse().unwrap();
    let builder = StoreBuilder::new(&file);
    assert!(matches!(builder.lookup(&path).unwrap(), Lookup::NoFile));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    fs::write(&file, "{\"a\": 5, \"n\": null}\n").unwrap();
    match builder.lookup(&path).unwrap() {
        Lookup::Found(Some((v, _))) => assert_eq!(v, json!(5)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        builder.lookup(&".n".parse().unwrap()).unwrap(),
        Lookup::Found(Some((Value::Null, _)))
    ));
    assert!(matches!(
        builder.lookup(&".gone".parse().unwrap()).unwrap(),
        Lookup::Found(None)
    ));
    // No lock file was created for any of these reads.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // With the lock file there (a writer made it), it is used, and held
    // exclusively it makes a non-blocking lookup fail as a read does.
    let store = Store::open(&file).unwrap();
    store.set(&".b".parse().unwrap(), json!(2)).unwrap();
    let mut lock = jlock_core::LockFile::open(store.lock_path()).unwrap();
    let _held = lock.try_lock_exclusive().unwrap();
    let mut nowait = StoreBuilder::new(&file);
    nowait.wait(jlock_core::Wait::NoWait);
    let err = nowait.lookup(&path).unwrap_err();
    assert!(err.is_lock_contention(), "{err}");
}
