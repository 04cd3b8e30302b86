//! What the demos tell the user: the running narrative, the verdict of each
//! run, the closing summary table and the `--json` summary.
//!
//! Every sentence about speed is chosen from the numbers measured in the same
//! run (a lock is called "slower" only if it was), from medians of the
//! rounds where there are several. Colour goes through anstream, which drops
//! it when stdout is not a terminal or `NO_COLOR` is set; progress bars go to
//! stderr, and only to a terminal.

use std::io::{ErrorKind, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use serde_json::{json, Value};

use super::{DemoArgs, DemoKind};
use crate::Error;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const SPEAKERS: [AnsiColor; 6] = [
    AnsiColor::Cyan,
    AnsiColor::Magenta,
    AnsiColor::Yellow,
    AnsiColor::Blue,
    AnsiColor::Green,
    AnsiColor::Red,
];

/// Two times closer than this factor are "about as fast" as each other.
const SAME: f64 = 1.1;

/// How one run turned out, by kind of demo.
#[derive(Clone, Copy, Debug)]
pub enum Verdict {
    /// Whether each process's lines came out as one block.
    Print { whole: bool, pause: Duration },
    /// Tickets on sale, tickets sold, and what the file says is left.
    Tickets { tickets: u32, sold: u32, left: i64 },
    /// The count reached against the count expected.
    Count { expected: u64, count: u64 },
}

impl Verdict {
    fn correct(self) -> bool {
        match self {
            Verdict::Print { whole, .. } => whole,
            Verdict::Tickets {
                tickets,
                sold,
                left,
            } => i64::from(sold) + left == i64::from(tickets) && sold <= tickets,
            Verdict::Count { expected, count } => expected == count,
        }
    }
}

/// Where a crew's time went in one run of the counter demo, as its children
/// measured it, in nanoseconds summed over the crew. Each child's waits and
/// file work are disjoint parts of its `total`, so they never add up to more.
#[derive(Clone, Copy, Debug, Default)]
pub struct Split {
    /// Waiting for the lock, and taking it.
    pub lock_wait: u64,
    /// Reading the file, and writing a new one renamed over it.
    pub file_work: u64,
    /// Each child's whole time, from the go signal to its last increment.
    pub total: u64,
}

impl Split {
    /// A child's `split` message: `<lock_wait> <file_work> <total>`, in ns.
    pub fn parse(text: &str) -> Option<Split> {
        let mut ns = text.split(' ').map(|n| n.parse::<u64>().ok());
        let split = Split {
            lock_wait: ns.next()??,
            file_work: ns.next()??,
            total: ns.next()??,
        };
        let fits = split.lock_wait.checked_add(split.file_work)? <= split.total;
        (fits && ns.next().is_none()).then_some(split)
    }

    /// Adds another child's split to this one.
    pub fn add(&mut self, other: &Split) {
        self.lock_wait = self.lock_wait.saturating_add(other.lock_wait);
        self.file_work = self.file_work.saturating_add(other.file_work);
        self.total = self.total.saturating_add(other.total);
    }

    /// The rest of the children's time: the loop, the messages, the unlock.
    fn other(&self) -> u64 {
        self.total - self.lock_wait - self.file_work
    }
}

/// One run of one demo's crew.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Wall time, from the go signal until every child had finished.
    pub seconds: f64,
    /// What happened to the shared resource.
    pub verdict: Verdict,
    /// Where the children's time went (counter demo).
    pub split: Option<Split>,
}

impl Run {
    /// `0.82 s, 1410 lost` or `0.80 s, exact`.
    fn brief(&self) -> String {
        let what = match self.verdict {
            Verdict::Count { expected, count } if count < expected => {
                format!("{} lost", expected - count)
            }
            v if v.correct() => "exact".to_string(),
            _ => "wrong".to_string(),
        };
        format!("{}, {what}", duration(self.seconds))
    }
}

/// All rounds of one side of one demo.
pub struct Outcome {
    /// Which demo.
    pub kind: DemoKind,
    /// With the lock, without, or neither (the queue).
    pub lock: Option<bool>,
    /// How many child processes.
    pub procs: usize,
    /// In the order they ran; never empty.
    runs: Vec<Run>,
    /// The round of median wall time (the lower one of an even number).
    median: Run,
}

impl Outcome {
    /// The outcome of `runs`, or `None` if there are none.
    pub fn new(
        kind: DemoKind,
        lock: Option<bool>,
        procs: usize,
        runs: Vec<Run>,
    ) -> Option<Outcome> {
        let mut by_time: Vec<&Run> = runs.iter().collect();
        by_time.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        let median = **by_time.get((by_time.len().max(1) - 1) / 2)?;
        Some(Outcome {
            kind,
            lock,
            procs,
            runs,
            median,
        })
    }

    /// The median wall time of the rounds.
    pub fn seconds(&self) -> f64 {
        self.median.seconds
    }

    /// The median round's verdict; for a count, the median count.
    fn verdict(&self) -> Verdict {
        match self.median.verdict {
            Verdict::Count { expected, .. } => {
                let mut counts: Vec<u64> = self.runs.iter().filter_map(Run::count).collect();
                counts.sort_unstable();
                let count = counts
                    .get((counts.len().max(1) - 1) / 2)
                    .copied()
                    .unwrap_or(0);
                Verdict::Count { expected, count }
            }
            v => v,
        }
    }

    /// Whether the shared resource came out right, in every round.
    pub fn correct(&self) -> bool {
        self.runs.iter().all(|r| r.verdict.correct())
    }

    fn wrong_rounds(&self) -> usize {
        self.runs.iter().filter(|r| !r.verdict.correct()).count()
    }

    fn ops_per_sec(&self) -> Option<f64> {
        rate(&self.median)
    }

    /// The slowest and the fastest round's rate.
    fn rate_range(&self) -> Option<(f64, f64)> {
        let rates: Vec<f64> = self.runs.iter().filter_map(rate).collect();
        let lo = rates.iter().copied().reduce(f64::min)?;
        let hi = rates.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// The queue's speed over the locked file counter of the same run.
    fn speedup(&self, all: &[Outcome]) -> Option<f64> {
        if self.kind != DemoKind::Queue {
            return None;
        }
        Some(self.ops_per_sec()? / locked_counter(all)?.ops_per_sec()?)
    }

    /// The file work's share of the median round's wall time: with the lock,
    /// at most one process works at a time, so it is at most 1.
    fn lock_busy_share(&self) -> Option<f64> {
        let split = self.median.split?;
        (self.lock == Some(true) && self.seconds() > 0.0)
            .then(|| split.file_work as f64 / 1e9 / self.seconds())
    }

    /// Microseconds per increment of the median round's split:
    /// (lock wait, file work, other, total).
    fn per_op_us(&self) -> Option<(f64, f64, f64, f64)> {
        let split = self.median.split?;
        let Verdict::Count { expected, .. } = self.median.verdict else {
            return None;
        };
        let us = |ns: u64| ns as f64 / 1e3 / expected.max(1) as f64;
        Some((
            us(split.lock_wait),
            us(split.file_work),
            us(split.other()),
            us(split.total),
        ))
    }

    /// One line of the verdict: what happened to the shared resource.
    fn result_text(&self) -> String {
        match self.verdict() {
            Verdict::Print { whole: true, .. } => "each process's lines whole".into(),
            Verdict::Print { whole: false, .. } => "lines interleaved (garbled)".into(),
            Verdict::Tickets { tickets, sold, .. } if sold > tickets => {
                format!("sold {sold} of {tickets} ({} oversold)", sold - tickets)
            }
            Verdict::Tickets { tickets, sold, .. } => format!("sold {sold} of {tickets}"),
            Verdict::Count { expected, count } if count < expected => {
                format!("{count} of {expected} ({} lost)", expected - count)
            }
            Verdict::Count { expected, count } => format!("{count} of {expected}"),
        }
    }

    /// This outcome as an entry of `--json`'s `demos` array. For counts,
    /// `seconds`, `ops_per_sec` and `per_op_us` are of the median round,
    /// `count` is the median count, and `correct` holds for every round.
    pub fn to_json(&self, all: &[Outcome]) -> Value {
        let mut v = json!({
            "demo": self.kind.name(),
            "lock": self.lock,
            "procs": self.procs,
            "correct": self.correct(),
            "seconds": self.seconds(),
        });
        match self.verdict() {
            Verdict::Print { whole, .. } => v["garbled"] = json!(!whole),
            Verdict::Tickets {
                tickets,
                sold,
                left,
            } => {
                v["tickets"] = json!(tickets);
                v["sold"] = json!(sold);
                v["left"] = json!(left);
                v["oversold"] = json!(sold.saturating_sub(tickets));
            }
            Verdict::Count { expected, count } => {
                v["expected"] = json!(expected);
                v["count"] = json!(count);
                v["lost"] = json!(expected.saturating_sub(count));
                v["ops_per_sec"] = json!(self.ops_per_sec());
                v["rounds"] = json!(self.runs.len());
                v["wrong_rounds"] = json!(self.wrong_rounds());
                let seconds: Vec<f64> = self.runs.iter().map(|r| r.seconds).collect();
                v["round_seconds"] = json!(seconds);
                let counts: Vec<Option<u64>> = self.runs.iter().map(Run::count).collect();
                v["round_counts"] = json!(counts);
            }
        }
        if let Some((lock_wait, file_work, other, total)) = self.per_op_us() {
            v["per_op_us"] = json!({
                "lock_wait": lock_wait,
                "file_work": file_work,
                "other": other,
                "total": total,
            });
        }
        if let Some(share) = self.lock_busy_share() {
            v["lock_busy_share"] = json!(share);
        }
        if let Some(x) = self.speedup(all) {
            v["speedup_over_locked_file"] = json!(x);
        }
        v
    }
}

impl Run {
    fn count(&self) -> Option<u64> {
        match self.verdict {
            Verdict::Count { count, .. } => Some(count),
            _ => None,
        }
    }
}

/// Increments per second of a counting run.
fn rate(run: &Run) -> Option<f64> {
    match run.verdict {
        Verdict::Count { expected, .. } if run.seconds > 0.0 => Some(expected as f64 / run.seconds),
        _ => None,
    }
}

fn locked_counter(all: &[Outcome]) -> Option<&Outcome> {
    all.iter()
        .find(|o| o.kind == DemoKind::Counter && o.lock == Some(true))
}

/// What the lock did to the time, as measured: `locked` against `unlocked`,
/// their median times and, with several rounds, round by round.
fn lock_cost(locked: &Outcome, unlocked: &Outcome) -> Option<String> {
    let ratio = locked.seconds() / unlocked.seconds();
    if !ratio.is_finite() || ratio <= 0.0 {
        return None;
    }
    let pairs: Vec<(f64, f64)> = locked
        .runs
        .iter()
        .zip(&unlocked.runs)
        .map(|(l, u)| (l.seconds, u.seconds))
        .collect();
    let slower = pairs.iter().filter(|(l, u)| l > u).count();
    let rounds = if pairs.len() > 1 {
        format!(
            " (median times; slower in {slower} of {} rounds)",
            pairs.len()
        )
    } else {
        String::new()
    };
    Some(if ratio >= SAME {
        let why = if locked.kind == DemoKind::Print {
            ": the price of serial work"
        } else {
            ""
        };
        format!("the lock made it {}× slower{rounds}{why}", times(ratio))
    } else if ratio <= 1.0 / SAME {
        format!(
            "with the lock it was {}× faster{rounds}",
            times(1.0 / ratio)
        )
    } else {
        format!("with the lock it was about as fast: {ratio:.2}× the time without{rounds}")
    })
}

/// Prints the demos' story as it happens (or nothing, for `--json`).
pub struct Narrator {
    on: bool,
    out: anstream::AutoStream<std::io::Stdout>,
    failed: Option<std::io::Error>,
}

impl Narrator {
    /// A narrator that prints, or (`on` false, for `--json`) stays silent.
    pub fn new(on: bool) -> Narrator {
        Narrator {
            on,
            out: anstream::stdout(),
            failed: None,
        }
    }

    /// Prints one line. If stdout fails, narrating stops; a closed pipe is
    /// not an error (the reader wanted no more), any other failure is
    /// returned by [`Narrator::end`].
    fn line(&mut self, text: &str) {
        if !self.on {
            return;
        }
        if let Err(e) = writeln!(self.out, "{text}") {
            self.on = false;
            if e.kind() != ErrorKind::BrokenPipe {
                self.failed = Some(e);
            }
        }
    }

    /// Whether every line got out.
    pub fn end(&mut self) -> Result<(), Error> {
        match self.failed.take() {
            Some(e) => Err(Error::io("writing to stdout", e)),
            None => Ok(()),
        }
    }

    /// The heading and the claim of the tutorial a demo tests.
    pub fn introduce(&mut self, kind: DemoKind, args: &DemoArgs) {
        if !self.on {
            return;
        }
        let rounds = match kind {
            DemoKind::Counter if args.rounds > 1 => format!(
                "\nEach side runs {} rounds, interleaved; times and rates are their medians.",
                args.rounds
            ),
            DemoKind::Queue if args.rounds > 1 => format!(
                "\nIt runs {} rounds; times and rates are their medians.",
                args.rounds
            ),
            _ => String::new(),
        };
        let (title, text) = match kind {
            DemoKind::Print => (
                "1. print — processes share the terminal",
                format!(
                    "Each process prints \"step 1\", \"step 2\", \"step 3\", pausing {} ms between lines.\n\
                     Without a lock they all print at once and their lines interleave. With one,\n\
                     each prints its block whole — but one after another: serial, slower, correct.",
                    args.pause_ms
                ),
            ),
            DemoKind::Tickets => (
                "2. tickets — the ticket office",
                format!(
                    "A JSON file holds {} ticket(s). Each process searches (reads the count), waits\n\
                     {} ms for the network, then buys: reads again, takes one if any is left,\n\
                     writes back. Without a lock every buyer reads before any writes.",
                    args.tickets, args.delay_ms
                ),
            ),
            DemoKind::Counter => (
                "3. counter — sharing data through a file",
                format!(
                    "Each process adds 1 to {{\"count\": …}} in a JSON file, {} times: reads it, adds 1,\n\
                     writes a new file and renames it over the old. Without a lock, two processes read\n\
                     the same count and one increment overwrites the other. With the lock (the one\n\
                     `jlock incr` takes) every update counts, with the same file work.{rounds}",
                    args.ops
                ),
            ),
            DemoKind::Queue => (
                "4. queue — passing messages instead",
                format!(
                    "The same {} increments per process, sent as messages through one pipe to the\n\
                     parent, which owns the count. Each message is one write(2) the kernel delivers\n\
                     whole: no file, no lock to take by hand, no disk.{rounds}",
                    args.ops
                ),
            ),
        };
        self.line("");
        self.line(&format!("{BOLD}{title}{BOLD:#}"));
        self.line(&format!("{DIM}{text}{DIM:#}"));
    }

    /// The heading of one side.
    pub fn variant(&mut self, lock: Option<bool>) {
        match lock {
            Some(true) => self.line(&format!("  {BOLD}with the lock:{BOLD:#}")),
            Some(false) => self.line(&format!("  {BOLD}without a lock:{BOLD:#}")),
            None => {}
        }
    }

    /// One round of a measured demo, each side in brief.
    pub fn round(&mut self, round: usize, rounds: usize, sides: &[(Option<bool>, &Run)]) {
        let parts: Vec<String> = sides
            .iter()
            .map(|(lock, run)| match lock {
                Some(true) => format!("with the lock {}", run.brief()),
                Some(false) => format!("without a lock {}", run.brief()),
                None => run.brief(),
            })
            .collect();
        self.line(&format!(
            "  {DIM}round {}/{rounds}: {}{DIM:#}",
            round + 1,
            parts.join(" · ")
        ));
    }

    /// A line a child process printed, coloured by process.
    pub fn child_line(&mut self, index: usize, text: &str) {
        let style = SPEAKERS[index % SPEAKERS.len()].on_default();
        self.line(&format!("    {style}{text}{style:#}"));
    }

    /// A progress bar for `total` operations, drawn only on a terminal.
    pub fn progress(&self, total: u64) -> indicatif::ProgressBar {
        crate::term::progress_bar(total, self.on, "increments")
    }

    /// The verdict of a side, and what it costs against the side before it.
    pub fn verdict(&mut self, outcome: &Outcome, earlier: &[Outcome]) {
        if !self.on {
            return;
        }
        let (mark, style) = if outcome.correct() {
            ("✓", GOOD)
        } else {
            ("✗", BAD)
        };
        let rounds = outcome.runs.len();
        let mut line = format!(
            "  {style}{mark} {}{style:#} in {}",
            outcome.result_text(),
            duration(outcome.seconds())
        );
        if let Some(ops) = outcome.ops_per_sec() {
            line.push_str(&format!(", {} ops/s", group(ops)));
        }
        if rounds > 1 {
            line.push_str(&format!(" (medians of {rounds} rounds)"));
        }
        if let Verdict::Print { pause, .. } = outcome.verdict() {
            let pauses = outcome.seconds() / pause.as_secs_f64().max(1e-9);
            line.push_str(&format!(" (≈ {pauses:.1} pauses)"));
        }
        self.line(&line);
        if let (true, Some((lo, hi))) = (rounds > 1, outcome.rate_range()) {
            let exact = match outcome.wrong_rounds() {
                0 => format!("exact in all {rounds} rounds"),
                k => format!("updates lost in {k} of {rounds} rounds"),
            };
            self.line(&format!(
                "  {DIM}rounds ranged from {} to {} ops/s; {exact}{DIM:#}",
                group(lo),
                group(hi)
            ));
        }
        let unlocked = earlier
            .iter()
            .find(|o| o.kind == outcome.kind && o.lock == Some(false));
        if let (Some(true), Some(before)) = (outcome.lock, unlocked) {
            if matches!(outcome.kind, DemoKind::Print | DemoKind::Counter) {
                if let Some(cost) = lock_cost(outcome, before) {
                    self.line(&format!("  {DIM}{cost}{DIM:#}"));
                }
            }
        }
        if let Some(x) = outcome.speedup(earlier) {
            self.line(&format!(
                "  {DIM}{}× the locked file's speed{DIM:#}",
                times(x)
            ));
        }
    }

    /// Where the counter's time went, as its children measured it, and what
    /// follows from that — and only that.
    pub fn time_split(&mut self, kind: DemoKind, all: &[Outcome]) {
        if kind != DemoKind::Counter {
            return;
        }
        let side = |lock| {
            all.iter()
                .find(|o| o.kind == kind && o.lock == Some(lock) && o.per_op_us().is_some())
        };
        let (unlocked, locked) = (side(false), side(true));
        if unlocked.is_none() && locked.is_none() {
            return;
        }
        let median = if unlocked.or(locked).is_some_and(|o| o.runs.len() > 1) {
            " (median rounds)"
        } else {
            ""
        };
        self.line(&format!(
            "  {BOLD}where the time goes{BOLD:#}, per increment{median}:"
        ));
        let unlocked_work = unlocked
            .and_then(Outcome::per_op_us)
            .map(|(_, work, ..)| work);
        if let (Some(work), Some(o)) = (unlocked_work, unlocked) {
            self.line(&format!(
                "    without a lock: {} reading and writing the file, {} processes at once",
                micros(work),
                o.procs
            ));
        }
        let Some(locked) = locked else { return };
        let locked_work = locked.per_op_us().map(|(wait, work, ..)| (wait, work));
        if let Some((wait, work)) = locked_work {
            self.line(&format!(
                "    with the lock:  {} reading and writing the file, {} waiting for the lock",
                micros(work),
                micros(wait)
            ));
        }
        if let (Some(u), Some((_, l)), Some(o)) = (unlocked_work, locked_work, unlocked) {
            if l > 0.0 {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                self.line(&format!(
                    "  {DIM}Without a lock, each increment's file work took {}× as long as with it:\n  \
                     {} processes did it at once, on {cores} cores.{DIM:#}",
                    times(u / l),
                    o.procs
                ));
            }
        }
        if let Some(share) = locked.lock_busy_share() {
            let percent = (share * 100.0).round();
            self.line(&format!(
                "  {DIM}With the lock, one process at a time read and wrote the file for {percent:.0}% of the run;\n  \
                 the rest went to passing the lock between processes, and to their loops and exits.{DIM:#}"
            ));
            let so = if share >= 0.5 {
                "So the time goes to each increment's file work, done one at a time — not to the lock."
            } else {
                "So here passing the lock between processes took more of the time than the file work."
            };
            self.line(&format!("  {DIM}{so}{DIM:#}"));
        }
    }

    /// A plain remark.
    pub fn note(&mut self, text: &str) {
        self.line(&format!("{DIM}{text}{DIM:#}"));
    }

    /// The closing table of every run.
    pub fn summary(&mut self, all: &[Outcome]) {
        if !self.on {
            return;
        }
        self.line("");
        self.line(&format!("{BOLD}Summary{BOLD:#}"));
        self.line(&format!(
            "{BOLD}  {:<8} {:<5} {:>5}  {:<38} {:>8} {:>11}{BOLD:#}",
            "demo", "lock", "procs", "result", "time", "ops/s"
        ));
        for o in all {
            let lock = match o.lock {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let style = if o.correct() { GOOD } else { BAD };
            let result = format!(
                "{} {}",
                if o.correct() { "ok" } else { "WRONG" },
                o.result_text()
            );
            let ops = o.ops_per_sec().map_or("-".to_string(), group);
            self.line(&format!(
                "  {:<8} {:<5} {:>5}  {style}{:<38}{style:#} {:>8} {:>11}",
                o.kind.name(),
                lock,
                o.procs,
                result,
                duration(o.seconds()),
                ops
            ));
        }
        let mut measured: Vec<&str> = Vec::new();
        for o in all.iter().filter(|o| o.runs.len() > 1) {
            if !measured.contains(&o.kind.name()) {
                measured.push(o.kind.name());
            }
        }
        if let Some(rounds) = all.iter().map(|o| o.runs.len()).max().filter(|&n| n > 1) {
            self.line(&format!(
                "{DIM}  {}: medians of {rounds} rounds; a count is WRONG if any round's was{DIM:#}",
                measured.join(" and ")
            ));
        }
        let queue = all.iter().find(|o| o.kind == DemoKind::Queue);
        if let (Some(queue), Some(locked)) = (queue, locked_counter(all)) {
            if let Some(x) = queue.speedup(all) {
                let speed = if x >= SAME {
                    format!("{BOLD}{}×{BOLD:#} faster than", times(x))
                } else if x <= 1.0 / SAME {
                    format!("{BOLD}{}×{BOLD:#} slower than", times(1.0 / x))
                } else {
                    "about as fast as".to_string()
                };
                let exact = if queue.correct() && locked.correct() {
                    ", and was as exact"
                } else {
                    ""
                };
                self.line("");
                self.line(&format!(
                    "Message passing counted {speed} the locked file{exact}."
                ));
            }
        }
    }
}

/// A ratio: `656`, `3.0`.
fn times(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Microseconds: `1,512 µs`, `3.4 µs`.
fn micros(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{} µs", group(us))
    }
}

/// Seconds, in ms below a tenth of a second.
fn duration(seconds: f64) -> String {
    if seconds < 0.1 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// `1234567.8` as `1,234,568`.
fn group(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(lock: bool, seconds: &[f64], counts: &[u64]) -> Outcome {
        let runs = seconds
            .iter()
            .zip(counts)
            .map(|(&seconds, &count)| Run {
                seconds,
                verdict: Verdict::Count {
                    expected: 100,
                    count,
                },
                split: None,
            })
            .collect();
        Outcome::new(DemoKind::Counter, Some(lock), 4, runs).expect("runs")
    }

    #[test]
    fn the_lock_is_called_slower_only_when_it_was() {
        let unlocked = side(false, &[1.0, 1.2, 0.8], &[40, 30, 50]);
        let cost = |s: &[f64]| lock_cost(&side(true, s, &[100; 3]), &unlocked).expect("ratio");
        assert_eq!(
            cost(&[2.1, 1.9, 2.0]),
            "the lock made it 2.0× slower (median times; slower in 3 of 3 rounds)"
        );
        assert_eq!(
            cost(&[0.5, 0.7, 0.6]),
            "with the lock it was 1.7× faster (median times; slower in 0 of 3 rounds)"
        );
        assert_eq!(
            cost(&[1.05, 0.9, 1.3]),
            "with the lock it was about as fast: 1.05× the time without \
             (median times; slower in 2 of 3 rounds)"
        );
    }

    #[test]
    fn medians_are_of_the_rounds() {
        let o = side(false, &[3.0, 1.0, 2.0, 4.0], &[10, 40, 20, 30]);
        assert_eq!(o.seconds(), 2.0, "the lower median of an even number");
        assert!(matches!(o.verdict(), Verdict::Count { count: 20, .. }));
        assert_eq!(o.wrong_rounds(), 4);
        assert_eq!(o.rate_range(), Some((25.0, 100.0)));
        assert!(Outcome::new(DemoKind::Counter, None, 1, Vec::new()).is_none());
    }

    #[test]
    fn a_split_must_add_up() {
        let s = Split::parse("10 20 40").expect("valid");
        assert_eq!((s.lock_wait, s.file_work, s.other()), (10, 20, 10));
        for bad in ["", "1 2", "1 2 3 4", "30 20 40", "a 1 2", "-1 2 3"] {
            assert!(Split::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0.4), "0");
        assert_eq!(group(999.0), "999");
        assert_eq!(group(1234567.8), "1,234,568");
    }
}
