//! Lock files: advisory `flock(2)` locks on a file of their own, exclusive or
//! shared, taken blocking, non-blocking or with a timeout.
//!
//! The lock belongs to the open file description, so the kernel drops it when
//! the last descriptor to it closes — including when its holder is killed with
//! `SIGKILL`. Because these are `flock(2)` locks (not `fcntl` record locks), they
//! exclude, and are excluded by, util-linux `flock(1)` on the same path.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use fs4::TryLockError;

use crate::error::{Error, Operation, Result};
use crate::shared_dir;

/// Which kind of lock to take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockMode {
    /// One holder at a time, excluding all shared holders too (`LOCK_EX`).
    #[default]
    Exclusive,
    /// Any number of shared holders at once, excluding an exclusive one (`LOCK_SH`).
    Shared,
}

/// How long to wait for a lock that another process holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wait {
    /// Wait as long as it takes (a blocking `flock(2)`).
    #[default]
    Block,
    /// Do not wait: fail at once with [`Error::LockConflict`].
    NoWait,
    /// Wait at most this long, then fail with [`Error::LockTimeout`].
    Timeout(Duration),
}

/// An open lock file.
///
/// Opening creates the file if it is missing (mode `0666` less the umask), never
/// truncates it and never deletes it: deleting a lock file that others may have
/// open would let two processes "hold" locks on two different inodes. A
/// directory may be used as a lock file, as `flock(1)` allows; so may a file this
/// process can only read.
///
/// Taking a lock needs `&mut self`, so one `LockFile` hands out at most one guard
/// at a time. Two `LockFile`s opened on the same path — in one process or in
/// two — exclude each other as the lock mode says.
///
/// ```
/// use jlock_core::{LockFile, LockMode, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let mut lock = LockFile::open(dir.path().join("build.lock"))?;
/// {
///     let _guard = lock.lock(LockMode::Exclusive, Wait::Block)?;
///     // ... only one process at a time runs this ...
/// } // unlocked here
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Opens (creating if needed) the lock file at `path`.
    ///
    /// Fails with [`Error::Io`] (operation [`Operation::OpenLock`]) if the file
    /// cannot be opened or created, for example because its directory does not
    /// exist.
    pub fn open<P: AsRef<Path>>(path: P) -> Result<LockFile> {
        let path = path.as_ref();
        let how = shared_dir::check(path, true)?;
        let file =
            open_lock_file(path, how).map_err(|e| Error::io(Operation::OpenLock, path, e))?;
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The path this lock file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a lock of the given mode, waiting as `wait` says.
    ///
    /// Errors: [`Error::LockConflict`] for [`Wait::NoWait`] when the lock is
    /// held, [`Error::LockTimeout`] when a [`Wait::Timeout`] runs out, and
    /// [`Error::Io`] if `flock(2)` itself fails.
    pub fn lock(&mut self, mode: LockMode, wait: Wait) -> Result<LockGuard<'_>> {
        self.lock_with(mode, wait, || {})
    }

    /// As [`LockFile::lock`], but calls `on_wait` once, before waiting, if
    /// the lock is held by another process and `wait` allows waiting — to
    /// tell a user whom they are waiting for, say.
    pub fn lock_with(
        &mut self,
        mode: LockMode,
        wait: Wait,
        on_wait: impl FnOnce(),
    ) -> Result<LockGuard<'_>> {
        if wait != Wait::NoWait {
            if self.try_flock(mode)? {
                return Ok(LockGuard { lock: self, mode });
            }
            on_wait();
        }
        match wait {
            Wait::Block => self.lock_blocking(mode)?,
            Wait::NoWait => {
                if !self.try_flock(mode)? {
                    return Err(Error::LockConflict {
                        path: self.path.clone(),
                    });
                }
            }
            Wait::Timeout(limit) => self.lock_until(mode, limit)?,
        }
        Ok(LockGuard { lock: self, mode })
    }

    /// Takes the exclusive lock, waiting as long as needed.
    pub fn lock_exclusive(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Exclusive, Wait::Block)
    }

    /// Takes a shared lock, waiting as long as needed.
    pub fn lock_shared(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Shared, Wait::Block)
    }

    /// Takes the exclusive lock if it is free; `Ok(None)` if another holder has it.
    pub fn try_lock_exclusive(&mut self) -> Result<Option<LockGuard<'_>>> {
        self.try_lock(LockMode::Exclusive)
    }

    /// Takes a shared lock if no exclusive holder has it; `Ok(None)` otherwise.
    pub fn try_lock_shared(&mut self) -> Result<Option<LockGuard<'_>>> {
        self.try_lock(LockMode::Shared)
    }

    fn try_lock(&mut self, mode: LockMode) -> Result<Option<LockGuard<'_>>> {
        if self.try_flock(mode)? {
            Ok(Some(LockGuard { lock: self, mode }))
        } else {
            Ok(None)
        }
    }

    fn lock_blocking(&self, mode: LockMode) -> Result<()> {
        loop {
            let res = match mode {
                LockMode::Exclusive => fs4::FileExt::lock(&self.file),
                LockMode::Shared => fs4::FileExt::lock_shared(&self.file),
            };
            match res {
                Ok(()) => return Ok(()),
                // A signal handler ran while we slept in flock(2): wait on.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(Operation::Lock, &self.path, e)),
            }
        }
    }

    /// A guard for a lock this `LockFile` has just taken with [`try_flock`](Self::try_flock).
    pub(crate) fn guard(&mut self, mode: LockMode) -> LockGuard<'_> {
        LockGuard { lock: self, mode }
    }

    /// One non-blocking attempt: `Ok(true)` if taken, `Ok(false)` if it would block.
    pub(crate) fn try_flock(&self, mode: LockMode) -> Result<bool> {
        loop {
            let res = match mode {
                LockMode::Exclusive => fs4::FileExt::try_lock(&self.file),
                LockMode::Shared => fs4::FileExt::try_lock_shared(&self.file),
            };
            // fs4 reports "would block" as an error value; it must never be
            // mistaken for success, nor for an I/O failure.
            match res {
                Ok(()) => return Ok(true),
                Err(TryLockError::WouldBlock) => return Ok(false),
                Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io(Operation::Lock, &self.path, e))
                }
            }
        }
    }

    /// Polls with a short back-off until `limit` has passed.
    ///
    /// `flock(2)` has no timeout of its own; `flock(1)` interrupts it with a
    /// timer signal, which a library must not impose on its host process.
    /// Polling costs a late wake-up of at most [`MAX_POLL`] after the holder
    /// lets go, and never waits past the deadline.
    fn lock_until(&self, mode: LockMode, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(500);
        loop {
            if self.try_flock(mode)? {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= limit {
                return Err(Error::LockTimeout {
                    path: self.path.clone(),
                    waited,
                });
            }
            thread::sleep(pause.min(limit - waited));
            pause = (pause * 2).min(MAX_POLL);
        }
    }
}

/// The longest pause between two attempts of a lock with a timeout.
const MAX_POLL: Duration = Duration::from_millis(20);

fn open_lock_file(path: &Path, how: shared_dir::Open) -> io::Result<File> {
    let nofollow = match how {
        shared_dir::Open::NoFollow => libc::O_NOFOLLOW,
        shared_dir::Open::Follow => 0,
    };
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .custom_flags(nofollow)
        .open(path);
    match created {
        Ok(file) => Ok(file),
        // A directory, or a file we may read but not write: flock(2) needs
        // only a descriptor, so a read-only one serves.
        Err(e)
            if e.kind() == io::ErrorKind::IsADirectory
                || e.kind() == io::ErrorKind::PermissionDenied
                || e.kind() == io::ErrorKind::ReadOnlyFilesystem =>
        {
            OpenOptions::new()
                .read(true)
                .custom_flags(nofollow)
                .open(path)
                .map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

impl AsFd for LockFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for LockFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A held lock. Dropping it unlocks.
///
/// The kernel also unlocks when every descriptor of the lock file is closed, so
/// a process that dies while holding a guard never leaves the lock stuck.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a mut LockFile,
    mode: LockMode,
}

impl LockGuard<'_> {
    /// The mode this guard holds.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The lock file this guard holds a lock on.
    pub fn lock_file(&self) -> &LockFile {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // An unlock can only fail for a bad descriptor, which we own; and
        // closing the file would release the lock anyway.
        let _ = fs4::FileExt::unlock(&self.lock.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_exclusive_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let guard = a.lock_exclusive().unwrap();
        assert!(b.try_lock_exclusive().unwrap().is_none());
        assert!(b.try_lock_shared().unwrap().is_none());
        drop(guard);
        assert!(b.try_lock_exclusive().unwrap().is_some());
    }

    #[test]
    fn shared_admits_shared_but_not_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let mut c = LockFile::open(&path).unwrap();
        let _ga = a.lock_shared().unwrap();
        let _gb = b.try_lock_shared().unwrap().expect("second shared lock");
        assert!(c.try_lock_exclusive().unwrap().is_none());
    }

    #[test]
    fn no_wait_conflict_and_timeout_are_errors_not_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let _g = a.lock_exclusive().unwrap();
        let err = b.lock(LockMode::Exclusive, Wait::NoWait).unwrap_err();
        assert!(matches!(err, Error::LockConflict { .. }), "{err:?}");
        let limit = Duration::from_millis(30);
        let err = b.lock(LockMode::Shared, Wait::Timeout(limit)).unwrap_err();
        match err {
            Error::LockTimeout { waited, .. } => assert!(waited >= limit),
            other => panic!("expected timeout, got {other:?}"),
        }
    }

    #[test]
    fn directory_and_read_only_file_can_be_locked() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = LockFile::open(dir.path()).unwrap();
        let _g = d.lock_exclusive().unwrap();
        let mut d2 = LockFile::open(dir.path()).unwrap();
        assert!(d2.try_lock_shared().unwrap().is_none());
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/x.lock");
        let err = LockFile::open(&path).unwrap_err();
        assert!(matches!(
            err,
            Error::Io {
                op: Operation::OpenLock,
                ..
            }
        ));
        assert!(err.to_string().contains("no/such/dir/x.lock"), "{err}");
    }

    #[test]
    fn opening_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.lock");
        std::fs::write(&path, b"pid 42\n").unwrap();
        let mut l = LockFile::open(&path).unwrap();
        drop(l.lock_exclusive().unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"pid 42\n");
    }
}
