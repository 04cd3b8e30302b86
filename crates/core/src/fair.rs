//! First come, first served waiting for a lock (`LockFile::fair`,
//! `Semaphore::fair`, `jlock run --fair`): a queue of per-waiter files in a
//! directory beside the lock, `LOCKFILE.queue/`, each held with an exclusive
//! `flock(2)` by its waiter for its whole wait and hold.
//!
//! * Joining: under an exclusive `flock(2)` of the queue directory itself (a
//!   short "ticket" critical section), every file in it is probed with
//!   `flock(LOCK_SH|LOCK_NB)`: one that can be locked has lost its owner (a
//!   killed waiter), and is removed; the others are live predecessors. The
//!   joiner creates its own file, named one more than the highest number
//!   there (20 digits), locks it exclusively, writes `PID MODE` in it (for
//!   `jlock status`) and leaves the critical section.
//! * Waiting: for each live predecessor whose mode conflicts with the
//!   joiner's (exclusive conflicts with all; shared with exclusive ones), in
//!   order, a blocking `flock(LOCK_SH)` of its file, which the kernel grants
//!   when that waiter finishes or dies; then the real lock on LOCKFILE.
//!   With N slots, a joiner goes on once fewer than N live predecessors are
//!   left, watching the directory with inotify (a file deleted, or closed by
//!   the kernel for a dead owner) between two counts.
//! * Leaving: the real lock is released first, then the file is removed,
//!   then closed. A waiter that times out or is interrupted removes its file.
//!
//! Fairness is among fair waiters only: a plain `flock(1)` user (or a
//! non-fair jlock) of the same lock is still excluded by the real lock, but
//! may take it ahead of the queue.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Operation, Result};
use crate::interrupt::Interrupt;
use crate::lock::{self, LockMode, Wait, Waited};
use crate::watch::{Changes, FileWatch};

/// The queue directory of the lock file `lock`: `LOCKFILE.queue`.
pub fn queue_dir(lock: &Path) -> PathBuf {
    let mut name = lock.as_os_str().to_os_string();
    name.push(".queue");
    PathBuf::from(name)
}

/// The mode (and group) of a new queue directory for `lock`: sticky, and
/// open to each class of user (owner, group, others) that may read the
/// lock file — who can open the lock can join its queue, and no one else
/// (a 0600 lock's queue is the owner's alone). `1777` if the lock file
/// cannot be looked at.
fn queue_mode(lock: &Path) -> (u32, Option<u32>) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(lock) {
        Ok(m) => {
            let bits = m.mode();
            let mut mode = 0o1000;
            for (read, all) in [(0o400, 0o700), (0o040, 0o070), (0o004, 0o007)] {
                if bits & read != 0 {
                    mode |= all;
                }
            }
            (mode, Some(m.gid()))
        }
        Err(_) => (0o1777, None),
    }
}

/// One live waiter (or holder) in a fair queue, as [`waiters`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FairWaiter {
    /// Its place: the number its file is named with (lower came first).
    pub ticket: u64,
    /// The process that joined (as it wrote it).
    pub pid: u32,
    /// The mode it waits for or holds.
    pub mode: LockMode,
}

/// The live waiters and holders of `lock`'s fair queue, in arrival order;
/// empty if there is no queue. Reads only: nothing is removed.
pub fn waiters(lock: &Path) -> Result<Vec<FairWaiter>> {
    let Some(dir) = QueueDir::open(lock, false)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (ticket, name) in dir.entries()? {
        if let Probe::Live(mut file) = dir.probe(&name)? {
            let (pid, mode) = read_record(&mut file);
            out.push(FairWaiter { ticket, pid, mode });
        }
    }
    Ok(out)
}

/// Removes the files of `lock`'s fair queue whose owners have gone (a
/// holder that handed its lock on to a command that has since exited, a
/// killed waiter); returns how many. Skipped (0) while a waiter is joining,
/// which removes them itself.
pub fn sweep(lock: &Path) -> Result<usize> {
    let Some(dir) = QueueDir::open(lock, false)? else {
        return Ok(0);
    };
    let dir_file = dir.file()?;
    match lock::try_lock_file(&dir_file, LockMode::Exclusive) {
        Ok(true) => {}
        Ok(false) => return Ok(0),
        Err(e) => return Err(Error::io(Operation::Lock, &dir.path, e)),
    }
    let mut removed = 0;
    for (_, name) in dir.entries()? {
        if let Probe::Dead = dir.probe(&name)? {
            dir.remove(&name)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The open queue directory.
struct QueueDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What probing a queue file found.
enum Probe {
    /// Its owner holds it: a live waiter (the file, opened read-only).
    Live(File),
    /// Nobody holds it: its owner has gone.
    Dead,
    /// It was removed meanwhile.
    Gone,
    /// Not a place jlock made (unreadable, or not a regular file): ignored.
    Foreign,
}

impl QueueDir {
    /// Opens `lock`'s queue directory, creating it (mode `1777`, like
    /// `/tmp`, so other users' waiters can join) if `create`; `None` if it
    /// does not exist and not `create`. A symlink or a non-directory there is
    /// refused ([`Error::UnsafePath`]): nothing is created through it.
    fn open(lock: &Path, create: bool) -> Result<Option<QueueDir>> {
        let path = queue_dir(lock);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        loop {
            match rustix::fs::open(&path, flags, Mode::empty()) {
                Ok(fd) => return Ok(Some(QueueDir { fd, path })),
                Err(rustix::io::Errno::NOENT) if create => {
                    let (mode, gid) = queue_mode(lock);
                    match rustix::fs::mkdir(&path, Mode::from_raw_mode(mode)) {
                        Ok(()) => {
                            // The umask took bits off: put them back, on
                            // the directory we made (opened without
                            // following a link).
                            let fd = rustix::fs::open(&path, flags, Mode::empty())
                                .map_err(|e| Error::io(Operation::FairQueue, &path, e.into()))?;
                            let ours = rustix::fs::fstat(&fd)
                                .is_ok_and(|st| st.st_uid == crate::shared_dir::euid());
                            if ours {
                                if let Some(gid) = gid {
                                    // The lock file's group, which may join.
                                    let _ = rustix::fs::fchown(
                                        &fd,
                                        None,
                                        Some(rustix::fs::Gid::from_raw(gid)),
                                    );
                                }
                                let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode));
                            }
                            return Ok(Some(QueueDir { fd, path }));
                        }
                        Err(rustix::io::Errno::EXIST) => continue,
                        Err(e) => {
                            let why = io::Error::new(
                                io::Error::from(e).kind(),
                                format!(
                                    "{}; --fair keeps its queue in this directory, beside the \
                                     lock, and this user may not make it (plain `jlock run` \
                                     needs none)",
                                    io::Error::from(e)
                                ),
                            );
                            return Err(Error::io(Operation::FairQueue, &path, why));
                        }
                    }
                }
                Err(rustix::io::Errno::NOENT) => return Ok(None),
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    let meta = std::fs::symlink_metadata(&path).ok();
                    let what = match &meta {
                        Some(m) if m.file_type().is_symlink() => "is a symlink",
                        _ => "is not a directory",
                    };
                    let owner = meta.map(|m| std::os::unix::fs::MetadataExt::uid(&m));
                    return Err(Error::unsafe_path(
                        &path,
                        format!("{what}; refusing to use it as the lock's fair queue"),
                        owner,
                    ));
                }
                Err(e) => return Err(Error::io(Operation::FairQueue, &path, e.into())),
            }
        }
    }

    /// The directory as a `File` of its own, to lock: a new open file
    /// description (a duplicate descriptor would share the lock with the
    /// ticket that keeps `fd`).
    fn file(&self) -> Result<File> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, ".", flags, Mode::empty())
            .map_err(|e| Error::io(Operation::FairQueue, &self.path, e.into()))?;
        Ok(File::from(fd))
    }

    /// The queue files, in ticket order.
    fn entries(&self) -> Result<Vec<(u64, String)>> {
        let err = |e: rustix::io::Errno| Error::io(Operation::Read, &self.path, e.into());
        let mut dir = rustix::fs::Dir::read_from(&self.fd).map_err(err)?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(err)?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = name.parse::<u64>() {
                    out.push((n, name.to_owned()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether the queue file `name` has a live owner.
    fn probe(&self, name: &str) -> Result<Probe> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let file = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Ok(Probe::Gone),
            // Not readable, or not a file (jlock makes every place a 0644
            // regular file): not one of jlock's places, planted by someone
            // else — it holds no one up.
            Err(_) => return Ok(Probe::Foreign),
        };
        if !rustix::fs::fstat(&file).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
        }) {
            return Ok(Probe::Foreign);
        }
        match lock::try_lock_file(&file, LockMode::Shared) {
            Ok(true) => Ok(Probe::Dead),
            Ok(false) => Ok(Probe::Live(file)),
            Err(e) => Err(Error::io(Operation::Lock, &self.path.join(name), e)),
        }
    }

    /// Removes the queue file `name` (gone already is fine).
    fn remove(&self, name: &str) -> Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()) {
            // Another user's dead place in a sticky queue directory only
            // they (or its owner) may remove: dead, it holds no one up, and
            // the next of them to join removes it.
            Ok(())
            | Err(rustix::io::Errno::NOENT | rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
                Ok(())
            }
            Err(e) => Err(Error::io(
                Operation::FairQueue,
                &self.path.join(name),
                e.into(),
            )),
        }
    }
}

/// `PID MODE` from a queue file; an unreadable one counts as exclusive.
fn read_record(file: &mut File) -> (u32, LockMode) {
    let mut text = String::new();
    let _ = file.take(64).read_to_string(&mut text);
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let mode = match words.next() {
        Some("shared") => LockMode::Shared,
        _ => LockMode::Exclusive,
    };
    (pid, mode)
}

/// A live predecessor in the queue.
struct Ahead {
    file: File,
    mode: LockMode,
}

/// A place in a fair queue: held (its file locked) until dropped, which
/// removes the file and closes it.
#[derive(Debug)]
pub(crate) struct Ticket {
    dir: OwnedFd,
    dir_path: PathBuf,
    /// The lock file's path, for errors.
    lock_path: PathBuf,
    name: String,
    /// `None` once handed on with [`Ticket::into_fd`].
    file: Option<File>,
}

impl std::fmt::Debug for Ahead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ahead").field("mode", &self.mode).finish()
    }
}

/// Whether a waiter for `mine` must wait for one in `theirs` ahead of it.
fn conflicts(mine: LockMode, theirs: LockMode) -> bool {
    mine == LockMode::Exclusive || theirs == LockMode::Exclusive
}

impl Ticket {
    /// Joins `lock`'s fair queue for `mode` (see the module documentation);
    /// returns the place and the live waiters ahead, in order. The
    /// critical section is entered within `wait` from `start`.
    fn join(
        lock: &Path,
        mode: LockMode,
        wait: Wait,
        start: Instant,
    ) -> Result<(Ticket, Vec<Ahead>)> {
        let dir = QueueDir::open(lock, true)?.ok_or_else(|| {
            Error::io(
                Operation::OpenLock,
                &queue_dir(lock),
                io::ErrorKind::NotFound.into(),
            )
        })?;
        let dir_file = dir.file()?;
        // Never "busy" for a no-wait attempt: the section is short.
        let dir_wait = match wait {
            Wait::NoWait => Wait::Block,
            other => other,
        };
        lock::lock_file(&dir_file, LockMode::Exclusive, dir_wait, start, &dir.path).map_err(
            |e| match e {
                // The time-out is the lock's, whatever part of it ran out.
                Error::LockTimeout { waited, .. } => Error::LockTimeout {
                    path: lock.to_path_buf(),
                    waited,
                },
                Error::LockConflict { .. } => Error::LockConflict {
                    path: lock.to_path_buf(),
                },
                other => other,
            },
        )?;
        let mut ahead = Vec::new();
        let mut last = 0;
        for (n, name) in dir.entries()? {
            last = last.max(n);
            match dir.probe(&name)? {
                Probe::Live(mut file) => {
                    let (_, mode) = read_record(&mut file);
                    ahead.push(Ahead { file, mode });
                }
                Probe::Dead => dir.remove(&name)?,
                Probe::Gone | Probe::Foreign => {}
            }
        }
        let Some(next) = last.checked_add(1) else {
            let why = io::Error::other(format!(
                "a place numbered {last} is there, the largest number a place can have; \
                 remove it (it was not made by jlock, which counts up from 1)"
            ));
            return Err(Error::io(Operation::FairQueue, &dir.path, why));
        };
        let name = format!("{next:020}");
        let path = dir.path.join(&name);
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir.fd, name.as_str(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| Error::io(Operation::FairQueue, &path, e.into()))?;
        let mut file = File::from(fd);
        let ticket_err = |e| Error::io(Operation::Write, &path, e);
        let made = (|| {
            // Readable by every waiter (whatever the umask), to wait on it.
            rustix::fs::fchmod(&file, Mode::from_raw_mode(0o644))?;
            // Blocking: only a momentary probe can hold it now.
            lock::flock_blocking(&file, LockMode::Exclusive)?;
            // One write(2): the record is read whole or not at all.
            let record = format!("{} {}\n", std::process::id(), mode.name());
            file.write_all(record.as_bytes())
        })();
        let ticket = Ticket {
            dir: dir.fd,
            dir_path: dir.path,
            lock_path: lock.to_path_buf(),
            name,
            file: Some(file),
        };
        made.map_err(ticket_err)?;
        // Closing `dir_file` leaves the critical section.
        drop(dir_file);
        Ok((ticket, ahead))
    }

    /// Hands the place on as a descriptor (to a command that is to hold
    /// the lock): it is kept as long as that descriptor is open, and its
    /// file removed by the next waiter to join after that, or by [`sweep`].
    pub(crate) fn into_fd(mut self) -> Result<OwnedFd> {
        let file = self.file.take().ok_or_else(|| {
            Error::io(
                Operation::Lock,
                &self.lock_path,
                io::Error::other("no ticket"),
            )
        })?;
        let fd = OwnedFd::from(file);
        if std::os::fd::AsRawFd::as_raw_fd(&fd) < 3 {
            return rustix::io::fcntl_dupfd_cloexec(&fd, 3)
                .map_err(|e| Error::io(Operation::Lock, &self.lock_path, e.into()));
        }
        Ok(fd)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Removed first, then closed (when `file` drops): a waiter
            // joining meanwhile sees it held, never a stale file.
            let _ =
                rustix::fs::unlinkat(&self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
        }
        let _ = &self.dir_path;
    }
}

/// Polls (0.5 ms doubling to 20 ms) until the place `file` is given up:
/// `None` then, `Some(true)` if `deadline` passed first, `Some(false)` if
/// `token` was interrupted first. The fallback when no helper thread can
/// wait in `flock(2)`.
fn poll_gone(
    file: &File,
    deadline: Option<Instant>,
    token: Option<&Interrupt>,
) -> io::Result<Option<bool>> {
    let mut pause = Duration::from_micros(500);
    loop {
        if lock::try_lock_file(file, LockMode::Shared)? {
            return Ok(None);
        }
        if token.is_some_and(Interrupt::is_interrupted) {
            return Ok(Some(false));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(Some(true));
        }
        let nap = deadline.map_or(pause, |d| pause.min(d.saturating_duration_since(now)));
        std::thread::sleep(nap);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Joins `lock`'s fair queue for `mode` and waits for this waiter's turn:
/// every conflicting waiter ahead gone (with `slots`, fewer than that many
/// ahead), within `wait` from `start` and until `token` is interrupted.
/// `on_wait` is called (once) if the turn has to be waited for. On an error
/// (time-out, interrupt) the place is given up.
pub(crate) fn take_turn(
    lock: &Path,
    mode: LockMode,
    slots: Option<usize>,
    wait: Wait,
    start: Instant,
    token: Option<&Interrupt>,
    on_wait: &mut Option<impl FnOnce()>,
) -> Result<Ticket> {
    let (ticket, ahead) = Ticket::join(lock, mode, wait, start)?;
    let deadline = match wait {
        Wait::Timeout(limit) => Some(start + limit),
        _ => None,
    };
    let timed_out = || Error::LockTimeout {
        path: lock.to_path_buf(),
        waited: start.elapsed(),
    };
    let interrupted = || Error::Interrupted {
        path: lock.to_path_buf(),
    };
    match slots {
        None => {
            let mut ahead: Vec<Ahead> = ahead
                .into_iter()
                .filter(|a| conflicts(mode, a.mode))
                .collect();
            // Those already gone do not count as a wait.
            ahead.retain(|a| !matches!(lock::try_lock_file(&a.file, LockMode::Shared), Ok(true)));
            if ahead.is_empty() {
                return Ok(ticket);
            }
            if wait == Wait::NoWait {
                return Err(Error::LockConflict {
                    path: lock.to_path_buf(),
                });
            }
            if let Some(hook) = on_wait.take() {
                hook();
            }
            for a in ahead {
                let err = |e| Error::io(Operation::Lock, &ticket.dir_path, e);
                match lock::wait_in_kernel(a.file, LockMode::Shared, deadline, token) {
                    Waited::Got(_) => {}
                    Waited::TimedOut => return Err(timed_out()),
                    Waited::Interrupted => return Err(interrupted()),
                    Waited::Failed(e) => return Err(err(e)),
                    // No helper thread to be had: poll its place instead.
                    Waited::NoThread(file) => {
                        match poll_gone(&file, deadline, token).map_err(err)? {
                            None => {}
                            Some(true) => return Err(timed_out()),
                            Some(false) => return Err(interrupted()),
                        }
                    }
                }
            }
            Ok(ticket)
        }
        Some(n) => {
            // Watch before counting, so a waiter leaving in between is seen.
            let mut watch = FileWatch::directory(&ticket.dir_path).ok();
            let mut ahead = ahead;
            let mut hooked = false;
            loop {
                ahead.retain(|a| {
                    !matches!(lock::try_lock_file(&a.file, LockMode::Shared), Ok(true))
                });
                if ahead.len() < n {
                    return Ok(ticket);
                }
                if token.is_some_and(Interrupt::is_interrupted) {
                    return Err(interrupted());
                }
                if wait == Wait::NoWait {
                    return Err(Error::LockConflict {
                        path: lock.to_path_buf(),
                    });
                }
                if !hooked {
                    hooked = true;
                    if let Some(hook) = on_wait.take() {
                        hook();
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(timed_out());
                }
                // With a token, look at it at least every 50 ms.
                let now = Instant::now();
                let slice = token.map(|_| now + Duration::from_millis(50));
                let until = match (deadline, slice) {
                    (Some(d), Some(s)) => Some(d.min(s)),
                    (d, s) => d.or(s),
                };
                match &mut watch {
                    Some(w) => {
                        Changes::<Error>::wait(w, until)?;
                    }
                    // No inotify: a short pause.
                    None => std::thread::sleep(
                        until
                            .map(|u| u.saturating_duration_since(now))
                            .unwrap_or(Duration::from_millis(20))
                            .min(Duration::from_millis(20)),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Option<fn()> {
        None
    }

    #[test]
    fn places_are_taken_in_order_and_a_dead_place_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("q.lock");
        let start = Instant::now();
        let a = take_turn(
            &lock,
            LockMode::Exclusive,
            None,
            Wait::Block,
            start,
            None,
            &mut never(),
        )
        .unwrap();
        // b has a ahead of it: no wait allowed means a conflict, and its
        // place is given up.
        let err = take_turn(
            &lock,
            LockMode::Shared,
            None,
            Wait::NoWait,
            start,
            None,
            &mut never(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::LockConflict { .. }), "{err:?}");
        let w = waiters(&lock).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            (w[0].pid, w[0].mode),
            (std::process::id(), LockMode::Exclusive)
        );
        // a's place handed on and then closed: dead, and swept.
        let fd = a.into_fd().unwrap();
        assert_eq!(waiters(&lock).unwrap().len(), 1);
        drop(fd);
        assert!(waiters(&lock).unwrap().is_empty());
        assert_eq!(sweep(&lock).unwrap(), 1);
        let c = take_turn(
            &lock,
            LockMode::Shared,
            None,
            Wait::NoWait,
            start,
            None,
            &mut never(),
        )
        .unwrap();
        let d = take_turn(
            &lock,
            LockMode::Shared,
            None,
            Wait::NoWait,
            start,
            None,
            &mut never(),
        )
        .unwrap();
        let tickets: Vec<u64> = waiters(&lock).unwrap().iter().map(|w| w.ticket).collect();
        assert_eq!(tickets.len(), 2);
        assert!(tickets[0] < tickets[1]);
        drop((c, d));
        assert!(std::fs::read_dir(queue_dir(&lock))
            .unwrap()
            .next()
            .is_none());
    }

    #[test]
    fn a_symlinked_queue_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("s.lock");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, queue_dir(&lock)).unwrap();
        let err = take_turn(
            &lock,
            LockMode::Exclusive,
            None,
            Wait::Block,
            Instant::now(),
            None,
            &mut never(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    }
}
