//! Who holds a lock: the kernel's own lock table (`/proc/locks`), read the
//! way `lslocks(8)` reads it, joined with `/proc/PID` for each process.
//!
//! Linux only. The table names the process that *took* a `flock(2)` lock;
//! when that process has exited and a child that inherited the descriptor
//! holds it now (as with `jlock run` after jlock is killed), the holders are
//! found through `/proc/*/fdinfo`, which lists each descriptor's locks.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, IoContext, Operation, Result};
use crate::lock::LockMode;

/// One process in the lock table of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// The process id.
    pub pid: u32,
    /// Shared or exclusive.
    pub mode: LockMode,
    /// True if the process is waiting for the lock rather than holding it.
    pub waiting: bool,
    /// Its command line, arguments joined by spaces (empty if unreadable).
    pub command: String,
    /// When the process started (not when it took the lock: the kernel does
    /// not record that).
    pub started: Option<SystemTime>,
    /// The host it runs on, for a lock processes on other machines share
    /// (etcd); `None`: this machine.
    pub host: Option<String>,
    /// When it asked for the lock, where the backend records that (etcd).
    pub queued: Option<SystemTime>,
    /// The fence it got (or, waiting, will get): larger for every later
    /// holder, where the backend hands one out (etcd's create revision).
    pub fence: Option<i64>,
    /// Which slot of a semaphore it holds or waits for, if it is one.
    pub slot: Option<usize>,
    /// The lease it holds the lock under, where locks are leased (etcd).
    pub lease: Option<Lease>,
}

/// A lease a [`Holder`] holds its lock under: the lock is lost when it
/// expires (etcd).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The lease's id.
    pub id: i64,
    /// The key that holds the holder's place in the queue.
    pub key: String,
    /// Seconds left before it expires, if the backend said.
    pub ttl_left: Option<i64>,
}

impl Lease {
    /// Lease `id`, holding the queue key `key`, `ttl_left` seconds from
    /// expiring if known.
    pub fn new(id: i64, key: String, ttl_left: Option<i64>) -> Lease {
        Lease { id, key, ttl_left }
    }
}

impl Holder {
    /// A process on this machine holding (or, with `waiting`, waiting for)
    /// a lock in `mode`; the other fields empty.
    pub fn new(pid: u32, mode: LockMode, waiting: bool, command: String) -> Holder {
        Holder {
            pid,
            mode,
            waiting,
            command,
            started: None,
            host: None,
            queued: None,
            fence: None,
            slot: None,
            lease: None,
        }
    }
}

/// The `flock(2)` holders and waiters of the file at `path`, from the
/// kernel's lock table. Holders come first. A file that does not exist has
/// none; a path whose directory does not exist is an error.
///
/// Linux only: it reads `/proc/locks` and `/proc/PID/fdinfo`. On other
/// systems it returns [`Error::Io`] with [`io::ErrorKind::Unsupported`].
///
/// ```no_run
/// for h in jlock_core::holders("build.lock")? {
///     println!("{} {:?} {}", h.pid, h.mode, h.command);
/// }
/// # Ok::<(), jlock_core::Error>(())
/// ```
pub fn holders<P: AsRef<Path>>(path: P) -> Result<Vec<Holder>> {
    let path = path.as_ref();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A free lock — unless the directory it would be in is missing.
            let dir = crate::shared_dir::parent(path);
            fs::metadata(dir).at(Operation::Stat, dir)?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io(Operation::Stat, path, e)),
    };
    if !cfg!(target_os = "linux") {
        let e = io::Error::new(
            io::ErrorKind::Unsupported,
            "the lock table is read from /proc/locks, which only Linux has",
        );
        return Err(Error::io(Operation::Read, path, e));
    }
    let (major, minor) = dev_major_minor(meta.dev());
    let table = fs::read_to_string("/proc/locks").at(Operation::Read, Path::new("/proc/locks"))?;
    let mut out: Vec<Holder> = Vec::new();
    for line in table.lines() {
        let Some(entry) = parse_line(line) else {
            continue;
        };
        if entry.major != major || entry.minor != minor || entry.ino != meta.ino() {
            continue;
        }
        let pids = if entry.waiting || process_exists(entry.pid) {
            vec![entry.pid]
        } else {
            // The locker has exited; find who holds its descriptor now.
            pids_holding(meta.dev(), meta.ino())
        };
        for pid in pids {
            if !out
                .iter()
                .any(|h| h.pid == pid && h.waiting == entry.waiting)
            {
                out.push(describe(pid, entry.mode, entry.waiting));
            }
        }
    }
    out.sort_by_key(|h| h.waiting);
    Ok(out)
}

struct Entry {
    waiting: bool,
    mode: LockMode,
    pid: u32,
    major: u32,
    minor: u32,
    ino: u64,
}

/// Parses `1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF`, or a waiter's
/// `1: -> FLOCK ...`. Only flock(2) locks are of interest.
fn parse_line(line: &str) -> Option<Entry> {
    let mut fields = line.split_whitespace().skip(1).peekable();
    let waiting = fields.peek() == Some(&"->");
    if waiting {
        fields.next();
    }
    if fields.next()? != "FLOCK" {
        return None;
    }
    fields.next()?; // ADVISORY
    let mode = match fields.next()? {
        "WRITE" => LockMode::Exclusive,
        "READ" => LockMode::Shared,
        _ => return None,
    };
    let pid = fields.next()?.parse().ok()?;
    let mut dev = fields.next()?.split(':');
    let major = u32::from_str_radix(dev.next()?, 16).ok()?;
    let minor = u32::from_str_radix(dev.next()?, 16).ok()?;
    let ino = dev.next()?.parse().ok()?;
    Some(Entry {
        waiting,
        mode,
        pid,
        major,
        minor,
        ino,
    })
}

/// Splits a `dev_t` as glibc's `major()`/`minor()` do.
fn dev_major_minor(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    (major as u32, minor as u32)
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Processes with a descriptor that holds a lock on inode `dev:ino`, from the
/// `lock:` lines of `/proc/*/fdinfo/*`.
fn pids_holding(dev: u64, ino: u64) -> Vec<u32> {
    let (major, minor) = dev_major_minor(dev);
    let mut pids = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return pids;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_to_string(fd.path()).is_ok_and(|info| {
                info.lines()
                    .filter_map(|l| l.strip_prefix("lock:"))
                    .filter_map(|l| parse_line(l.trim_start()))
                    .any(|e| e.major == major && e.minor == minor && e.ino == ino)
            })
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

fn describe(pid: u32, mode: LockMode, waiting: bool) -> Holder {
    let command = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Holder {
        started: started(pid),
        ..Holder::new(pid, mode, waiting, command)
    }
}

/// A process's start time: field 22 of `/proc/PID/stat` (clock ticks after
/// boot) plus the boot time from `/proc/stat`.
fn started(pid: u32) -> Option<SystemTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields resume after ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    let hz = Some(hz).filter(|&h| h > 0)?;
    Some(UNIX_EPOCH + Duration::from_secs(boot) + Duration::from_millis(ticks * 1000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LockFile;

    #[test]
    fn parses_holders_and_waiters() {
        let e = parse_line("3: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF").unwrap();
        assert_eq!(
            (e.waiting, e.mode, e.pid, e.major, e.minor, e.ino),
            (false, LockMode::Exclusive, 1234, 0xfd, 1, 5678)
        );
        let e = parse_line("3: -> FLOCK  ADVISORY  READ 99 08:02:7 0 EOF").unwrap();
        assert!(e.waiting && e.mode == LockMode::Shared && e.pid == 99);
        assert!(parse_line("1: POSIX  ADVISORY  WRITE 1 08:02:7 0 EOF").is_none());
        assert!(parse_line("1: OFDLCK ADVISORY  READ  -1 00:06:9 0 EOF").is_none());
    }

    #[test]
    fn finds_this_process_holding_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.lock");
        let mut lock = LockFile::open(&path).unwrap();
        assert!(holders(&path).unwrap().is_empty());
        let _g = lock.lock_shared().unwrap();
        let hs = holders(&path).unwrap();
        assert_eq!(hs.len(), 1, "{hs:?}");
        assert_eq!(hs[0].pid, std::process::id());
        assert_eq!(hs[0].mode, LockMode::Shared);
        assert!(!hs[0].waiting && !hs[0].command.is_empty() && hs[0].started.is_some());
    }
}
