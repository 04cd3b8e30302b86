//! What the CLI shows: stdout that does not panic when its reader has gone
//! away, and messages of jlock's own on stderr, which never panic either: a
//! stderr that cannot be written (`2>/dev/full`, a closed pipe) loses the
//! message, never the exit code that says what happened.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use jlock_core::Holder;

/// Prints `text` and a newline to stdout. If stdout is a closed pipe (as in
/// `jlock get db.json | head -c 10`), exits quietly like other Unix tools.
pub fn print_line(text: &str) {
    if let Err(e) = try_print_line(text) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        to_stderr(&format!("jlock: writing to stdout: {e}\n"));
        std::process::exit(i32::from(crate::exit::IO));
    }
}

/// Writes `text` to stderr as it is, ignoring a failure: there is nowhere
/// left to report it, and `eprint!` would panic (and, built with
/// `panic = "abort"`, abort with SIGABRT, which a script cannot tell from a
/// crash).
pub fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints `text` and a newline to stdout, reporting any failure.
pub fn try_print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
}

/// How talkative jlock is: `--quiet`, default, or `--verbose`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    /// Nothing of jlock's own on stdout or stderr.
    pub quiet: bool,
    /// Report every lock wait.
    pub verbose: bool,
}

impl Ui {
    /// A message of jlock's own on stderr, unless quiet.
    pub fn say(&self, text: &str) {
        if !self.quiet {
            to_stderr(&format!("jlock: {text}\n"));
        }
    }

    /// Whether to say whom a wait is for: with `--verbose`; for `-w`, also
    /// when stderr is a terminal (someone is watching). Never otherwise: a
    /// cron job that waits must not send mail. One rule for `run` and the
    /// data commands.
    pub fn reports_waits(&self, wait: jlock_core::Wait) -> bool {
        use std::io::IsTerminal;
        !self.quiet
            && (self.verbose
                || matches!(wait, jlock_core::Wait::Timeout(_)) && std::io::stderr().is_terminal())
    }

    /// Says whom a wait for `locks` is for, from the kernel's lock table.
    pub fn waiting_for(&self, shown: &str, locks: &[std::path::PathBuf]) {
        let whom: Vec<String> = locks
            .iter()
            .flat_map(|l| jlock_core::holders(l).unwrap_or_default())
            .filter(|h| !h.waiting)
            .map(|h| describe(&h))
            .collect();
        let whom = if whom.is_empty() {
            "another process".to_string()
        } else {
            whom.join("; ")
        };
        self.say(&format!("waiting for {shown}, held by {whom}"));
    }

    /// With `--verbose`, says how long the wait for `shown` took.
    pub fn got(&self, shown: &str, start: std::time::Instant) {
        if self.verbose && !self.quiet {
            let secs = start.elapsed().as_secs_f64();
            self.say(&format!("got {shown} after {secs:.3} s"));
        }
    }
}

/// Reports the lock waits of a store's operations, as [`Ui`] says: whom a
/// wait is for when it begins (through the store's `on_wait` hook), and with
/// `--verbose` how long it took.
pub struct WaitReport {
    ui: Ui,
    report: bool,
    began: Arc<Mutex<Option<Instant>>>,
}

impl WaitReport {
    /// The report for operations that wait as `wait` says.
    pub fn new(ui: Ui, wait: jlock_core::Wait) -> WaitReport {
        WaitReport {
            ui,
            report: ui.reports_waits(wait),
            began: Arc::default(),
        }
    }

    /// The hook to give the store, if waits are to be reported.
    pub fn hook(&self) -> Option<impl Fn(&Path) + Send + Sync + 'static> {
        let (ui, began) = (self.ui, Arc::clone(&self.began));
        self.report.then_some({
            move |lock: &Path| {
                if let Ok(mut b) = began.lock() {
                    *b = Some(Instant::now());
                }
                ui.waiting_for(&lock.display().to_string(), &[lock.to_path_buf()]);
            }
        })
    }

    /// After an operation: says how long its wait for `lock` took, if it waited.
    pub fn done(&self, lock: &Path) {
        let began = self.began.lock().ok().and_then(|mut b| b.take());
        if let Some(start) = began {
            self.ui.got(&lock.display().to_string(), start);
        }
    }
}

/// A point in time as RFC 3339, UTC, to the second.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One line about a process, for messages: `pid 42 (make -j4), running since …`;
/// for a holder on another host (etcd), `HOST pid 42 (…), since …, fence 7, lease 9 s left`.
pub fn describe(h: &Holder) -> String {
    let mut s = match &h.host {
        Some(host) => format!("{host} pid {}", h.pid),
        None => format!("pid {}", h.pid),
    };
    if !h.command.is_empty() {
        // Another user's command line is theirs to write: a newline or an
        // escape sequence in it must not forge a line of this output.
        let command: String = h
            .command
            .chars()
            .flat_map(|c| match c.is_control() {
                true => c.escape_default().collect::<Vec<_>>(),
                false => vec![c],
            })
            .collect();
        s.push_str(&format!(" ({command})"));
    }
    if let Some(t) = h.started {
        s.push_str(&format!(", running since {}", timestamp(t)));
    }
    if let Some(t) = h.queued {
        s.push_str(&format!(", since {}", timestamp(t)));
    }
    if let Some(f) = h.fence {
        s.push_str(&format!(", fence {f}"));
    }
    if let Some(ttl) = h.lease.as_ref().and_then(|l| l.ttl_left) {
        s.push_str(&format!(", lease {ttl} s left"));
    }
    s
}
