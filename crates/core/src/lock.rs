//! Lock files: advisory `flock(2)` locks on a file of their own, exclusive or
//! shared, taken blocking, non-blocking or with a timeout.
//!
//! The lock belongs to the open file description, so the kernel drops it when
//! the last descriptor to it closes — including when its holder is killed with
//! `SIGKILL`. Because these are `flock(2)` locks (not `fcntl` record locks), they
//! exclude, and are excluded by, util-linux `flock(1)` on the same path.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use fs4::TryLockError;

use crate::claim::{self, Claim, Until};
use crate::error::{Error, Operation, Result};
use crate::fair;
use crate::file_info::FileInfo;
use crate::interrupt::{self, Interrupt};
use crate::shared_dir;

/// Which kind of lock to take.
///
/// Not `#[non_exhaustive]`: `flock(2)` has exactly these two kinds, and
/// callers may match on them exhaustively.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockMode {
    /// One holder at a time, excluding all shared holders too (`LOCK_EX`).
    #[default]
    Exclusive,
    /// Any number of shared holders at once, excluding an exclusive one (`LOCK_SH`).
    Shared,
}

impl LockMode {
    /// `exclusive` or `shared`, as `jlock status` and etcd's holder records
    /// write it.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        }
    }
}

/// How long to wait for a lock that another process holds.
///
/// `#[non_exhaustive]`: a later version may add ways to wait (a deadline, say),
/// so a `match` on it needs a wildcard arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// Wait as long as it takes (a blocking `flock(2)`).
    #[default]
    Block,
    /// Do not wait: fail at once with [`Error::LockConflict`].
    NoWait,
    /// Wait at most this long, then fail with [`Error::LockTimeout`].
    ///
    /// The wait is a blocking `flock(2)`, queued in the kernel like any other
    /// waiter, made by a helper thread; see [`LockFile::lock_with`].
    Timeout(Duration),
}

/// An open lock file.
///
/// Opening creates the file if it is missing (mode `0666` less the umask), never
/// truncates it and never deletes it: deleting a lock file that others may have
/// open would let two processes "hold" locks on two different inodes. The file
/// is opened read-only, as `flock(1)` opens it: `flock(2)` needs no more, so a
/// file this process may only read works, a directory works, and a program can
/// lock the very file it executes (an executable open for writing could not
/// be run: "Text file busy"). A FIFO is opened without blocking.
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
    how: shared_dir::Open,
    /// Whether a lock, once got, is checked to be on the file the path names,
    /// and an exclusive one also claims the name (see [`crate::claim`]).
    guards_name: bool,
    /// The claim address, worked out at the first exclusive lock.
    claim_address: Option<Vec<u8>>,
    /// The token that ends a wait, if one was given.
    interrupt: Option<Interrupt>,
    /// Whether waits are first come, first served (see [`LockFile::fair`]).
    fair: bool,
}

impl LockFile {
    /// Opens (creating if needed) the lock file at `path`, read-only.
    ///
    /// Fails with [`Error::Io`] (operation [`Operation::OpenLock`]) if the file
    /// cannot be opened or created, for example because its directory does not
    /// exist, or because `path` ends in `/` and is not a directory ("Not a
    /// directory", as `flock(1)` says).
    pub fn open<P: AsRef<Path>>(path: P) -> Result<LockFile> {
        let path = path.as_ref();
        let how = shared_dir::check(path, true)?;
        let file =
            open_lock_file(path, how).map_err(|e| Error::io(Operation::OpenLock, path, e))?;
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
            how,
            guards_name: true,
            claim_address: None,
            interrupt: None,
            fair: false,
        })
    }

    /// Makes this lock file's waits first come, first served among the
    /// processes that lock it fairly: a waiter gets the lock after every
    /// fair waiter that started waiting before it (a shared one, after the
    /// exclusive ones before it), through a queue of per-waiter files in
    /// the directory `LOCKFILE.queue/` beside the lock (created, mode
    /// `1777`, at the first fair lock; a symlink or a file there is refused
    /// with [`Error::UnsafePath`]). A waiter killed while queued leaves the
    /// queue; one that times out or is interrupted removes its place.
    ///
    /// The real lock is still taken on the lock file, after the turn comes:
    /// `flock(1)` and non-fair holders are excluded as before, but they may
    /// take it ahead of the queue. See docs/design.md, "Fair waiting".
    ///
    /// ```
    /// use jlock_core::{LockFile, LockMode, Wait};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("deploy.lock");
    /// let mut lock = LockFile::open(&path)?;
    /// lock.fair(true);
    /// let _held = lock.lock(LockMode::Exclusive, Wait::Block)?;
    /// // Later fair waiters queue in dir/deploy.lock.queue/, in order.
    /// assert_eq!(jlock_core::fair::waiters(&path)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fair(&mut self, yes: bool) -> &mut LockFile {
        self.fair = yes;
        self
    }

    /// Lets `token` end this lock file's waits from another thread: a wait
    /// ([`Wait::Block`] or [`Wait::Timeout`]) then fails with
    /// [`Error::Interrupted`], holding no lock and leaving no waiter queued
    /// in the kernel (see [`Interrupt`]). While the token is interrupted,
    /// every lock call fails so at once, even for a free lock.
    pub fn interrupt(&mut self, token: &Interrupt) -> &mut LockFile {
        self.interrupt = Some(token.clone());
        self
    }

    /// As [`LockFile::open`], but a lock is neither checked to be on the file
    /// the path names nor claims the name: for a lock whose holder guards what
    /// it protects by other means (the store locks the data file itself too,
    /// and checks that).
    pub(crate) fn open_unguarded(path: &Path) -> Result<LockFile> {
        let mut lock = LockFile::open(path)?;
        lock.guards_name = false;
        Ok(lock)
    }

    /// The path this lock file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device and inode of the file this lock file has open: which
    /// lock it is, whatever it was called.
    pub(crate) fn file_id(&self) -> Result<(u64, u64)> {
        let info = crate::file_info::FileInfo::of_file(&self.file)
            .map_err(|e| Error::io(Operation::Stat, &self.path, e))?;
        Ok((info.dev, info.ino))
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
    ///
    /// # Waiting with a time limit, or interruptibly
    ///
    /// `flock(2)` has no time limit, and `flock(1)`'s way to impose one — a
    /// timer signal that interrupts the call — would change the host
    /// process's signal handling. Polling with `LOCK_NB` would not do
    /// either: the kernel hands a released lock to the waiters blocked in
    /// `flock(2)`, so a poller loses its turn to every one of them. So for
    /// [`Wait::Timeout`] (and for [`Wait::Block`] with an
    /// [`interrupt`](LockFile::interrupt) token) a helper thread opens a
    /// second open file description of the same file and blocks in
    /// `flock(2)` on it, queued in the kernel like any other waiter:
    ///
    /// * if it gets the lock before the deadline, it hands that description
    ///   back and this `LockFile` keeps it from then on (its raw descriptor
    ///   number changes);
    /// * if the deadline passes first (or the token is interrupted), the
    ///   helper thread is woken out of `flock(2)` by a private signal sent to
    ///   it alone (see [`Interrupt`] for which one, and when the library
    ///   installs its no-op handler), closes its description and ends: no
    ///   waiter is left in the kernel's lock table (`/proc/locks`). This call
    ///   then fails with [`Error::LockTimeout`] (or [`Error::Interrupted`]).
    ///   A lock granted just as the deadline passed is kept rather than
    ///   wasted.
    ///
    /// If the signal cannot be used — the host program installed its own
    /// handler for it — the thread cannot be woken: the call still fails on
    /// time, but the thread stays blocked until the lock is free and then
    /// lets it go at once (counting as one more waiter in `/proc/locks`
    /// until then). At most 16 helper threads wait at once in a process;
    /// past that, or if no thread can be started or the file cannot be
    /// opened again, the wait falls back to polling `LOCK_NB` (a pause of
    /// 0.5 ms doubling to 20 ms), never past the deadline.
    pub fn lock_with(
        &mut self,
        mode: LockMode,
        wait: Wait,
        on_wait: impl FnOnce(),
    ) -> Result<LockGuard<'_>> {
        let mut on_wait = Some(on_wait);
        let (ticket, wait) = if self.fair {
            let start = Instant::now();
            if self.interrupted() {
                return Err(self.interrupted_error());
            }
            let token = self.interrupt.clone();
            let ticket = fair::take_turn(
                &self.path,
                mode,
                None,
                wait,
                start,
                token.as_ref(),
                &mut on_wait,
            )?;
            (Some(ticket), wait_left(wait, start))
        } else {
            (None, wait)
        };
        let claim = self.acquire(mode, wait, || {
            if let Some(hook) = on_wait.take() {
                hook()
            }
        })?;
        Ok(LockGuard {
            lock: self,
            mode,
            claim,
            ticket,
        })
    }

    /// Takes the lock as [`LockFile::lock_with`] does, leaving it held with
    /// no guard; returns the claim that goes with it, if any.
    pub(crate) fn acquire(
        &mut self,
        mode: LockMode,
        wait: Wait,
        on_wait: impl FnOnce(),
    ) -> Result<Option<Claim>> {
        let start = Instant::now();
        if self.interrupted() {
            return Err(self.interrupted_error());
        }
        let mut on_wait = Some(on_wait);
        loop {
            self.flock_as(mode, wait, start, &mut on_wait)?;
            // The lock is on the inode this file had when it was opened. If
            // the path was deleted or replaced since (while another process
            // held the lock and we waited, say), it excludes nobody who
            // opens the path now: open the path again and lock that.
            if !self.guards_name || self.names_open_file()? {
                break;
            }
            self.file = open_lock_file(&self.path, self.how)
                .map_err(|e| Error::io(Operation::OpenLock, &self.path, e))?;
        }
        let claim = if mode == LockMode::Exclusive && self.guards_name {
            match self.claim(wait, start) {
                Ok(Some(c)) => Some(c),
                Ok(None) => {
                    let _ = fs4::FileExt::unlock(&self.file);
                    return Err(self.busy(wait, start));
                }
                Err(e) => {
                    let _ = fs4::FileExt::unlock(&self.file);
                    return Err(e);
                }
            }
        } else {
            None
        };
        Ok(claim)
    }

    /// One `flock(2)` of the open file as `wait` says (calling `on_wait`
    /// before the first wait): see [`LockFile::lock_with`].
    fn flock_as(
        &mut self,
        mode: LockMode,
        wait: Wait,
        start: Instant,
        on_wait: &mut Option<impl FnOnce()>,
    ) -> Result<()> {
        if self.try_flock(mode)? {
            return Ok(());
        }
        if wait == Wait::NoWait {
            return Err(self.busy(wait, start));
        }
        if let Some(hook) = on_wait.take() {
            hook();
        }
        match wait {
            Wait::Timeout(limit) => self.lock_until(mode, start, Some(start + limit)),
            _ if self.interrupt.is_some() => self.lock_until(mode, start, None),
            _ => self.lock_blocking(mode),
        }
    }

    /// Whether this lock file's interrupt token (if any) is interrupted.
    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(Interrupt::is_interrupted)
    }

    /// The error of a wait that an interrupt ended.
    fn interrupted_error(&self) -> Error {
        Error::Interrupted {
            path: self.path.clone(),
        }
    }

    /// The error for a lock still held elsewhere when `wait` ends.
    fn busy(&self, wait: Wait, start: Instant) -> Error {
        busy(&self.path, wait, start)
    }

    /// Whether the path still names the file this `LockFile` has open.
    fn names_open_file(&self) -> Result<bool> {
        let err = |e| Error::io(Operation::Lock, &self.path, e);
        let open = FileInfo::of_file(&self.file).map_err(err)?;
        let named = match self.how {
            shared_dir::Open::NoFollow => FileInfo::of_path(&self.path),
            shared_dir::Open::Follow => FileInfo::of_path_followed(&self.path),
        };
        match named {
            Ok(n) => Ok((n.dev, n.ino) == (open.dev, open.ino)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    /// The claim on the lock file's name that goes with an exclusive lock
    /// (see [`crate::claim`]), waiting for another holder's within `wait`.
    fn claim(&mut self, wait: Wait, start: Instant) -> Result<Option<Claim>> {
        let err = |e| Error::io(Operation::Lock, &self.path, e);
        let address = match &self.claim_address {
            Some(a) => a,
            None => self
                .claim_address
                .insert(claim::address(&self.path).map_err(err)?),
        };
        let until = match wait {
            Wait::NoWait => Until::Now,
            Wait::Timeout(limit) => Until::Deadline(start + limit),
            _ => Until::Forever,
        };
        claim::take(address, until).map_err(err)
    }

    /// Takes the exclusive lock, waiting as long as needed.
    pub fn lock_exclusive(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Exclusive, Wait::Block)
    }

    /// Takes a shared lock, waiting as long as needed.
    pub fn lock_shared(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Shared, Wait::Block)
    }

    /// Takes the exclusive lock if it is free; [`Error::LockConflict`] if
    /// another holder has it (as `lock(LockMode::Exclusive, Wait::NoWait)`).
    pub fn try_lock_exclusive(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Exclusive, Wait::NoWait)
    }

    /// Takes a shared lock if no exclusive holder has it;
    /// [`Error::LockConflict`] otherwise (as `lock(LockMode::Shared, Wait::NoWait)`).
    pub fn try_lock_shared(&mut self) -> Result<LockGuard<'_>> {
        self.lock(LockMode::Shared, Wait::NoWait)
    }

    fn lock_blocking(&mut self, mode: LockMode) -> Result<()> {
        let mut reopened = false;
        loop {
            match flock_blocking(&self.file, mode) {
                Ok(()) => return Ok(()),
                Err(e) if !reopened && self.reopen_for_nfs(mode, &e) => reopened = true,
                Err(e) => return Err(Error::io(Operation::Lock, &self.path, e)),
            }
        }
    }

    /// A guard for a lock this `LockFile` has just taken with
    /// [`acquire`](Self::acquire), with the claim that came with it.
    pub(crate) fn guard(&mut self, mode: LockMode, claim: Option<Claim>) -> LockGuard<'_> {
        LockGuard {
            lock: self,
            mode,
            claim,
            ticket: None,
        }
    }

    /// One non-blocking attempt: `Ok(true)` if taken, `Ok(false)` if it would block.
    fn try_flock(&mut self, mode: LockMode) -> Result<bool> {
        match try_lock_file(&self.file, mode) {
            Err(e) if self.reopen_for_nfs(mode, &e) => try_lock_file(&self.file, mode),
            other => other,
        }
        .map_err(|e| Error::io(Operation::Lock, &self.path, e))
    }

    /// NFS emulates `flock(2)` with `fcntl` locks, which need a descriptor
    /// open for writing to lock exclusively: it answers `EBADF` (or `EIO`)
    /// for the read-only one. As `flock(1)` does, open the file read-write
    /// instead, if we may, and say whether to try again.
    fn reopen_for_nfs(&mut self, mode: LockMode, err: &io::Error) -> bool {
        let nfs_refusal = matches!(err.raw_os_error(), Some(libc::EBADF | libc::EIO));
        if !nfs_refusal || mode != LockMode::Exclusive {
            return false;
        }
        match reopen(&self.file, &self.path, self.how, Access::ReadWrite) {
            Ok(file) => {
                self.file = file;
                true
            }
            Err(_) => false,
        }
    }

    /// Waits in the kernel's queue until `deadline` (if any) or an
    /// interrupt: see [`LockFile::lock_with`].
    fn lock_until(
        &mut self,
        mode: LockMode,
        start: Instant,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let Ok(second) = reopen(&self.file, &self.path, self.how, Access::Same) else {
            return self.poll_until(mode, start, deadline);
        };
        match wait_in_kernel(second, mode, deadline, self.interrupt.as_ref()) {
            Waited::Got(file) => {
                // The old description holds no lock; closing it changes nothing.
                self.file = file;
                Ok(())
            }
            Waited::TimedOut => Err(Error::LockTimeout {
                path: self.path.clone(),
                waited: start.elapsed(),
            }),
            Waited::Interrupted => Err(self.interrupted_error()),
            Waited::Failed(e) => Err(Error::io(Operation::Lock, &self.path, e)),
            Waited::NoThread(_) => self.poll_until(mode, start, deadline),
        }
    }

    /// Polls with a short back-off until `deadline` (if any) or an
    /// interrupt: the fallback of [`lock_until`](Self::lock_until).
    fn poll_until(
        &mut self,
        mode: LockMode,
        start: Instant,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let path = self.path.clone();
        let token = self.interrupt.clone();
        let attempt = || {
            if token.as_ref().is_some_and(Interrupt::is_interrupted) {
                return Err(Error::Interrupted { path: path.clone() });
            }
            self.try_flock(mode)
        };
        match deadline {
            Some(d) => poll(attempt, start, d.saturating_duration_since(start), &path),
            None => poll(attempt, start, Duration::MAX, &path),
        }
    }
}

/// What a helper thread waiting in `flock(2)` (or an interrupt) tells the
/// caller of [`wait_in_kernel`].
enum Event {
    /// The helper thread's `flock(2)` ended: the description, locked.
    Got(io::Result<File>),
    /// The interrupt token was interrupted.
    Interrupted,
}

/// How [`wait_in_kernel`] ended.
pub(crate) enum Waited {
    /// The lock, on the description given.
    Got(File),
    /// The deadline passed (the waiter left the kernel's queue).
    TimedOut,
    /// The token was interrupted (the waiter left the kernel's queue).
    Interrupted,
    /// `flock(2)` failed.
    Failed(io::Error),
    /// No helper thread could be had (16 wait already, or none could be
    /// started): poll instead, on the file given back.
    NoThread(File),
}

/// Locks `file` (an open file description of its own) in `mode`, blocking
/// in `flock(2)` on a helper thread, queued in the kernel, until `deadline`
/// (if any) or until `token` (if any) is interrupted; a helper thread that
/// is not needed any more is woken and ends (see [`LockFile::lock_with`]).
pub(crate) fn wait_in_kernel(
    file: File,
    mode: LockMode,
    deadline: Option<Instant>,
    token: Option<&Interrupt>,
) -> Waited {
    if token.is_some_and(Interrupt::is_interrupted) {
        return Waited::Interrupted;
    }
    let Some(slot) = WaiterSlot::take() else {
        return Waited::NoThread(file);
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let _woken = token.map(|token| {
        let tx = tx.clone();
        token.on_interrupt(move || {
            let _ = tx.send(Event::Interrupted);
        })
    });
    // Kept to give back if no thread can be started.
    let Ok(spare) = file.try_clone() else {
        return Waited::NoThread(file);
    };
    let helper = interrupt::spawn("jlock-lock-wait", move |cancel| {
        let _slot = slot;
        let got = loop {
            if cancel.requested() {
                // Closing `file` (at the end of this closure) takes it out
                // of the kernel's queue, if it was ever in it.
                return;
            }
            match flock_once(&file, mode) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other.map(|()| file),
            }
        };
        // If the waiter has gone (it timed out and could not wake this
        // thread), the send fails and drops the file: closing the only
        // descriptor of its open file description releases the lock.
        let _ = tx.send(Event::Got(got));
    });
    let Ok(helper) = helper else {
        return Waited::NoThread(spare);
    };
    drop(spare);
    let first = match deadline {
        Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
    };
    match first {
        Ok(Event::Got(Ok(file))) => {
            helper.detach();
            Waited::Got(file)
        }
        Ok(Event::Got(Err(e))) => {
            helper.detach();
            Waited::Failed(e)
        }
        Ok(Event::Interrupted) => {
            // A lock granted just before the thread was woken is dropped
            // with the channel.
            helper.cancel();
            Waited::Interrupted
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            helper.cancel();
            // Granted just as the deadline passed: take it rather than
            // waste it.
            match rx.try_recv() {
                Ok(Event::Got(Ok(file))) => Waited::Got(file),
                _ => Waited::TimedOut,
            }
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Waited::Failed(io::Error::other(
            "the thread waiting for the lock ended without an answer",
        )),
    }
}

/// The longest pause between two attempts when a timed wait has to poll.
const MAX_POLL: Duration = Duration::from_millis(20);

/// At most this many helper threads wait in `flock(2)` at once in one
/// process. A thread whose caller timed out stays until the lock is free;
/// a host that keeps timing out on a lock that is never freed must not
/// pile up threads without bound, so past this many, timed waits poll.
const MAX_WAITER_THREADS: usize = 16;

/// How many helper threads are waiting now.
static WAITER_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the [`MAX_WAITER_THREADS`] places; given back when dropped.
struct WaiterSlot;

impl WaiterSlot {
    fn take() -> Option<WaiterSlot> {
        use std::sync::atomic::Ordering;
        WAITER_THREADS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WAITER_THREADS).then_some(n + 1)
            })
            .ok()
            .map(|_| WaiterSlot)
    }
}

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        WAITER_THREADS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Locks the open file `file` (of `path`, for errors) in `mode`, waiting
/// as `wait` says from `start`: for a lock taken under another one, which
/// is rarely held by anyone else, so a timed wait polls.
pub(crate) fn lock_file(
    file: &File,
    mode: LockMode,
    wait: Wait,
    start: Instant,
    path: &Path,
) -> Result<()> {
    let attempt = || try_lock_file(file, mode).map_err(|e| Error::io(Operation::Lock, path, e));
    if attempt()? {
        return Ok(());
    }
    match wait {
        Wait::NoWait => Err(busy(path, wait, start)),
        Wait::Timeout(limit) => poll(attempt, start, limit, path),
        _ => flock_blocking(file, mode).map_err(|e| Error::io(Operation::Lock, path, e)),
    }
}

/// One non-blocking `flock(2)`: `Ok(true)` if taken, `Ok(false)` if it
/// would block; resumed after a signal.
pub(crate) fn try_lock_file(file: &File, mode: LockMode) -> io::Result<bool> {
    loop {
        let res = match mode {
            LockMode::Exclusive => fs4::FileExt::try_lock(file),
            LockMode::Shared => fs4::FileExt::try_lock_shared(file),
        };
        // fs4 reports "would block" as an error value; it must never be
        // mistaken for success, nor for an I/O failure.
        match res {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Calls `attempt` with a short back-off (0.5 ms doubling to
/// [`MAX_POLL`]) until it succeeds or `limit` has passed since `start`.
fn poll(
    mut attempt: impl FnMut() -> Result<bool>,
    start: Instant,
    limit: Duration,
    path: &Path,
) -> Result<()> {
    let mut pause = Duration::from_micros(500);
    loop {
        if attempt()? {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(Error::LockTimeout {
                path: path.to_path_buf(),
                waited,
            });
        }
        thread::sleep(pause.min(limit.saturating_sub(waited)));
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// What is left of `wait` begun at `start`.
pub(crate) fn wait_left(wait: Wait, start: Instant) -> Wait {
    match wait {
        Wait::Timeout(limit) => Wait::Timeout(limit.saturating_sub(start.elapsed())),
        other => other,
    }
}

/// The error for a lock on `path` still held elsewhere when `wait` ends.
fn busy(path: &Path, wait: Wait, start: Instant) -> Error {
    match wait {
        Wait::Timeout(_) => Error::LockTimeout {
            path: path.to_path_buf(),
            waited: start.elapsed(),
        },
        _ => Error::LockConflict {
            path: path.to_path_buf(),
        },
    }
}

/// A blocking `flock(2)`, resumed after a signal handler interrupts it.
pub(crate) fn flock_blocking(file: &File, mode: LockMode) -> io::Result<()> {
    loop {
        match flock_once(file, mode) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// One blocking `flock(2)`: `Interrupted` if a signal handler ran.
pub(crate) fn flock_once(file: &File, mode: LockMode) -> io::Result<()> {
    match mode {
        LockMode::Exclusive => fs4::FileExt::lock(file),
        LockMode::Shared => fs4::FileExt::lock_shared(file),
    }
}

/// The flags every open of a lock file gets, beyond the access mode:
/// no controlling terminal, and no blocking on a FIFO that has no writer
/// (cleared again once open, so the descriptor the command may inherit is
/// an ordinary blocking one).
fn open_flags(how: shared_dir::Open) -> libc::c_int {
    let nofollow = match how {
        shared_dir::Open::NoFollow => libc::O_NOFOLLOW,
        shared_dir::Open::Follow => 0,
    };
    libc::O_NOCTTY | libc::O_NONBLOCK | nofollow
}

/// Opens as `flock(1)` does: read-only, creating the file if missing; if
/// that fails with `EISDIR` (a directory, or a path ending in `/`), once
/// more without `O_CREAT`, whose error is the one to report ("Not a
/// directory" for `file/`).
fn open_lock_file(path: &Path, how: shared_dir::Open) -> io::Result<File> {
    // `O_CREAT` as a custom flag: `OpenOptions::create` insists on write
    // access, which `open(2)` does not.
    let created = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags(how) | libc::O_CREAT)
        .mode(0o666)
        .open(path);
    let file = match created {
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => OpenOptions::new()
            .read(true)
            .custom_flags(open_flags(how))
            .open(path)?,
        other => other?,
    };
    clear_nonblock(&file)?;
    Ok(file)
}

/// Which access a second open of a lock file asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The same as the first descriptor's.
    Same,
    /// Read and write.
    ReadWrite,
}

/// A new open file description of the file `file` has open: through
/// `/proc/self/fd` where there is one (the same inode, even if the path now
/// names another file), else through `path`; either way checked to be the
/// same file.
fn reopen(file: &File, path: &Path, how: shared_dir::Open, access: Access) -> io::Result<File> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    let write = access == Access::ReadWrite || flags.contains(rustix::fs::OFlags::RDWR);
    let open = |p: &Path, extra: libc::c_int| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | extra)
            .open(p)
    };
    let proc_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let second = match open(&proc_path, 0) {
        Ok(f) => f,
        // No /proc (or not Linux): the path, with the first open's care
        // about symbolic links in shared directories.
        Err(_) => open(path, open_flags(how) & libc::O_NOFOLLOW)?,
    };
    let (a, b) = (file.metadata()?, second.metadata()?);
    if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
        return Err(io::Error::other("the lock file was replaced"));
    }
    clear_nonblock(&second)?;
    Ok(second)
}

/// Clears `O_NONBLOCK`, set only so that opening a FIFO does not block.
fn clear_nonblock(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
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
    /// An exclusive holder's claim on the name; dropped before the lock.
    claim: Option<Claim>,
    /// A fair lock's place in the queue; given up after the lock.
    ticket: Option<fair::Ticket>,
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

    /// Turns the lock into descriptors of its own, to hand on to child
    /// processes as `flock(1)` hands the lock to its command: whoever has a
    /// descriptor of the locked open file description has the lock.
    ///
    /// The first descriptor is the lock's; an exclusive lock on Linux has
    /// a second, its claim on the lock file's name (a socket: see
    /// docs/design.md, "A lock file deleted while held"), which the holder
    /// should keep as long as the lock. Each is a duplicate numbered 3 or
    /// above (so a child's redirected standard streams cannot land on it)
    /// and close-on-exec: make them inheritable in the child only, after
    /// `fork` (for instance in a `pre_exec` hook), so that other threads
    /// spawning programs meanwhile do not leak them. The lock is then held
    /// for as long as any descriptor of it is open — these, and each
    /// child's copy. Nothing unlocks it explicitly any more: an explicit
    /// `LOCK_UN` would take it from the children too.
    ///
    /// The guard's [`LockFile`] is given a fresh open file description of
    /// the same file and is unlocked: locking it again waits for the
    /// holders of the descriptor like any other process.
    ///
    /// Errors: [`Error::Io`] if the file cannot be opened again or the
    /// descriptor duplicated; the lock is then released.
    pub fn into_fds(mut self) -> Result<Vec<OwnedFd>> {
        let claim = self.claim.take();
        let lock = &mut *self.lock;
        let err = |e| Error::io(Operation::OpenLock, &lock.path, e);
        let fresh = reopen(&lock.file, &lock.path, lock.how, Access::Same).map_err(err)?;
        let held =
            rustix::io::fcntl_dupfd_cloexec(&lock.file, 3).map_err(|e| err(io::Error::from(e)))?;
        let mut fds = vec![held];
        if let Some(fd) = claim.and_then(Claim::into_fd) {
            if std::os::fd::AsRawFd::as_raw_fd(&fd) < 3 {
                fds.push(rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| err(e.into()))?);
            } else {
                fds.push(fd);
            }
        }
        // Last, so that a holder closing them in order (a `Vec` dropped)
        // gives up its place only once the lock and the claim are free:
        // the next fair waiter then finds them free.
        if let Some(ticket) = self.ticket.take() {
            fds.push(ticket.into_fd()?);
        }
        // From here on, `fds` hold the lock in this process; closing the
        // old descriptor does not release it.
        lock.file = fresh;
        std::mem::forget(self);
        Ok(fds)
    }

    /// Advances the fencing token kept in the lock file and returns the new
    /// value: 1 the first time, then one more at each call — call it once
    /// per exclusive acquisition, and hand the value to whatever the lock
    /// protects, which can then refuse a request carrying a lower token than
    /// one it has seen (a holder that was paused and lost the lock).
    ///
    /// The counter is the whole content of the lock file, one line
    /// `jlock-fence NNNNNNNNNNNNNNNNNNNN` (20 digits, so it is rewritten in
    /// place at the same length), flushed with `fdatasync` before this
    /// returns. `Ok(None)`, and nothing written, when the file cannot hold
    /// one: a shared lock (no single holder to fence), a directory or other
    /// non-regular file, a file another user owns (even one this process
    /// may write: root's jlock never writes into a file someone planted),
    /// a file this process may not write, or a file with
    /// other content (an empty file starts at 1; a script that locks itself,
    /// or a file with a PID in it, is left alone). Only processes that call
    /// this advance it: `flock(1)` on the same file does not.
    ///
    /// The file is opened for writing only when it is empty or already holds
    /// a counter, and closed again before this returns, so a program that
    /// locks its own executable is never made "Text file busy".
    pub fn advance_fence(&mut self) -> Result<Option<u64>> {
        if self.mode != LockMode::Exclusive {
            return Ok(None);
        }
        let lock = &mut *self.lock;
        let io_err = |op, e| Error::io(op, &lock.path, e);
        let meta = lock
            .file
            .metadata()
            .map_err(|e| io_err(Operation::Read, e))?;
        // Never written into a file another user owns (one planted in a
        // sticky directory, say): the counter is kept only in our own.
        if meta.uid() != shared_dir::euid()
            || !meta.file_type().is_file()
            || read_fence(&lock.file)
                .map_err(|e| io_err(Operation::Read, e))?
                .is_none()
        {
            return Ok(None);
        }
        let rw = match reopen(&lock.file, &lock.path, lock.how, Access::ReadWrite) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        // Read again through the descriptor we write with.
        let Some(current) = read_fence(&rw).map_err(|e| io_err(Operation::Read, e))? else {
            return Ok(None);
        };
        let Some(next) = current.checked_add(1) else {
            return Ok(None);
        };
        rw.write_all_at(fence_record(next).as_bytes(), 0)
            .and_then(|()| rw.sync_data())
            .map_err(|e| io_err(Operation::Write, e))?;
        Ok(Some(next))
    }
}

/// The lock file's content when it holds fencing token `n`.
fn fence_record(n: u64) -> String {
    format!("jlock-fence {n:020}\n")
}

/// The fencing token in `file`: `Some(0)` for an empty file, `None` for a
/// file with any other content than one counter record.
fn read_fence(file: &File) -> io::Result<Option<u64>> {
    let len = fence_record(0).len();
    let mut buf = vec![0u8; len + 1];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if got == 0 {
        return Ok(Some(0));
    }
    if got != len {
        return Ok(None);
    }
    let text = std::str::from_utf8(&buf[..len]).ok();
    Ok(text
        .and_then(|t| t.strip_prefix("jlock-fence "))
        .and_then(|t| t.strip_suffix('\n'))
        .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok()))
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // The claim first: a process that gets the lock next then finds it gone.
        self.claim = None;
        // An unlock can only fail for a bad descriptor, which we own; and
        // closing the file would release the lock anyway.
        let _ = fs4::FileExt::unlock(&self.lock.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict<T: std::fmt::Debug>(r: Result<T>) -> bool {
        matches!(r, Err(Error::LockConflict { .. }))
    }

    #[test]
    fn exclusive_excludes_exclusive_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let guard = a.lock_exclusive().unwrap();
        assert!(conflict(b.try_lock_exclusive()));
        assert!(conflict(b.try_lock_shared()));
        drop(guard);
        let _g = b.try_lock_exclusive().unwrap();
    }

    #[test]
    fn shared_admits_shared_but_not_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let mut c = LockFile::open(&path).unwrap();
        let _ga = a.lock_shared().unwrap();
        let _gb = b.try_lock_shared().expect("second shared lock");
        assert!(conflict(c.try_lock_exclusive()));
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

    /// Polls `holders` until `path` has a waiter in the kernel's table.
    fn await_kernel_waiter(path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !crate::holders(path).unwrap().iter().any(|h| h.waiting) {
            assert!(
                Instant::now() < deadline,
                "no waiter ever queued in the kernel"
            );
            thread::yield_now();
        }
    }

    #[test]
    fn a_timed_wait_queues_in_the_kernel_and_gets_the_lock_when_freed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.lock");
        let mut a = LockFile::open(&path).unwrap();
        let held = a.lock_exclusive().unwrap();
        let p = path.clone();
        let waiter = thread::spawn(move || {
            let mut b = LockFile::open(&p).unwrap();
            let fd_before = b.as_raw_fd();
            let g = b.lock(LockMode::Exclusive, Wait::Timeout(Duration::from_secs(600)));
            let mode = g.map(|g| g.mode());
            (mode.map_err(|e| e.to_string()), fd_before)
        });
        // A poller with LOCK_NB never shows up as a waiter; a blocked
        // flock(2) does.
        await_kernel_waiter(&path);
        drop(held);
        let (got, _) = waiter.join().unwrap();
        assert_eq!(got, Ok(LockMode::Exclusive));
        // And the lock that was got is a real one: a third open conflicts.
        let mut c = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let gb = b
            .lock(LockMode::Exclusive, Wait::Timeout(Duration::from_secs(600)))
            .unwrap();
        assert!(conflict(c.try_lock_shared()));
        drop(gb);
        let _g = c.try_lock_shared().unwrap();
    }

    #[test]
    fn a_timed_out_waiter_lets_the_lock_go_as_soon_as_it_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.lock");
        let mut a = LockFile::open(&path).unwrap();
        let mut b = LockFile::open(&path).unwrap();
        let held = a.lock_exclusive().unwrap();
        let err = b
            .lock(
                LockMode::Exclusive,
                Wait::Timeout(Duration::from_millis(20)),
            )
            .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
        // b's helper thread was woken and left (or, were the signal not
        // ours, takes the lock and drops it at once): a blocking lock gets it.
        drop(held);
        let mut c = LockFile::open(&path).unwrap();
        let _g = c.lock_exclusive().unwrap();
        // b itself holds nothing.
        assert!(conflict(b.try_lock_shared()));
    }

    #[test]
    fn a_timed_out_waiter_leaves_no_waiter_in_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.lock");
        let mut a = LockFile::open(&path).unwrap();
        let _held = a.lock_exclusive().unwrap();
        let mut b = LockFile::open(&path).unwrap();
        for limit in [0, 1, 5, 30] {
            let err = b
                .lock(
                    LockMode::Shared,
                    Wait::Timeout(Duration::from_millis(limit)),
                )
                .unwrap_err();
            assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
            let waiting: Vec<_> = crate::holders(&path)
                .unwrap()
                .into_iter()
                .filter(|h| h.waiting)
                .collect();
            assert!(waiting.is_empty(), "left queued: {waiting:?}");
        }
    }

    #[test]
    fn an_interrupt_ends_a_blocking_wait_and_leaves_nothing_queued() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("int.lock");
        let mut a = LockFile::open(&path).unwrap();
        let held = a.lock_exclusive().unwrap();
        let token = Interrupt::new();
        let (p, t) = (path.clone(), token.clone());
        let waiter = thread::spawn(move || {
            let mut b = LockFile::open(&p).unwrap();
            b.interrupt(&t);
            b.lock(LockMode::Exclusive, Wait::Block).map(|_| ())
        });
        await_kernel_waiter(&path);
        token.interrupt();
        let got = waiter.join().unwrap();
        assert!(matches!(got, Err(Error::Interrupted { .. })), "{got:?}");
        assert!(!crate::holders(&path).unwrap().iter().any(|h| h.waiting));
        // Still interrupted: the next attempt fails at once, even when free.
        drop(held);
        let mut c = LockFile::open(&path).unwrap();
        c.interrupt(&token);
        assert!(matches!(
            c.lock(LockMode::Exclusive, Wait::NoWait),
            Err(Error::Interrupted { .. })
        ));
        token.reset();
        let _g = c.lock(LockMode::Exclusive, Wait::Block).unwrap();
    }

    #[test]
    fn timing_out_again_and_again_does_not_pile_up_threads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stuck.lock");
        let mut a = LockFile::open(&path).unwrap();
        let held = a.lock_exclusive().unwrap();
        let mut b = LockFile::open(&path).unwrap();
        for _ in 0..(3 * MAX_WAITER_THREADS) {
            let err = b
                .lock(LockMode::Exclusive, Wait::Timeout(Duration::from_millis(1)))
                .unwrap_err();
            assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
            let now = WAITER_THREADS.load(std::sync::atomic::Ordering::Acquire);
            assert!(now <= MAX_WAITER_THREADS, "{now} waiting threads");
        }
        drop(held);
        // Every lingering thread takes the lock in turn and lets it go.
        let _g = b.lock_exclusive().unwrap();
    }

    #[test]
    fn directory_and_read_only_file_can_be_locked() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = LockFile::open(dir.path()).unwrap();
        let _g = d.lock_exclusive().unwrap();
        let mut d2 = LockFile::open(dir.path()).unwrap();
        assert!(conflict(d2.try_lock_shared()));
        let ro = dir.path().join("ro.lock");
        std::fs::write(&ro, "").unwrap();
        let mut perms = std::fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
        std::fs::set_permissions(&ro, perms).unwrap();
        let mut r = LockFile::open(&ro).unwrap();
        let _g = r.try_lock_exclusive().unwrap();
    }

    #[test]
    fn the_lock_file_is_opened_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.lock");
        let lock = LockFile::open(&path).unwrap();
        let flags = rustix::fs::fcntl_getfl(&lock).unwrap();
        assert!(!flags.intersects(rustix::fs::OFlags::RDWR | rustix::fs::OFlags::WRONLY));
        assert!(
            !flags.contains(rustix::fs::OFlags::NONBLOCK),
            "O_NONBLOCK left set"
        );
    }

    #[test]
    fn a_fifo_is_opened_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let r = LockFile::open(&path).and_then(|mut l| l.try_lock_exclusive().map(|_| ()));
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        // A bound, not a timing assertion: a blocked open never answers.
        let got = rx.recv_timeout(Duration::from_secs(60));
        assert_eq!(got, Ok(Ok(())), "opening a FIFO with no writer blocked");
    }

    #[test]
    fn a_path_ending_in_slash_that_is_a_file_is_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        let err = LockFile::open(dir.path().join("f/")).unwrap_err();
        match &err {
            Error::Io { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR), "{err}")
            }
            other => panic!("{other:?}"),
        }
        let err = LockFile::open(dir.path().join("none/")).unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOENT)),
            "{err}"
        );
    }

    #[test]
    fn into_fd_keeps_the_lock_in_a_close_on_exec_descriptor_and_leaves_the_lock_file_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.lock");
        let mut lock = LockFile::open(&path).unwrap();
        let fds = lock.lock_exclusive().unwrap().into_fds().unwrap();
        for fd in &fds {
            assert!(std::os::fd::AsRawFd::as_raw_fd(fd) >= 3);
            let cloexec = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(cloexec.contains(rustix::io::FdFlags::CLOEXEC));
        }
        // The descriptor holds it; the LockFile is a fresh, unlocked
        // description, which conflicts like any other.
        assert!(conflict(lock.try_lock_shared()));
        let mut other = LockFile::open(&path).unwrap();
        assert!(conflict(other.try_lock_shared()));
        drop(fds);
        let _g = lock.try_lock_exclusive().unwrap();
    }

    #[test]
    fn the_fence_advances_in_an_empty_or_fence_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.lock");
        let mut lock = LockFile::open(&path).unwrap();
        for want in 1..=3 {
            let mut g = lock.lock_exclusive().unwrap();
            assert_eq!(g.advance_fence().unwrap(), Some(want));
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "jlock-fence 00000000000000000003\n"
        );
        assert_eq!(lock.lock_shared().unwrap().advance_fence().unwrap(), None);
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let mut s = LockFile::open(&script).unwrap();
        assert_eq!(s.lock_exclusive().unwrap().advance_fence().unwrap(), None);
        assert_eq!(
            std::fs::read_to_string(&script).unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        let mut d = LockFile::open(dir.path()).unwrap();
        assert_eq!(d.lock_exclusive().unwrap().advance_fence().unwrap(), None);
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
