//! What the demos tell the user: the running narrative, the verdict of each
//! run, the closing summary table and the `--json` summary.
//!
//! Colour goes through anstream, which drops it when stdout is not a terminal
//! or `NO_COLOR` is set; progress bars go to stderr, and only to a terminal.

use std::time::Duration;

use anstream::println;
use anstyle::{AnsiColor, Style};
use serde_json::{json, Value};

use super::{DemoArgs, DemoKind};

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

/// How one run turned out, by kind of demo.
pub enum Verdict {
    /// Whether each process's lines came out as one block.
    Print { whole: bool, pause: Duration },
    /// Tickets on sale, tickets sold, and what the file says is left.
    Tickets { tickets: u32, sold: u32, left: i64 },
    /// The count reached against the count expected.
    Count { expected: u64, count: u64 },
}

/// One run of one demo.
pub struct Outcome {
    pub kind: DemoKind,
    pub lock: Option<bool>,
    pub procs: usize,
    pub seconds: f64,
    pub verdict: Verdict,
}

impl Outcome {
    /// Whether the shared resource came out right.
    pub fn correct(&self) -> bool {
        match self.verdict {
            Verdict::Print { whole, .. } => whole,
            Verdict::Tickets {
                tickets,
                sold,
                left,
            } => i64::from(sold) + left == i64::from(tickets) && sold <= tickets,
            Verdict::Count { expected, count } => expected == count,
        }
    }

    fn ops_per_sec(&self) -> Option<f64> {
        match self.verdict {
            Verdict::Count { expected, .. } if self.seconds > 0.0 => {
                Some(expected as f64 / self.seconds)
            }
            _ => None,
        }
    }

    /// The queue's speed over the locked file counter of the same run.
    fn speedup(&self, all: &[Outcome]) -> Option<f64> {
        if self.kind != DemoKind::Queue {
            return None;
        }
        let locked = all
            .iter()
            .find(|o| o.kind == DemoKind::Counter && o.lock == Some(true))?;
        Some(self.ops_per_sec()? / locked.ops_per_sec()?)
    }

    /// One line of the verdict: what happened to the shared resource.
    fn result_text(&self) -> String {
        match self.verdict {
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

    /// This outcome as an entry of `--json`'s `demos` array.
    pub fn to_json(&self, all: &[Outcome]) -> Value {
        let mut v = json!({
            "demo": self.kind.name(),
            "lock": self.lock,
            "procs": self.procs,
            "correct": self.correct(),
            "seconds": self.seconds,
        });
        match self.verdict {
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
            }
        }
        if let Some(x) = self.speedup(all) {
            v["speedup_over_locked_file"] = json!(x);
        }
        v
    }
}

/// Prints the demos' story as it happens (or nothing, for `--json`).
pub struct Narrator {
    on: bool,
}

impl Narrator {
    pub fn new(on: bool) -> Narrator {
        Narrator { on }
    }

    /// The heading and the claim of the tutorial a demo tests.
    pub fn introduce(&mut self, kind: DemoKind, args: &DemoArgs) {
        if !self.on {
            return;
        }
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
                    "Each process adds 1 to {{\"count\": …}} in a JSON file, {} times: read, add,\n\
                     write back. Without a lock, two processes read the same count and one\n\
                     increment overwrites the other. With jlock's store every update counts.",
                    args.ops
                ),
            ),
            DemoKind::Queue => (
                "4. queue — passing messages instead",
                format!(
                    "The same {} increments per process, sent as messages through one pipe to the\n\
                     parent, which owns the count. Each message is one write(2) the kernel delivers\n\
                     whole: no file, no lock to take by hand, no disk.",
                    args.ops
                ),
            ),
        };
        println!();
        println!("{BOLD}{title}{BOLD:#}");
        println!("{DIM}{text}{DIM:#}");
    }

    /// The heading of one run.
    pub fn variant(&mut self, lock: Option<bool>) {
        if self.on {
            match lock {
                Some(true) => println!("  {BOLD}with the lock:{BOLD:#}"),
                Some(false) => println!("  {BOLD}without a lock:{BOLD:#}"),
                None => {}
            }
        }
    }

    /// A line a child process printed, coloured by process.
    pub fn child_line(&mut self, index: usize, text: &str) {
        if self.on {
            let style = SPEAKERS[index % SPEAKERS.len()].on_default();
            println!("    {style}{text}{style:#}");
        }
    }

    /// A progress bar for `total` operations, drawn only on a terminal.
    pub fn progress(&self, total: u64) -> indicatif::ProgressBar {
        crate::term::progress_bar(total, self.on, "increments")
    }

    /// The verdict of a run, and what it costs against the run before it.
    pub fn verdict(&mut self, outcome: &Outcome, earlier: &[Outcome]) {
        if !self.on {
            return;
        }
        let (mark, style) = if outcome.correct() {
            ("✓", GOOD)
        } else {
            ("✗", BAD)
        };
        let mut line = format!(
            "  {style}{mark} {}{style:#} in {}",
            outcome.result_text(),
            duration(outcome.seconds)
        );
        if let Some(ops) = outcome.ops_per_sec() {
            line.push_str(&format!(", {} ops/s", group(ops)));
        }
        if let Verdict::Print { pause, .. } = outcome.verdict {
            let pauses = outcome.seconds / pause.as_secs_f64().max(1e-9);
            line.push_str(&format!(" (≈ {pauses:.1} pauses)"));
        }
        println!("{line}");
        let unlocked = earlier
            .iter()
            .find(|o| o.kind == outcome.kind && o.lock == Some(false));
        if let (Some(true), Some(before)) = (outcome.lock, unlocked) {
            if outcome.kind == DemoKind::Print && before.seconds > 0.0 {
                println!(
                    "  {DIM}the lock made it {:.1}× slower: the price of serial work{DIM:#}",
                    outcome.seconds / before.seconds
                );
            }
        }
        if let Some(x) = outcome.speedup(earlier) {
            println!("  {DIM}{x:.0}× the locked file's speed{DIM:#}");
        }
    }

    /// A plain remark.
    pub fn note(&mut self, text: &str) {
        if self.on {
            println!("{DIM}{text}{DIM:#}");
        }
    }

    /// The closing table of every run.
    pub fn summary(&mut self, all: &[Outcome]) {
        if !self.on {
            return;
        }
        println!();
        println!("{BOLD}Summary{BOLD:#}");
        println!(
            "{BOLD}  {:<8} {:<5} {:>5}  {:<38} {:>8} {:>11}{BOLD:#}",
            "demo", "lock", "procs", "result", "time", "ops/s"
        );
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
            println!(
                "  {:<8} {:<5} {:>5}  {style}{:<38}{style:#} {:>8} {:>11}",
                o.kind.name(),
                lock,
                o.procs,
                result,
                duration(o.seconds),
                ops
            );
        }
        if let Some(x) = all.iter().find_map(|o| o.speedup(all)) {
            println!();
            println!(
                "Message passing counted {BOLD}{x:.0}×{BOLD:#} faster than the locked file, and was as exact."
            );
        }
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
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0.4), "0");
        assert_eq!(group(999.0), "999");
        assert_eq!(group(1234567.8), "1,234,568");
    }
}
