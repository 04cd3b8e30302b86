//! The child side of the demos: what one process of the crew does, from the
//! hidden `jlock demo-child` command.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use clap::Args;
use jlock_core::{LockFile, Store};
use serde_json::{json, Value};

use super::DemoKind;
use crate::Error;

/// Arguments of `jlock demo-child` (set by the parent, not by people).
#[derive(Debug, Args)]
pub struct ChildArgs {
    /// Which demo.
    #[arg(value_enum)]
    pub kind: DemoKind,
    /// This child's index in the crew.
    pub index: usize,
    /// The crew's shared working directory.
    pub dir: PathBuf,
    /// Use the lock.
    #[arg(long)]
    pub lock: bool,
    /// Pause between printed lines (print demo).
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
    /// Simulated network and disk latency (tickets demo).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Increments to make (counter and queue demos).
    #[arg(long, default_value_t = 0)]
    pub ops: u64,
}

/// The ticket office's data file.
pub const TICKETS_FILE: &str = "tickets.json";
/// The counter demo's data file.
pub const COUNTER_FILE: &str = "counter.json";
/// The counter demo's lock: the sidecar lock file of `counter.json`.
const COUNTER_LOCK: &str = "counter.json.lock";

struct Child<'a> {
    args: &'a ChildArgs,
    out: io::Stdout,
}

impl Child<'_> {
    /// Sends one message as one `write(2)`: `<index> <word> <text>\n`.
    fn send(&mut self, word: &str, text: &str) -> io::Result<()> {
        let msg = format!("{} {word} {text}\n", self.args.index);
        let mut out = self.out.lock();
        out.write_all(msg.as_bytes())?;
        out.flush()
    }

    /// Blocks until the parent's go signal: one byte on stdin.
    fn barrier(&mut self) -> io::Result<()> {
        let mut go = [0u8; 1];
        io::stdin().read_exact(&mut go)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.args.dir.join(name)
    }
}

/// Runs one child of a demo crew.
pub fn child(args: &ChildArgs) -> Result<(), Error> {
    let mut me = Child {
        args,
        out: io::stdout(),
    };
    let io_err = child_io;
    me.send("ready", "").map_err(io_err)?;
    me.barrier().map_err(io_err)?;
    match args.kind {
        DemoKind::Print => print(&mut me)?,
        DemoKind::Tickets => tickets(&mut me)?,
        DemoKind::Counter => counter(&mut me)?,
        DemoKind::Queue => queue(&mut me).map_err(io_err)?,
    }
    me.send("done", "").map_err(io_err)?;
    Ok(())
}

/// The tutorial's first example: three lines with a pause between them.
fn print(me: &mut Child<'_>) -> Result<(), Error> {
    let mut lock = if me.args.lock {
        Some(LockFile::open(me.path("print.lock"))?)
    } else {
        None
    };
    let _guard = lock.as_mut().map(|l| l.lock_exclusive()).transpose()?;
    for step in 1..=3 {
        let line = format!("process {}: step {step}", me.args.index);
        me.send("say", &line).map_err(child_io)?;
        if step < 3 {
            sleep(Duration::from_millis(me.args.pause_ms));
        }
    }
    Ok(())
}

/// The ticket office: search (no lock, as in the tutorial), then buy.
fn tickets(me: &mut Child<'_>) -> Result<(), Error> {
    let file = me.path(TICKETS_FILE);
    let delay = Duration::from_millis(me.args.delay_ms);
    let seen = read_count(&file)?;
    let i = me.args.index;
    me.send(
        "say",
        &format!("process {i}: searches, sees {seen} ticket(s) left"),
    )
    .map_err(child_io)?;
    sleep(delay); // the network round trip before buying
    let bought = if me.args.lock {
        Store::open(&file)?.update(|doc| {
            let count = doc["count"].as_i64().unwrap_or(0);
            sleep(delay); // reading takes time
            if count > 0 {
                doc["count"] = json!(count - 1);
                sleep(delay); // so does writing
            }
            Ok::<_, Error>(count > 0)
        })?
    } else {
        let count = read_count(&file)?;
        // Every buyer has read before any buyer writes: the parent releases
        // this second barrier only when all have said "read". The race the
        // tutorial's sleeps make likely is made certain.
        me.send("read", "").map_err(child_io)?;
        me.barrier().map_err(child_io)?;
        sleep(delay);
        if count > 0 {
            write_unlocked(&file, &json!({ "count": count - 1 }))?;
        }
        count > 0
    };
    let (word, text) = if bought {
        ("bought", format!("process {i}: bought a ticket"))
    } else {
        ("soldout", format!("process {i}: sold out"))
    };
    me.send(word, &text).map_err(child_io)
}

/// Increments the shared counter `ops` times: read the file, add 1, write a
/// new file and rename it over the old — with the lock, under jlock's
/// `LockFile` on `counter.json.lock` (the lock `jlock incr` takes), the same
/// file work either way. Says at the end where its time went (see
/// [`super::report::Split`]): waiting for the lock, and the file work.
fn counter(me: &mut Child<'_>) -> Result<(), Error> {
    let file = me.path(COUNTER_FILE);
    let ops = me.args.ops;
    let tick = (ops / 20).max(1);
    let mut lock = if me.args.lock {
        Some(LockFile::open(me.path(COUNTER_LOCK))?)
    } else {
        None
    };
    let (mut wait, mut work) = (Duration::ZERO, Duration::ZERO);
    let start = Instant::now();
    for n in 1..=ops {
        let guard = match lock.as_mut() {
            Some(lock) => {
                let asked = Instant::now();
                let guard = lock.lock_exclusive()?;
                wait += asked.elapsed();
                Some(guard)
            }
            None => None,
        };
        let begun = Instant::now();
        let c = read_count(&file)?;
        write_unlocked(&file, &json!({ "count": c + 1 }))?;
        work += begun.elapsed();
        drop(guard);
        if n.is_multiple_of(tick) {
            me.send("tick", &tick.to_string()).map_err(child_io)?;
        }
    }
    let total = start.elapsed();
    let split = format!(
        "{} {} {}",
        wait.as_nanos(),
        work.as_nanos(),
        total.as_nanos()
    );
    me.send("split", &split).map_err(child_io)
}

/// Sends `ops` increments as messages; the parent owns the count.
fn queue(me: &mut Child<'_>) -> io::Result<()> {
    for _ in 0..me.args.ops {
        me.send("inc", "1")?;
    }
    Ok(())
}

fn child_io(source: io::Error) -> Error {
    Error::io("demo-child", source)
}

/// `.count` of the JSON file, read without a lock.
pub fn read_count(file: &Path) -> Result<i64, Error> {
    let bytes = fs::read(file).map_err(|e| core_io(file, e))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Data(format!("{}: invalid JSON: {e}", file.display())))?;
    Ok(doc["count"].as_i64().unwrap_or(0))
}

/// Replaces the file atomically (temp file + rename) but with no lock: a
/// reader never sees half a file, yet two writers still overwrite each other.
pub fn write_unlocked(file: &Path, doc: &Value) -> Result<(), Error> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| core_io(dir, e))?;
    let mut bytes = serde_json::to_vec(doc).unwrap_or_default();
    bytes.push(b'\n');
    temp.write_all(&bytes).map_err(|e| core_io(file, e))?;
    temp.persist(file).map_err(|e| core_io(file, e.error))?;
    Ok(())
}

fn core_io(path: &Path, source: io::Error) -> Error {
    Error::io(path.display(), source)
}
