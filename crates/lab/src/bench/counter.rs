//! The counting measurements of `jlock bench`: `procs` processes each
//! increment one shared count, through jlock's store, a pipe, `flock(1)` +
//! `sh` or SQLite; afterwards the count must equal the increments made.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use jlock_core::{Durability, JsonPath, Store};
use serde_json::json;

use super::approach::{self, Approach};
use super::{io_err, Sample};
use crate::crew::Crew;
use crate::Error;

/// The SQLite child: WAL, `synchronous=FULL`, one transaction per increment.
const SQLITE_CHILD: &str = r#"
import os, sqlite3, sys
index, db, ops = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db, timeout=600, isolation_level=None)
c.execute("PRAGMA synchronous=FULL")
os.write(1, f"{index} ready\n".encode())  # one write: the pipe is shared
sys.stdin.read(1)
for _ in range(ops):
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE t SET n = n + 1")
    c.execute("COMMIT")
c.close()
os.write(1, f"{index} done\n".encode())
"#;

/// Creates the SQLite database (before the clock) or prints its count (after).
const SQLITE_SETUP: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "create":
    assert c.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    c.execute("CREATE TABLE t (n INTEGER NOT NULL)")
    c.execute("INSERT INTO t VALUES (0)")
else:
    print(c.execute("SELECT n FROM t").fetchone()[0])
"#;

/// The interpreter `python3` runs (see [`approach::python`]).
fn python() -> Result<&'static Path, Error> {
    approach::python().ok_or_else(|| Error::Usage("python3 with sqlite3 is not on PATH".into()))
}

/// Runs `python3 -c SQLITE_SETUP db what` and returns its output.
fn sqlite_setup(db: &Path, what: &str) -> Result<String, Error> {
    let out = Command::new(python()?)
        .args(["-c", SQLITE_SETUP])
        .arg(db)
        .arg(what)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("python3"))?;
    if !out.status.success() {
        return Err(Error::Data(format!(
            "{}: python3 sqlite3 {what} failed: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The document a sized measurement starts from, and the path of its count.
fn document(approach: Approach, size: u64) -> (String, &'static str) {
    if size == 0 {
        return ("0\n".into(), ".");
    }
    let doc = if approach == Approach::Edit {
        // {"count": 0, "items": [...]}: about `size` bytes of small records,
        // pretty-printed — a realistic document for a one-key edit: every
        // record is read, one number changes.
        let records = (size / 150).max(1);
        let items: Vec<serde_json::Value> = (0..records)
            .map(|i| json!({"id": i, "name": format!("item-{i}"), "price": 12.5, "tags": ["a", "b"], "ok": true}))
            .collect();
        json!({"count": 0, "items": items})
    } else {
        // {"count": 0, "pad": "xxx…"} of about `size` bytes, pretty-printed.
        let pad = usize::try_from(size.saturating_sub(32)).unwrap_or(0);
        json!({"count": 0, "pad": "x".repeat(pad)})
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    (text, ".count")
}

/// Prepares the files in `dir`, runs one counting measurement and checks
/// its count; returns the sample and the document's size in bytes.
pub fn measure(
    approach: Approach,
    size: u64,
    procs: usize,
    ops: u64,
    dir: &Path,
) -> Result<(Sample, u64), Error> {
    let per_proc = ops / procs as u64;
    let data = dir.join("data.json");
    let (text, path) = document(approach, size);
    fs::write(&data, &text).map_err(io_err("bench data file"))?;
    let doc_bytes = text.len() as u64;
    let db = dir.join("count.db");
    match approach {
        Approach::FlockSh => fs::write(dir.join("c"), "0\n").map_err(io_err("bench data file"))?,
        Approach::Sqlite => {
            sqlite_setup(&db, "create")?;
        }
        _ => {}
    }
    let exe = std::env::current_exe().map_err(io_err("jlock"))?;
    let python = if approach == Approach::Sqlite {
        python()?.to_path_buf()
    } else {
        std::path::PathBuf::new()
    };

    let mut crew = Crew::spawn(procs, |index| match approach {
        Approach::Queue => {
            let mut c = Command::new(&exe);
            c.arg("demo-child")
                .arg("queue")
                .arg(index.to_string())
                .arg(dir)
                .args(["--ops", &per_proc.to_string()]);
            c
        }
        Approach::FlockSh => {
            let mut c = Command::new("sh");
            c.current_dir(dir)
                .env("I", index.to_string())
                .arg("-c")
                .arg(format!(
                    "echo \"$I ready\"; head -c 1 >/dev/null; i=0; \
                 while [ $i -lt {per_proc} ]; do \
                 flock c.lock sh -c 'n=$(cat c); echo $((n + 1)) > c'; i=$((i + 1)); done; \
                 echo \"$I done\""
                ));
            c
        }
        Approach::Sqlite => {
            let mut c = Command::new(&python);
            c.args(["-c", SQLITE_CHILD])
                .arg(index.to_string())
                .arg(&db)
                .arg(per_proc.to_string());
            c
        }
        _ => {
            let d = match approach {
                Approach::Store(d) => d,
                _ => Durability::default(),
            };
            let mut c = Command::new(&exe);
            c.arg("bench-child")
                .arg(index.to_string())
                .arg(&data)
                .args(["--path", path, "--durability", d.as_str()])
                .args(["--ops", &per_proc.to_string()]);
            c
        }
    })
    .map_err(io_err("bench child"))?;
    let start = crew.go().map_err(io_err("bench child"))?;
    let mut received = 0u64;
    while let Some(msg) = crew.next().map_err(io_err("bench child"))? {
        if msg.word == "inc" {
            received += msg.text.parse::<u64>().unwrap_or(0);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    crew.finish().map_err(io_err("bench child"))?;

    let count = match approach {
        Approach::Queue => received,
        Approach::FlockSh => fs::read_to_string(dir.join("c"))
            .map_err(io_err("bench data file"))?
            .trim()
            .parse()
            .unwrap_or(0),
        Approach::Sqlite => sqlite_setup(&db, "count")?.parse().unwrap_or(0),
        _ => {
            let store = Store::open(&data)?;
            let value = store.get(&JsonPath::parse(path)?)?;
            value.and_then(|v| v.as_u64()).unwrap_or(0)
        }
    };
    let problem = (count != ops).then(|| format!("the count is {count}, not {ops}"));
    Ok((Sample { seconds, problem }, doc_bytes))
}
