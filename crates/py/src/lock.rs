//! The lock primitives under `jlock.FileLock`, `jlock.ReadWriteLock` and
//! `jlock.Semaphore`: one hold each, on jlock-core's [`LockFile`] and
//! [`Semaphore`]. Re-entrancy, counters and context managers are the Python
//! classes' (`jlock/_locks.py`).

use std::path::PathBuf;

use jlock_core::{Error, LockFile, LockGuard, LockMode, SemaphoreGuard, Wait};
use ouroboros::self_referencing;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{state_error, to_py_err};
use crate::wait::{interruptible, slice_of, whole_wait, Outcome, Patience};

/// A lock file and the guard of the lock held on it (`None` only once
/// [`HeldLock::disown`] has let go of it without unlocking).
#[self_referencing]
struct HeldLock {
    file: LockFile,
    #[borrows(mut file)]
    #[covariant]
    guard: Option<LockGuard<'this>>,
}

impl HeldLock {
    /// In a forked child: closes this process's descriptors of the lock
    /// (and of its claim on the name) without unlocking, which would take
    /// the lock from the parent that holds it.
    fn disown(mut self) {
        let fds = self.with_guard_mut(|g| g.take().map(LockGuard::into_fds));
        drop(fds);
    }
}

/// A semaphore and the guard of the slot held in it (`None` only once
/// [`HeldSlot::disown`] has let go of it).
#[self_referencing]
struct HeldSlot {
    sem: jlock_core::Semaphore,
    #[borrows(mut sem)]
    #[covariant]
    guard: Option<SemaphoreGuard<'this>>,
}

impl HeldSlot {
    /// As [`HeldLock::disown`].
    fn disown(mut self) {
        let fds = self.with_guard_mut(|g| g.take().map(SemaphoreGuard::into_fds));
        drop(fds);
    }
}

/// What the thread waiting for a [`RawLock`]'s lock hands back: the lock
/// held, or the error and the lock file.
/// (Boxed: the error and the lock file are large to move about.)
type Waited = Result<HeldLock, Box<(Error, LockFile)>>;

/// What the thread waiting for a [`RawSemaphore`]'s slot hands back.
type WaitedSlot = Result<HeldSlot, Box<(Error, jlock_core::Semaphore)>>;

/// What a [`RawLock`] has: nothing yet, its lock file (kept open between
/// two holds), or a held lock.
enum LockState {
    Idle(Option<LockFile>),
    Held { held: HeldLock, shared: bool },
}

/// One `flock(2)` hold on a lock file: `acquire` takes it (exclusive or
/// shared, waiting with the GIL released, interruptible by Ctrl-C),
/// `release` frees it. Not re-entrant: see `jlock.FileLock`.
///
/// After a `fork`, the child's copy holds nothing and opens its own lock
/// file: the one it inherited shares its open file description (and so its
/// lock) with the parent's. `after_fork` does that at once (jlock's
/// `os.register_at_fork` hook calls it); every method checks too.
#[pyclass(module = "jlock._jlock", weakref)]
pub struct RawLock {
    path: PathBuf,
    state: LockState,
    /// The process that opened the lock file.
    pid: u32,
}

impl RawLock {
    /// Drops what a forked child inherited, leaving the parent's lock alone.
    fn check_fork(&mut self) {
        let pid = std::process::id();
        if self.pid != pid {
            self.pid = pid;
            match std::mem::replace(&mut self.state, LockState::Idle(None)) {
                LockState::Held { held, .. } => held.disown(),
                // Closing our copy of an unlocked description changes nothing.
                LockState::Idle(file) => drop(file),
            }
        }
    }
}

#[pymethods]
impl RawLock {
    /// A lock on the file at `path`, which is opened (and created if
    /// missing) at the first `acquire`.
    #[new]
    fn new(path: PathBuf) -> RawLock {
        RawLock {
            path,
            state: LockState::Idle(None),
            pid: std::process::id(),
        }
    }

    /// Takes the lock: shared if `shared`, else exclusive. `timeout` in
    /// seconds (`None` or negative: forever; `0`: one attempt), `blocking`
    /// False: one attempt; `poll_interval`: how often a wait checks for
    /// signals (clamped to 0.01–0.1 s; the lock itself is handed over by the
    /// kernel as soon as it is free). Raises `jlock.Timeout`.
    #[pyo3(signature = (shared=false, timeout=None, blocking=true, poll_interval=0.05))]
    fn acquire(
        &mut self,
        py: Python<'_>,
        shared: bool,
        timeout: Option<f64>,
        blocking: bool,
        poll_interval: f64,
    ) -> PyResult<()> {
        self.check_fork();
        let patience = Patience::from_timeout(timeout, blocking)?;
        let file = match &mut self.state {
            LockState::Held { .. } => {
                return Err(state_error(format!(
                    "{}: this RawLock already holds the lock",
                    self.path.display()
                )))
            }
            LockState::Idle(file) => file.take(),
        };
        let file = match file {
            Some(f) => f,
            None => {
                let path = self.path.clone();
                py.detach(|| LockFile::open(&path)).map_err(to_py_err)?
            }
        };
        let mode = if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        // One attempt here: the uncontended case costs no thread.
        let file = match HeldLock::try_new_or_recover(file, |f| {
            f.lock(mode, Wait::NoWait).map(Some)
        }) {
            Ok(held) => {
                self.state = LockState::Held { held, shared };
                return Ok(());
            }
            Err((e, heads)) if e.is_lock_contention() && patience != Patience::NoWait => heads.file,
            Err((e, heads)) => {
                self.state = LockState::Idle(Some(heads.file));
                return Err(to_py_err(e));
            }
        };
        // The wait: one thread queued in the kernel for the whole wait (or
        // timing out at its end), while this one looks for signals; Ctrl-C
        // interrupts it, which leaves no waiter queued.
        let wait = whole_wait(patience);
        let outcome = interruptible(py, slice_of(poll_interval), move |token| -> Waited {
            let mut file = file;
            file.interrupt(token);
            HeldLock::try_new_or_recover(file, |f| f.lock(mode, wait).map(Some))
                .map_err(|(e, heads)| Box::new((e, heads.file)))
        })?;
        let (got, signal) = match outcome {
            Outcome::Done(got) => (got, None),
            Outcome::Signalled { answer, error } => match answer {
                Some(got) => (got, Some(error)),
                None => return Err(error),
            },
        };
        match (got, signal) {
            (Ok(held), None) => {
                self.state = LockState::Held { held, shared };
                Ok(())
            }
            // Got just as Ctrl-C came: let it go, keep the file.
            (Ok(held), Some(error)) => {
                self.state = LockState::Idle(Some(held.into_heads().file));
                Err(error)
            }
            (Err(b), Some(error)) => {
                let (_, file) = *b;
                self.state = LockState::Idle(Some(file));
                Err(error)
            }
            (Err(b), None) => {
                let (e, file) = *b;
                self.state = LockState::Idle(Some(file));
                Err(to_py_err(e))
            }
        }
    }

    /// Frees the lock; nothing if it is not held (or was held by the
    /// parent of this forked process).
    fn release(&mut self) {
        self.check_fork();
        let state = std::mem::replace(&mut self.state, LockState::Idle(None));
        self.state = match state {
            LockState::Held { held, .. } => LockState::Idle(Some(held.into_heads().file)),
            idle => idle,
        };
    }

    /// Whether this object holds the lock (in this process).
    #[getter]
    fn is_locked(&self) -> bool {
        self.pid == std::process::id() && matches!(self.state, LockState::Held { .. })
    }

    /// In a forked child: forget what was inherited (see the class doc).
    fn after_fork(&mut self) {
        self.check_fork();
    }

    /// Whether the lock held is shared (`None` if none is held).
    #[getter]
    fn shared(&self) -> Option<bool> {
        match self.state {
            LockState::Held { shared, .. } => Some(shared),
            LockState::Idle(_) => None,
        }
    }

    /// The lock file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}

/// One holder of a counting semaphore over `slots` lock files
/// `<path>.slot0` … (the CLI's `--slots`): `acquire` takes a free slot,
/// `release` frees it.
/// Forked children forget what they inherited, as for `RawLock`.
#[pyclass(module = "jlock._jlock", weakref)]
pub struct RawSemaphore {
    base: PathBuf,
    slots: usize,
    idle: Option<jlock_core::Semaphore>,
    held: Option<HeldSlot>,
    /// The process that opened the slot files.
    pid: u32,
}

impl RawSemaphore {
    /// As [`RawLock`]'s.
    fn check_fork(&mut self) {
        let pid = std::process::id();
        if self.pid != pid {
            self.pid = pid;
            self.idle = None;
            if let Some(held) = self.held.take() {
                held.disown();
            }
        }
    }
}

#[pymethods]
impl RawSemaphore {
    /// A semaphore of `slots` slots named after `path`; the slot files are
    /// opened (and created) at the first `acquire`.
    #[new]
    fn new(path: PathBuf, slots: usize) -> PyResult<RawSemaphore> {
        if slots == 0 {
            return Err(PyValueError::new_err("a semaphore needs at least 1 slot"));
        }
        Ok(RawSemaphore {
            base: path,
            slots,
            idle: None,
            held: None,
            pid: std::process::id(),
        })
    }

    /// Takes a free slot, waiting as for `RawLock.acquire`; raises `jlock.Timeout`.
    #[pyo3(signature = (timeout=None, blocking=true, poll_interval=0.05))]
    fn acquire(
        &mut self,
        py: Python<'_>,
        timeout: Option<f64>,
        blocking: bool,
        poll_interval: f64,
    ) -> PyResult<()> {
        self.check_fork();
        if self.held.is_some() {
            return Err(state_error(format!(
                "{}: this semaphore object already holds a slot; use another object for another slot",
                self.base.display()
            )));
        }
        let patience = Patience::from_timeout(timeout, blocking)?;
        let sem = match self.idle.take() {
            Some(s) => s,
            None => {
                let (base, n) = (self.base.clone(), self.slots);
                py.detach(|| jlock_core::Semaphore::open(&base, n))
                    .map_err(to_py_err)?
            }
        };
        // One attempt here: the uncontended case costs no thread.
        let first = py.detach(|| -> WaitedSlot {
            HeldSlot::try_new_or_recover(sem, |s| s.acquire(Wait::NoWait).map(Some))
                .map_err(|(e, heads)| Box::new((e, heads.sem)))
        });
        let sem = match first {
            Ok(held) => {
                self.held = Some(held);
                return Ok(());
            }
            Err(b) if b.0.is_lock_contention() && patience != Patience::NoWait => b.1,
            Err(b) => {
                let (e, sem) = *b;
                self.idle = Some(sem);
                return Err(to_py_err(e));
            }
        };
        // Then one interruptible wait, as for RawLock.
        let wait = whole_wait(patience);
        let outcome = interruptible(py, slice_of(poll_interval), move |token| -> WaitedSlot {
            let mut sem = sem;
            sem.interrupt(token);
            HeldSlot::try_new_or_recover(sem, |s| s.acquire(wait).map(Some))
                .map_err(|(e, heads)| Box::new((e, heads.sem)))
        })?;
        let (got, signal) = match outcome {
            Outcome::Done(got) => (got, None),
            Outcome::Signalled { answer, error } => match answer {
                Some(got) => (got, Some(error)),
                None => return Err(error),
            },
        };
        match (got, signal) {
            (Ok(held), None) => {
                self.held = Some(held);
                Ok(())
            }
            (Ok(held), Some(error)) => {
                self.idle = Some(held.into_heads().sem);
                Err(error)
            }
            (Err(b), Some(error)) => {
                let (_, sem) = *b;
                self.idle = Some(sem);
                Err(error)
            }
            (Err(b), None) => {
                let (e, sem) = *b;
                self.idle = Some(sem);
                Err(to_py_err(e))
            }
        }
    }

    /// Frees the slot held; nothing if none is.
    fn release(&mut self) {
        self.check_fork();
        if let Some(held) = self.held.take() {
            self.idle = Some(held.into_heads().sem);
        }
    }

    /// Whether this object holds a slot (in this process).
    #[getter]
    fn is_locked(&self) -> bool {
        self.pid == std::process::id() && self.held.is_some()
    }

    /// In a forked child: forget what was inherited.
    fn after_fork(&mut self) {
        self.check_fork();
    }

    /// The slot held, from 0 (`None` if none is).
    #[getter]
    fn slot(&self) -> Option<usize> {
        self.held
            .as_ref()
            .and_then(|h| h.borrow_guard().as_ref().map(SemaphoreGuard::slot))
    }

    /// The number of slots.
    #[getter]
    fn slots(&self) -> usize {
        self.slots
    }

    /// The path the slot files are named after.
    #[getter]
    fn path(&self) -> PathBuf {
        self.base.clone()
    }
}
