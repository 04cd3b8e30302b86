//! `jlock bench`: what sharing data through a file costs, measured on the
//! user's own file system — every durability mode of the store, against a
//! pipe (the queue) and against `flock(1)` + `sh` — with every result checked
//! for correctness.

mod chart;
mod child;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use jlock_core::{Durability, JsonPath, Store};
use serde_json::{json, Value};

pub use self::child::{bench_child, BenchChildArgs};
use crate::crew::Crew;
use crate::term::{print_line, progress_bar};
use crate::Error;

/// Options of `jlock bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where to put the files (a temporary directory is made inside it and
    /// removed afterwards) [default: the current directory, so the numbers
    /// are for its file system].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Process counts to run.
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "1,2,4,8,16"
    )]
    pub procs: Vec<usize>,
    /// Document sizes: `counter` (a bare number) or bytes with an optional k/m suffix.
    #[arg(
        long,
        value_name = "SIZE,...",
        value_delimiter = ',',
        default_value = "counter,1k,64k,1m"
    )]
    pub sizes: Vec<String>,
    /// Operations per measurement: ×10 for store:journal and ×50 for queue,
    /// whose operations are that much shorter; fewer for large documents (at
    /// most 64 MB written per measurement); at most 300 for flock-sh.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub ops: u64,
    /// Approaches to run [default: all; flock-sh only if flock(1) is on PATH].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub approaches: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also draw the results as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// One approach to counting across processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approach {
    /// jlock's store in one durability mode.
    Store(Durability),
    /// Messages through one pipe to a parent that owns the count.
    Queue,
    /// `flock(1)` around `sh -c 'n=$(cat c); echo $((n+1)) > c'`.
    FlockSh,
    /// jlock's store in the default mode, on a pretty-printed document of
    /// many small records: a one-key edit of a realistic large document,
    /// where reading and writing it back (not the lock) is the cost.
    Edit,
}

impl Approach {
    fn name(self) -> String {
        match self {
            Approach::Store(d) => format!("store:{d}"),
            Approach::Queue => "queue".into(),
            Approach::FlockSh => "flock-sh".into(),
            Approach::Edit => "edit:records".into(),
        }
    }

    fn parse(s: &str) -> Result<Approach, Error> {
        match s {
            "queue" => Ok(Approach::Queue),
            "flock-sh" => Ok(Approach::FlockSh),
            "edit:records" => Ok(Approach::Edit),
            _ => s
                .strip_prefix("store:")
                .and_then(|d| d.parse().ok())
                .map(Approach::Store)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "unknown approach {s:?}; expected store:journal, store:rename, store:fsync, queue, flock-sh or edit:records"
                    ))
                }),
        }
    }

    /// Whether the document size matters to this approach.
    fn sized(self) -> bool {
        matches!(self, Approach::Store(_) | Approach::Edit)
    }
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct Row {
    /// The approach's name: `store:rename`, `queue`, `flock-sh`, …
    pub approach: String,
    /// How many processes counted at once.
    pub procs: usize,
    /// The document's size in bytes (0 where it does not matter).
    pub doc_bytes: u64,
    /// Increments made, in all.
    pub ops: u64,
    /// Wall time, from the go signal until every process had finished.
    pub seconds: f64,
    /// Whether the final count was exactly `ops`.
    pub correct: bool,
}

impl Row {
    /// Increments per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "approach": self.approach,
            "procs": self.procs,
            "doc_bytes": self.doc_bytes,
            "ops": self.ops,
            "seconds": self.seconds,
            "ops_per_sec": self.ops_per_sec(),
            "correct": self.correct,
        })
    }
}

/// A document size: 0 is a bare counter.
fn parse_size(s: &str) -> Result<u64, Error> {
    let bad = || Error::Usage(format!("bad size {s:?}; expected counter, 512, 64k or 1m"));
    let lower = s.to_ascii_lowercase();
    if lower == "counter" {
        return Ok(0);
    }
    let (digits, unit) = match lower.strip_suffix('k') {
        Some(d) => (d, 1024),
        None => match lower.strip_suffix('m') {
            Some(d) => (d, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    digits.parse::<u64>().map(|n| n * unit).map_err(|_| bad())
}

/// How many operations one measurement makes, in all.
fn ops_for(approach: Approach, size: u64, procs: usize, ops: u64) -> u64 {
    let ops = match approach {
        Approach::Store(Durability::Journal) => ops * 10,
        Approach::Queue => ops * 50,
        _ => ops,
    };
    let budget = match approach {
        Approach::FlockSh => ops.min(300),
        Approach::Store(_) | Approach::Edit if size > 0 => ops.min((64 << 20) / size).max(16),
        _ => ops,
    };
    // Every process does the same number.
    (budget / procs as u64).max(1) * procs as u64
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::io(what, source)
}

/// Runs the matrix and reports it.
pub fn bench(args: &BenchArgs) -> Result<(), Error> {
    let approaches: Vec<Approach> = if args.approaches.is_empty() {
        let mut all: Vec<Approach> = Durability::ALL.into_iter().map(Approach::Store).collect();
        all.push(Approach::Queue);
        if on_path("flock") && on_path("sh") {
            all.push(Approach::FlockSh);
        }
        all.push(Approach::Edit);
        all
    } else {
        args.approaches
            .iter()
            .map(|a| Approach::parse(a))
            .collect::<Result<_, _>>()?
    };
    let sizes: Vec<u64> = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<_, _>>()?;
    if args.procs.iter().any(|&p| p == 0 || p > 512) {
        return Err(Error::Usage("--procs must be between 1 and 512".into()));
    }
    let parent = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let temp = tempfile::Builder::new()
        .prefix(".jlock-bench-")
        .tempdir_in(&parent)
        .map_err(io_err("bench directory"))?;

    let mut cells = Vec::new();
    for &approach in &approaches {
        let cell_sizes: &[u64] = if approach.sized() { &sizes } else { &[0] };
        for &size in cell_sizes {
            if approach == Approach::Edit && size == 0 {
                continue; // a bare counter has no records to edit around
            }
            for &procs in &args.procs {
                cells.push((approach, size, procs));
            }
        }
    }
    let bar = progress_bar(cells.len() as u64, !args.json, "measurements");
    let mut rows = Vec::with_capacity(cells.len());
    for (i, &(approach, size, procs)) in cells.iter().enumerate() {
        bar.set_message(format!("{} ×{procs}", approach.name()));
        let dir = temp.path().join(format!("cell{i}"));
        fs::create_dir(&dir).map_err(io_err("bench directory"))?;
        let ops = ops_for(approach, size, procs, args.ops);
        let row = measure(approach, size, procs, ops, &dir)?;
        fs::remove_dir_all(&dir).map_err(io_err("bench directory"))?;
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();

    if let Some(svg) = &args.svg {
        chart::draw(svg, &rows)
            .map_err(|e| Error::io(svg.display(), std::io::Error::other(e.to_string())))?;
    }
    if args.json {
        let results: Vec<Value> = rows.iter().map(Row::to_json).collect();
        print_line(&json!({ "results": results }).to_string())?;
    } else {
        print_line(&table(&rows, temp.path().parent().unwrap_or(&parent)))?;
    }
    match rows.iter().filter(|r| !r.correct).count() {
        0 => Ok(()),
        wrong => Err(Error::Data(format!(
            "{wrong} measurement(s) ended with a wrong count"
        ))),
    }
}

/// Prepares the files, runs one measurement and checks its count.
fn measure(
    approach: Approach,
    size: u64,
    procs: usize,
    ops: u64,
    dir: &Path,
) -> Result<Row, Error> {
    let per_proc = ops / procs as u64;
    let data = dir.join("data.json");
    let doc = if size == 0 {
        json!(0)
    } else if approach == Approach::Edit {
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
    let path = if size == 0 { "." } else { ".count" };
    let mut text = if size == 0 {
        "0".to_string()
    } else {
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    };
    text.push('\n');
    fs::write(&data, &text).map_err(io_err("bench data file"))?;
    let doc_bytes = text.len() as u64;
    let exe = std::env::current_exe().map_err(io_err("jlock"))?;

    let mut crew = Crew::spawn(procs, |index| match approach {
        Approach::Store(_) | Approach::Edit => {
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
    })
    .map_err(io_err("bench child"))?;
    if approach == Approach::FlockSh {
        fs::write(dir.join("c"), "0\n").map_err(io_err("bench data file"))?;
    }
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
        Approach::Store(_) | Approach::Edit => {
            let store = Store::open(&data)?;
            let value = store.get(&JsonPath::parse(path)?)?;
            value.and_then(|v| v.as_u64()).unwrap_or(0)
        }
        Approach::Queue => received,
        Approach::FlockSh => fs::read_to_string(dir.join("c"))
            .map_err(io_err("bench data file"))?
            .trim()
            .parse()
            .unwrap_or(0),
    };
    Ok(Row {
        approach: approach.name(),
        procs,
        doc_bytes: if approach.sized() { doc_bytes } else { 0 },
        ops,
        seconds,
        correct: count == ops,
    })
}

/// The human-readable report: one table, then the ratios that matter.
fn table(rows: &[Row], fs_dir: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "jlock bench — file system of {}", fs_dir.display());
    let _ = writeln!(
        out,
        "{:<14} {:>5} {:>10} {:>6} {:>9} {:>11} {:>10} {:>8}",
        "approach", "procs", "doc bytes", "ops", "seconds", "ops/s", "µs/op", "correct"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<14} {:>5} {:>10} {:>6} {:>9.3} {:>11.0} {:>10.1} {:>8}",
            r.approach,
            r.procs,
            r.doc_bytes,
            r.ops,
            r.seconds,
            r.ops_per_sec(),
            1e6 / r.ops_per_sec().max(1e-9),
            if r.correct { "yes" } else { "NO" }
        );
    }
    let find = |a: &str, procs: usize, doc: Option<u64>| {
        rows.iter()
            .filter(|r| r.approach == a && r.procs == procs)
            .filter(|r| doc.is_none_or(|d| r.doc_bytes == d))
            .min_by_key(|r| r.doc_bytes)
    };
    let _ = writeln!(out);
    let max_procs = rows.iter().map(|r| r.procs).max().unwrap_or(1);
    for mode in Durability::ALL {
        let name = format!("store:{mode}");
        if let (Some(one), Some(many)) = (find(&name, 1, None), find(&name, max_procs, None)) {
            if max_procs > 1 && one.doc_bytes == many.doc_bytes {
                let _ = writeln!(
                    out,
                    "{name}: {max_procs} processes keep {:.0}% of 1 process's ops/s ({} B document)",
                    100.0 * many.ops_per_sec() / one.ops_per_sec().max(1e-9),
                    one.doc_bytes
                );
            }
        }
    }
    if let (Some(q), Some(s)) = (find("queue", 1, None), find("store:rename", 1, None)) {
        let _ = writeln!(
            out,
            "queue: {:.0}× store:rename with 1 process",
            q.ops_per_sec() / s.ops_per_sec().max(1e-9)
        );
    }
    out.truncate(out.trim_end().len());
    out
}
