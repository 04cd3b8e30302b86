//! `jlock bench`: what sharing data through a file costs, measured on the
//! user's own file system — every durability mode of the store, against a
//! pipe (the queue), against `flock(1)` + `sh` and against SQLite; and a
//! work queue (push/pop) against a locked pipe and a `flock(1)` + `jq`
//! shell queue — with every result checked for correctness, in rounds
//! whose medians are reported.

mod approach;
mod chart;
mod child;
mod counter;
mod push_pop;
mod report;

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use self::approach::PUSH_POP_SIDE;
pub use self::approach::{Approach, Carrier};
pub use self::child::{bench_child, BenchChildArgs, Role};
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
    /// Process counts to run (push/pop always runs 4 producers and 4 consumers).
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
    /// Operations per measurement: ×10 for store:journal and ×50 for the
    /// pipes (queue, push-pop:pipe), whose operations are that much
    /// shorter; fewer for large documents (at most 16 MB written per
    /// measurement); ÷5 for store:fsync and sqlite:wal-full, which wait
    /// for the disk at every op; at most 60 for flock-sh and 8 elements
    /// for push-pop:flock-jq. A push/pop measurement moves this many
    /// elements.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub ops: u64,
    /// Rounds: every measurement is made once per round, the rounds one
    /// after the other (so that a slow minute of the machine hits every
    /// approach alike), and the median is reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// Approaches to run [default: every one this machine can: flock-sh
    /// needs flock(1), push-pop:flock-jq flock(1) and jq, sqlite:wal-full
    /// python3 with sqlite3].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub approaches: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also draw the results as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// One measurement's outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Wall time, from the go signal until every process had finished.
    pub seconds: f64,
    /// What was wrong with the result (a wrong count, an element lost), if
    /// anything.
    pub problem: Option<String>,
}

/// One row of the report: one approach, process count and document size,
/// measured once per round.
#[derive(Clone, Debug)]
pub struct Row {
    /// The approach's name: `store:rename`, `queue`, `push-pop:jlock`, …
    pub approach: String,
    /// Whether the row moves elements through a queue (push/pop) rather
    /// than counting.
    pub push_pop: bool,
    /// How many processes ran at once (producers and consumers together
    /// for push/pop).
    pub procs: usize,
    /// The document's size in bytes (0 where it does not matter).
    pub doc_bytes: u64,
    /// Increments made, or elements moved, in all, per round.
    pub ops: u64,
    /// The median of the rounds' wall times.
    pub seconds: f64,
    /// Each round's wall time, in order.
    pub round_seconds: Vec<f64>,
    /// What was wrong in the first round that went wrong, if any did.
    pub problem: Option<String>,
}

impl Row {
    /// Increments (or elements) per second, at the median time.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Whether every round's result was right.
    pub fn correct(&self) -> bool {
        self.problem.is_none()
    }

    fn to_json(&self) -> Value {
        let mut row = json!({
            "approach": self.approach,
            "unit": if self.push_pop { "elements" } else { "increments" },
            "procs": self.procs,
            "doc_bytes": self.doc_bytes,
            "ops": self.ops,
            "seconds": self.seconds,
            "round_seconds": self.round_seconds,
            "ops_per_sec": self.ops_per_sec(),
            "correct": self.correct(),
            "problem": self.problem,
        });
        if self.push_pop {
            row["producers"] = json!(PUSH_POP_SIDE);
            row["consumers"] = json!(PUSH_POP_SIDE);
        }
        row
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

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::io(what, source)
}

/// The median of `xs` (not empty).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One cell of the matrix: what one row measures.
#[derive(Clone, Copy, Debug)]
struct Cell {
    approach: Approach,
    size: u64,
    procs: usize,
    ops: u64,
}

/// Approaches skipped because this machine lacks what they need, each with
/// the reason.
type Skipped = Vec<(Approach, &'static str)>;

/// The approaches to run, and the ones skipped.
fn choose(args: &BenchArgs) -> Result<(Vec<Approach>, Skipped), Error> {
    if args.approaches.is_empty() {
        let (run, skipped): (Vec<_>, Vec<_>) = Approach::every()
            .into_iter()
            .map(|a| (a, a.missing()))
            .partition(|(_, missing)| missing.is_none());
        return Ok((
            run.into_iter().map(|(a, _)| a).collect(),
            skipped
                .into_iter()
                .filter_map(|(a, m)| m.map(|m| (a, m)))
                .collect(),
        ));
    }
    let mut run = Vec::new();
    for name in &args.approaches {
        let a = Approach::parse(name)?;
        if let Some(missing) = a.missing() {
            return Err(Error::Usage(format!("{name} cannot run here: {missing}")));
        }
        if !run.contains(&a) {
            run.push(a);
        }
    }
    Ok((run, Vec::new()))
}

/// Runs the matrix and reports it.
pub fn bench(args: &BenchArgs) -> Result<(), Error> {
    let (approaches, skipped) = choose(args)?;
    let sizes: Vec<u64> = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<_, _>>()?;
    if args.procs.iter().any(|&p| p == 0 || p > 512) {
        return Err(Error::Usage("--procs must be between 1 and 512".into()));
    }
    if args.rounds == 0 || args.rounds > 100 {
        return Err(Error::Usage("--rounds must be between 1 and 100".into()));
    }
    if args.ops == 0 {
        return Err(Error::Usage("--ops must be at least 1".into()));
    }
    let parent = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let temp = tempfile::Builder::new()
        .prefix(".jlock-bench-")
        .tempdir_in(&parent)
        .map_err(io_err("bench directory"))?;

    let mut cells = Vec::new();
    for &approach in &approaches {
        if approach.is_push_pop() {
            let ops = approach.ops_for(0, 2 * PUSH_POP_SIDE, args.ops);
            cells.push(Cell {
                approach,
                size: 0,
                procs: 2 * PUSH_POP_SIDE,
                ops,
            });
            continue;
        }
        let cell_sizes: &[u64] = if approach.sized() { &sizes } else { &[0] };
        for &size in cell_sizes {
            if approach == Approach::Edit && size == 0 {
                continue; // a bare counter has no records to edit around
            }
            for &procs in &args.procs {
                let ops = approach.ops_for(size, procs, args.ops);
                cells.push(Cell {
                    approach,
                    size,
                    procs,
                    ops,
                });
            }
        }
    }

    let total = cells.len() * args.rounds;
    let bar = progress_bar(total as u64, !args.json, "measurements");
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cells.len()];
    let mut doc_bytes = vec![0u64; cells.len()];
    // How long each cell took in the first round: the estimate of the rest.
    let mut first_round: Vec<Option<f64>> = vec![None; cells.len()];
    for round in 0..args.rounds {
        for (i, cell) in cells.iter().enumerate() {
            let left = time_left(&first_round, round, i, args.rounds);
            bar.set_message(format!(
                "· round {}/{} · {} ×{} · {}",
                round + 1,
                args.rounds,
                cell.approach.name(),
                cell.procs,
                left.map_or("estimating the time left".into(), |s| format!(
                    "about {} left",
                    report::duration(s)
                ))
            ));
            let began = Instant::now();
            let dir = temp.path().join(format!("r{round}-cell{i}"));
            fs::create_dir(&dir).map_err(io_err("bench directory"))?;
            let sample = match cell.approach {
                Approach::PushPop(carrier) => push_pop::measure(carrier, cell.ops, &dir)?,
                a => {
                    let (sample, bytes) =
                        counter::measure(a, cell.size, cell.procs, cell.ops, &dir)?;
                    doc_bytes[i] = bytes;
                    sample
                }
            };
            fs::remove_dir_all(&dir).map_err(io_err("bench directory"))?;
            samples[i].push(sample);
            if round == 0 {
                first_round[i] = Some(began.elapsed().as_secs_f64());
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let rows: Vec<Row> = cells
        .iter()
        .zip(&samples)
        .zip(&doc_bytes)
        .map(|((cell, samples), &bytes)| {
            let round_seconds: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
            Row {
                approach: cell.approach.name(),
                push_pop: cell.approach.is_push_pop(),
                procs: cell.procs,
                doc_bytes: if cell.approach.sized() { bytes } else { 0 },
                ops: cell.ops,
                seconds: median(&round_seconds),
                round_seconds,
                problem: samples.iter().find_map(|s| s.problem.clone()),
            }
        })
        .collect();

    if let Some(svg) = &args.svg {
        chart::draw(svg, &rows, &approaches, args.rounds)
            .map_err(|e| Error::io(svg.display(), std::io::Error::other(e.to_string())))?;
    }
    if args.json {
        let results: Vec<Value> = rows.iter().map(Row::to_json).collect();
        let skipped: Vec<Value> = skipped
            .iter()
            .map(|(a, why)| json!({"approach": a.name(), "reason": why}))
            .collect();
        print_line(
            &json!({
                "rounds": args.rounds,
                "results": results,
                "skipped": skipped,
                "svg": args.svg.as_ref().map(|p| p.display().to_string()),
            })
            .to_string(),
        )?;
    } else {
        let fs_dir = temp.path().parent().unwrap_or(&parent);
        let text = report::table(&rows, fs_dir, args.rounds, &approaches, &skipped);
        print_line(&text)?;
        if let Some(svg) = &args.svg {
            print_line(&format!("chart written to {}", svg.display()))?;
        }
    }
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.problem
                .as_ref()
                .map(|p| format!("{} ×{}: {p}", r.approach, r.procs))
        })
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::Data(format!(
            "{} measurement(s) went wrong: {}",
            wrong.len(),
            wrong.join("; ")
        )))
    }
}

/// Seconds left before cell `i` of round `round` starts: the first round's
/// time of every cell still to run (the mean of those measured for the
/// others); `None` before anything was measured.
fn time_left(first_round: &[Option<f64>], round: usize, i: usize, rounds: usize) -> Option<f64> {
    let known: Vec<f64> = first_round.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    let est = |j: usize| first_round[j].unwrap_or(mean);
    let this_round: f64 = (i..first_round.len()).map(est).sum();
    let whole: f64 = (0..first_round.len()).map(est).sum();
    Some(this_round + whole * (rounds - round - 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn time_left_counts_the_rest_of_this_round_and_the_rounds_after() {
        assert_eq!(time_left(&[None, None], 0, 0, 3), None);
        // Cell 0 took 1 s, cell 1 is estimated at the mean (1 s): before
        // cell 1 of round 0, 1 s of this round and 2 × 2 s of the others.
        assert_eq!(time_left(&[Some(1.0), None], 0, 1, 3), Some(5.0));
        assert_eq!(time_left(&[Some(1.0), Some(3.0)], 2, 1, 3), Some(3.0));
    }
}
