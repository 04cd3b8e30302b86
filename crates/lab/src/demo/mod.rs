//! `jlock demo`: the tutorial's lesson on process mutexes, reproduced with
//! real child processes and real numbers — garbled output, oversold tickets
//! and lost updates without a lock, serial correctness with it, and the cost
//! of sharing data through a file against passing messages through a pipe.
//!
//! The measured demos (counter and queue) run several rounds, the two sides
//! of the counter interleaved, and report medians; the counter's children
//! time their own lock waits and file work, so that every sentence the demo
//! prints about speed is true of the numbers it measured in that run.

mod child;
mod report;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

pub use self::child::{child, ChildArgs};
use self::child::{read_count, COUNTER_FILE, TICKETS_FILE};
use self::report::{Narrator, Outcome, Run, Split, Verdict};
use crate::crew::Crew;
use crate::term::print_line;
use crate::Error;

/// The four demos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoKind {
    /// Processes share the terminal: printed lines interleave.
    Print,
    /// The ticket office: without a lock, one ticket is sold many times.
    Tickets,
    /// A shared JSON counter: without a lock, increments are lost.
    Counter,
    /// The same counting by messages through a pipe: exact and fast.
    Queue,
}

impl DemoKind {
    /// The demo's name on the command line and in `--json`.
    pub fn name(self) -> &'static str {
        match self {
            DemoKind::Print => "print",
            DemoKind::Tickets => "tickets",
            DemoKind::Counter => "counter",
            DemoKind::Queue => "queue",
        }
    }

    /// Whether the demo measures speed, and so runs several rounds.
    fn measured(self) -> bool {
        matches!(self, DemoKind::Counter | DemoKind::Queue)
    }

    fn default_procs(self) -> usize {
        match self {
            DemoKind::Print => 3,
            DemoKind::Tickets => 10,
            DemoKind::Counter | DemoKind::Queue => 4,
        }
    }
}

/// Options of `jlock demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run one demo only; all four, in order, if left out.
    #[arg(value_enum, value_name = "DEMO")]
    pub which: Option<DemoKind>,
    /// Only the run with the lock.
    #[arg(long, conflicts_with = "no_lock")]
    pub lock: bool,
    /// Only the run without the lock.
    #[arg(long)]
    pub no_lock: bool,
    /// Number of child processes [default: print 3, tickets 10, counter and queue 4].
    #[arg(short = 'p', long = "procs", value_name = "PROCS", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub procs: Option<u16>,
    /// Pause between a process's printed lines (print demo).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub pause_ms: u64,
    /// Tickets on sale (tickets demo).
    #[arg(long, value_name = "T", default_value_t = 1)]
    pub tickets: u32,
    /// Simulated network, read and write latency (tickets demo).
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub delay_ms: u64,
    /// Increments per process (counter and queue demos).
    #[arg(long, value_name = "M", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,
    /// Rounds of each measured run (counter and queue demos), the counter's
    /// two sides interleaved; times and rates are the rounds' medians.
    #[arg(long, value_name = "R", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=99))]
    pub rounds: u16,
    /// Work in DIR and keep it afterwards, instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Print only the summary, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the demos and prints what happened.
pub fn demo(args: &DemoArgs) -> Result<(), Error> {
    let io_err = |what: &str, source| Error::io(what, source);
    // The temporary directory is removed when `_temp` drops.
    let (_temp, root) = match &args.keep {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|e| io_err("--keep", e))?;
            (None, dir.clone())
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("jlock-demo-")
                .tempdir()
                .map_err(|e| io_err("temporary directory", e))?;
            let root = t.path().to_path_buf();
            (Some(t), root)
        }
    };
    let kinds = match args.which {
        Some(k) => vec![k],
        None => vec![
            DemoKind::Print,
            DemoKind::Tickets,
            DemoKind::Counter,
            DemoKind::Queue,
        ],
    };
    let variants: Vec<bool> = match (args.lock, args.no_lock) {
        (true, _) => vec![true],
        (_, true) => vec![false],
        _ => vec![false, true],
    };
    let mut narrator = Narrator::new(!args.json);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for kind in kinds {
        narrator.introduce(kind, args);
        let sides: Vec<Option<bool>> = match kind {
            DemoKind::Queue => vec![None],
            _ => variants.iter().map(|&l| Some(l)).collect(),
        };
        let procs = args.procs.map_or(kind.default_procs(), usize::from);
        let rounds = if kind.measured() {
            usize::from(args.rounds)
        } else {
            1
        };
        let mut dirs = Vec::with_capacity(sides.len());
        for lock in &sides {
            let dir = root.join(match lock {
                Some(true) => format!("{}-lock", kind.name()),
                Some(false) => format!("{}-nolock", kind.name()),
                None => kind.name().to_string(),
            });
            fs::create_dir_all(&dir).map_err(|e| io_err("demo directory", e))?;
            dirs.push(dir);
        }
        let progress = match kind {
            DemoKind::Counter | DemoKind::Queue => {
                narrator.progress((rounds * sides.len() * procs) as u64 * args.ops)
            }
            _ => indicatif::ProgressBar::hidden(),
        };
        let mut runs: Vec<Vec<Run>> = sides.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Interleaved, each round in the other order: neither side always
            // goes first, and a slow minute of the machine hits both.
            let mut order: Vec<usize> = (0..sides.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for s in order {
                if rounds == 1 {
                    narrator.variant(sides[s]);
                }
                let run = trial(
                    kind,
                    sides[s],
                    procs,
                    &dirs[s],
                    args,
                    &mut narrator,
                    &progress,
                )?;
                if rounds > 1 {
                    runs[s].push(run);
                } else if let Some(outcome) = Outcome::new(kind, sides[s], procs, vec![run]) {
                    // One round: its verdict follows its own lines at once.
                    progress.suspend(|| narrator.verdict(&outcome, &outcomes));
                    outcomes.push(outcome);
                }
            }
            if rounds > 1 {
                let this: Vec<(Option<bool>, &Run)> = sides
                    .iter()
                    .zip(&runs)
                    .filter_map(|(&lock, r)| Some((lock, r.last()?)))
                    .collect();
                progress.suspend(|| narrator.round(round, rounds, &this));
            }
        }
        progress.finish_and_clear();
        // Several rounds: each side's verdict, from all its rounds.
        for (lock, runs) in sides.into_iter().zip(runs) {
            let Some(outcome) = Outcome::new(kind, lock, procs, runs) else {
                continue;
            };
            narrator.variant(lock);
            narrator.verdict(&outcome, &outcomes);
            outcomes.push(outcome);
        }
        narrator.time_split(kind, &outcomes);
    }
    if args.json {
        let demos: Vec<_> = outcomes.iter().map(|o| o.to_json(&outcomes)).collect();
        print_line(&json!({ "demos": demos }).to_string())?;
    } else {
        narrator.summary(&outcomes);
        narrator.end()?;
        if let Some(dir) = &args.keep {
            narrator.note(&format!("The demos' files are kept in {}", dir.display()));
        }
    }
    Ok(())
}

/// Runs one demo once: prepares its files, starts the crew, reads its
/// messages and judges the result.
fn trial(
    kind: DemoKind,
    lock: Option<bool>,
    procs: usize,
    dir: &std::path::Path,
    args: &DemoArgs,
    narrator: &mut Narrator,
    progress: &indicatif::ProgressBar,
) -> Result<Run, Error> {
    let ops = args.ops;
    let io_err = |source| Error::io(kind.name(), source);
    match kind {
        DemoKind::Tickets => fs::write(
            dir.join(TICKETS_FILE),
            format!("{{\"count\": {}}}\n", args.tickets),
        ),
        DemoKind::Counter => fs::write(dir.join(COUNTER_FILE), "{\"count\": 0}\n"),
        _ => Ok(()),
    }
    .map_err(io_err)?;
    let exe = std::env::current_exe().map_err(io_err)?;
    let mut crew = Crew::spawn(procs, |index| {
        let mut c = std::process::Command::new(&exe);
        c.arg("demo-child")
            .arg(kind.name())
            .arg(index.to_string())
            .arg(dir)
            .args(["--pause-ms", &args.pause_ms.to_string()])
            .args(["--delay-ms", &args.delay_ms.to_string()])
            .args(["--ops", &ops.to_string()])
            .args(lock.unwrap_or(false).then_some("--lock"));
        c
    })
    .map_err(io_err)?;
    let start = crew.go().map_err(io_err)?;
    let mut said = Vec::new(); // process index of each printed line, in order
    let mut sold = 0u32;
    let mut received = 0u64;
    let mut readers = 0;
    let mut split = Split::default();
    let mut splits = 0;
    while let Some(msg) = crew.next().map_err(io_err)? {
        match msg.word.as_str() {
            "say" | "bought" | "soldout" => {
                narrator.child_line(msg.index, &msg.text);
                said.push(msg.index);
                sold += u32::from(msg.word == "bought");
            }
            "read" => {
                // Second barrier of the unlocked ticket office.
                readers += 1;
                if readers == procs {
                    crew.go().map_err(io_err)?;
                }
            }
            "tick" => progress.inc(msg.text.parse().unwrap_or(0)),
            "inc" => {
                let n: u64 = msg.text.parse().unwrap_or(0);
                received += n;
                if received.is_multiple_of(256) {
                    progress.inc(256);
                }
            }
            "split" => {
                split.add(&Split::parse(&msg.text).ok_or_else(|| {
                    Error::Data(format!(
                        "demo child {} sent a garbled time split: {:?}",
                        msg.index, msg.text
                    ))
                })?);
                splits += 1;
            }
            _ => {}
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.inc(received % 256);
    crew.finish().map_err(io_err)?;
    let expected = procs as u64 * ops;
    let verdict = match kind {
        DemoKind::Print => {
            // Whole blocks: the sequence of speakers changes procs-1 times.
            let switches = said.windows(2).filter(|w| w[0] != w[1]).count();
            Verdict::Print {
                whole: switches + 1 == procs,
                pause: Duration::from_millis(args.pause_ms),
            }
        }
        DemoKind::Tickets => Verdict::Tickets {
            tickets: args.tickets,
            sold,
            left: read_count(&dir.join(TICKETS_FILE))?,
        },
        DemoKind::Counter => Verdict::Count {
            expected,
            count: u64::try_from(read_count(&dir.join(COUNTER_FILE))?).unwrap_or(0),
        },
        DemoKind::Queue => Verdict::Count {
            expected,
            count: received,
        },
    };
    Ok(Run {
        seconds,
        verdict,
        split: (splits == procs).then_some(split),
    })
}
