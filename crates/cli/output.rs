//! What the CLI shows: stdout that does not panic when its reader has gone
//! away, and messages of jlock's own on stderr.

use std::io::{ErrorKind, Write};

/// Prints `text` and a newline to stdout. If stdout is a closed pipe (as in
/// `jlock get db.json | head -c 10`), exits quietly like other Unix tools.
pub fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("jlock: writing to stdout: {e}");
        std::process::exit(i32::from(crate::exit::IO));
    }
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
            eprintln!("jlock: {text}");
        }
    }

    /// Whether to report lock waits: with `--verbose`, or any `-w`.
    pub fn reports_waits(&self, wait: jlock_core::Wait) -> bool {
        !self.quiet && (self.verbose || matches!(wait, jlock_core::Wait::Timeout(_)))
    }

    /// Says whom a wait for `locks` is for, from the kernel's lock table.
    pub fn waiting_for(&self, shown: &str, locks: &[std::path::PathBuf]) {
        let whom: Vec<String> = locks
            .iter()
            .flat_map(|l| jlock_core::holders(l).unwrap_or_default())
            .filter(|h| !h.waiting)
            .map(|h| crate::status::describe(&h))
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

    /// Runs a data operation (which takes its lock itself) first without
    /// waiting; if the lock is held and waits are reported, says whom it
    /// waits for, then runs it again waiting as `wait` says, less the time
    /// already gone.
    pub fn lock_reporting<T>(
        &self,
        lock_path: &std::path::Path,
        wait: jlock_core::Wait,
        mut attempt: impl FnMut(jlock_core::Wait) -> Result<T, jlock_core::Error>,
    ) -> Result<T, jlock_core::Error> {
        use jlock_core::Wait;
        if !self.reports_waits(wait) || wait == Wait::NoWait {
            return attempt(wait);
        }
        let start = std::time::Instant::now();
        match attempt(Wait::NoWait) {
            Err(e) if e.is_lock_contention() => {}
            other => return other,
        }
        let shown = lock_path.display().to_string();
        self.waiting_for(&shown, &[lock_path.to_path_buf()]);
        let remaining = match wait {
            Wait::Timeout(limit) => Wait::Timeout(limit.saturating_sub(start.elapsed())),
            other => other,
        };
        let out = attempt(remaining);
        if out.is_ok() {
            self.got(&shown, start);
        }
        out
    }
}
