//! The approaches `jlock bench` measures: their names, what each one is (the
//! footnotes of the report and the chart), which of them this machine can
//! run, and how many operations one measurement of each makes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use jlock_core::Durability;

use crate::Error;

/// How many producers, and as many consumers, a push/pop measurement runs.
pub const PUSH_POP_SIDE: usize = 4;

/// One approach to sharing data across processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approach {
    /// jlock's store in one durability mode, counting.
    Store(Durability),
    /// Messages through one pipe to a parent that owns the count.
    Queue,
    /// `flock(1)` around `sh -c 'n=$(cat c); echo $((n+1)) > c'`.
    FlockSh,
    /// jlock's store in the default mode, on a pretty-printed document of
    /// many small records: a one-key edit of a realistic large document,
    /// where reading and writing it back (not the lock) is the cost.
    Edit,
    /// SQLite in WAL mode with `synchronous=FULL` (Python's `sqlite3`), one
    /// `BEGIN IMMEDIATE; UPDATE t SET n=n+1; COMMIT` per increment: the
    /// durable peer.
    Sqlite,
    /// A work queue: producers push elements, consumers pop them, each
    /// element taken exactly once.
    PushPop(Carrier),
}

/// What carries the elements of a push/pop measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// jlock's [`WorkQueue`](jlock_core::WorkQueue) on a file (what `jlock
    /// push` and `jlock pop` do), consumers waiting through inotify.
    Jlock,
    /// A pipe with a lock on each side, as Python's `multiprocessing.Queue`.
    Pipe,
    /// `flock(1)` + `jq` on a JSON file, consumers polling: the shell queue.
    FlockJq,
}

impl Approach {
    /// The approach's name in the report, the chart and `--approaches`.
    pub fn name(self) -> String {
        match self {
            Approach::Store(d) => format!("store:{d}"),
            Approach::Queue => "queue".into(),
            Approach::FlockSh => "flock-sh".into(),
            Approach::Edit => "edit:records".into(),
            Approach::Sqlite => "sqlite:wal-full".into(),
            Approach::PushPop(Carrier::Jlock) => "push-pop:jlock".into(),
            Approach::PushPop(Carrier::Pipe) => "push-pop:pipe".into(),
            Approach::PushPop(Carrier::FlockJq) => "push-pop:flock-jq".into(),
        }
    }

    /// One line saying what the approach measures.
    pub fn explain(self) -> &'static str {
        match self {
            Approach::Store(Durability::Journal) => {
                "jlock's store, journal mode: a record, then the data written in place"
            }
            Approach::Store(Durability::Rename) => {
                "jlock's store, default mode: a temporary file renamed over the data"
            }
            Approach::Store(Durability::Fsync) => {
                "jlock's store, rename + fdatasync + fsync(dir): survives power loss"
            }
            Approach::Store(_) => "jlock's store in this durability mode",
            Approach::Queue => "no file: each increment a message through a pipe to one counting parent",
            Approach::FlockSh => "flock(1) around sh -c 'n=$(cat c); echo $((n+1)) > c'",
            Approach::Edit => {
                "one key changed in a pretty-printed document of small records (the store's default mode)"
            }
            Approach::Sqlite => {
                "SQLite WAL, synchronous=FULL (python3): BEGIN IMMEDIATE; UPDATE t SET n=n+1; COMMIT"
            }
            Approach::PushPop(Carrier::Jlock) => {
                "4 producers push, 4 consumers pop (jlock's WorkQueue on a file, waiting via inotify)"
            }
            Approach::PushPop(Carrier::Pipe) => {
                "4 producers, 4 consumers on one pipe with a lock each side (as multiprocessing.Queue)"
            }
            Approach::PushPop(Carrier::FlockJq) => {
                "4 producers, 4 consumers: flock(1) + jq on a JSON file, consumers polling"
            }
        }
    }

    /// Parses a name given to `--approaches`.
    pub fn parse(s: &str) -> Result<Approach, Error> {
        let all = Approach::every();
        if let Some(a) = all.iter().find(|a| a.name() == s) {
            return Ok(*a);
        }
        s.strip_prefix("store:")
            .and_then(|d| d.parse().ok())
            .map(Approach::Store)
            .ok_or_else(|| {
                let names: Vec<String> = all.iter().map(|a| a.name()).collect();
                Error::Usage(format!(
                    "unknown approach {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// Every approach, in the report's order.
    pub fn every() -> Vec<Approach> {
        let mut all: Vec<Approach> = Durability::ALL.into_iter().map(Approach::Store).collect();
        all.extend([
            Approach::Sqlite,
            Approach::Queue,
            Approach::FlockSh,
            Approach::Edit,
            Approach::PushPop(Carrier::Jlock),
            Approach::PushPop(Carrier::Pipe),
            Approach::PushPop(Carrier::FlockJq),
        ]);
        all
    }

    /// Why this machine cannot run the approach (a program it needs is
    /// missing), or `None` if it can.
    pub fn missing(self) -> Option<&'static str> {
        match self {
            Approach::FlockSh if !(on_path("flock") && on_path("sh")) => {
                Some("flock(1) or sh is not on PATH")
            }
            Approach::PushPop(Carrier::FlockJq)
                if !(on_path("flock") && on_path("jq") && on_path("sh")) =>
            {
                Some("flock(1), jq or sh is not on PATH")
            }
            Approach::Sqlite if !python_has_sqlite() => {
                Some("python3 with its sqlite3 module is not on PATH")
            }
            _ => None,
        }
    }

    /// Whether the document size matters to this approach.
    pub fn sized(self) -> bool {
        matches!(self, Approach::Store(_) | Approach::Edit)
    }

    /// Whether this is a push/pop measurement (elements moved, not a count).
    pub fn is_push_pop(self) -> bool {
        matches!(self, Approach::PushPop(_))
    }

    /// How many operations (increments, or elements moved) one measurement
    /// makes, in all, for `--ops` = `ops`: ×10 for store:journal, ×50 for
    /// the pipes, whose operations are that much shorter; fewer for large
    /// documents (at most 16 MB written per measurement); at most 60 for
    /// flock-sh and 8 elements for flock-jq, which start processes per
    /// operation; ÷5 for store:fsync and SQLite, whose every operation waits
    /// for the disk.
    /// Every process does the same number.
    pub fn ops_for(self, size: u64, procs: usize, ops: u64) -> u64 {
        let ops = match self {
            Approach::Store(Durability::Journal) => ops * 10,
            Approach::Queue | Approach::PushPop(Carrier::Pipe) => ops * 50,
            // Each op waits for the disk: the slowest by far, and the
            // median of a few hundred is as good as of thousands.
            Approach::Store(Durability::Fsync) | Approach::Sqlite => (ops / 5).max(16),
            _ => ops,
        };
        let ops = match self {
            Approach::FlockSh => ops.min(60),
            Approach::PushPop(Carrier::FlockJq) => ops.min(8),
            Approach::Store(_) | Approach::Edit if size > 0 => ops.min((16 << 20) / size).max(16),
            _ => ops,
        };
        let share = if self.is_push_pop() {
            PUSH_POP_SIDE
        } else {
            procs
        } as u64;
        (ops / share).max(1) * share
    }
}

/// Whether `program` is an executable file in a directory of `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn python_has_sqlite() -> bool {
    python().is_some()
}

/// The Python interpreter that `python3` on PATH runs, if it has its
/// `sqlite3` module: asked once, and then started directly, not through
/// `python3` — which may be a shim (pyenv's is a shell script) costing more
/// per start than a measurement's work.
pub fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if !on_path("python3") {
                return None;
            }
            let out = Command::new("python3")
                .args(["-c", "import sqlite3, sys; print(sys.executable)"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
            (out.status.success() && path.is_file()).then_some(path)
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for a in Approach::every() {
            assert_eq!(Approach::parse(&a.name()).unwrap(), a);
        }
        assert!(Approach::parse("carrier-pigeon").is_err());
    }

    #[test]
    fn large_documents_cap_every_store_mode_at_16_mb_written() {
        for d in [Durability::Journal, Durability::Rename] {
            let n = Approach::Store(d).ops_for(1 << 20, 1, 500);
            assert_eq!(n, 16, "{d}");
        }
        assert_eq!(
            Approach::Store(Durability::Fsync).ops_for(1 << 20, 1, 500),
            16
        );
        assert_eq!(Approach::Store(Durability::Fsync).ops_for(0, 1, 500), 100);
        assert_eq!(
            Approach::Store(Durability::Journal).ops_for(0, 1, 500),
            5000
        );
    }

    #[test]
    fn push_pop_ops_are_shared_by_the_producers() {
        for a in [Carrier::Jlock, Carrier::Pipe, Carrier::FlockJq] {
            let n = Approach::PushPop(a).ops_for(0, 8, 10);
            assert_eq!(n % PUSH_POP_SIDE as u64, 0, "{a:?}");
            assert!(n > 0);
        }
    }
}
