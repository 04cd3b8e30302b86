//! The primitive under `jlock.LockSet`: several `flock(2)` locks taken
//! together, all or none, in jlock-core's canonical order, within one
//! deadline ([`jlock_core::LockSet`]). Re-entrancy and the context manager
//! are the Python class's (`jlock/_locks.py`).

use std::path::PathBuf;

use jlock_core::{Error, LockMode, LockSet, LockSetGuard, Wait};
use ouroboros::self_referencing;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{state_error, to_py_err};
use crate::wait::{interruptible, slice_of, whole_wait, Outcome, Patience};

/// A lock set and the guard of its locks, held (`None` only once
/// [`HeldSet::disown`] has let go of them without unlocking).
#[self_referencing]
struct HeldSet {
    set: LockSet,
    #[borrows(mut set)]
    #[covariant]
    guard: Option<LockSetGuard<'this>>,
}

impl HeldSet {
    /// In a forked child: closes this process's descriptors of the locks
    /// without unlocking them, which would take them from the parent.
    fn disown(mut self) {
        let fds = self.with_guard_mut(|g| g.take().map(LockSetGuard::into_fds));
        drop(fds);
    }
}

/// What the thread waiting for the set hands back: the set held, or the
/// error and the set (holding nothing: jlock-core releases every lock a
/// failed attempt took).
type Waited = Result<HeldSet, Box<(Error, LockSet)>>;

/// Where a [`RawLockSet`] is.
enum SetState {
    /// Nothing held; the set once opened (its lock files kept open).
    Idle(Option<LockSet>),
    /// Every lock held.
    Held { held: HeldSet, shared: bool },
}

/// Every lock of a set held at once, or none: `acquire` takes them (shared
/// or exclusive, waiting with the GIL released, interruptible by Ctrl-C,
/// one deadline for all), `release` frees them all. Not re-entrant: see
/// `jlock.LockSet`. A forked child's copy holds nothing (as `RawLock`'s).
#[pyclass(module = "jlock._jlock", weakref)]
pub struct RawLockSet {
    paths: Vec<PathBuf>,
    state: SetState,
    /// The process that opened the lock files.
    pid: u32,
}

impl RawLockSet {
    /// Drops what a forked child inherited, leaving the parent's locks alone.
    fn check_fork(&mut self) {
        let pid = std::process::id();
        if self.pid != pid {
            self.pid = pid;
            match std::mem::replace(&mut self.state, SetState::Idle(None)) {
                SetState::Held { held, .. } => held.disown(),
                SetState::Idle(set) => drop(set),
            }
        }
    }
}

#[pymethods]
impl RawLockSet {
    /// A set of the lock files at `paths` (at least one), opened (and
    /// created if missing) at the first `acquire`.
    #[new]
    fn new(paths: Vec<PathBuf>) -> PyResult<RawLockSet> {
        if paths.is_empty() {
            return Err(PyValueError::new_err(
                "a lock set needs at least one lock file",
            ));
        }
        Ok(RawLockSet {
            paths,
            state: SetState::Idle(None),
            pid: std::process::id(),
        })
    }

    /// Takes every lock, shared if `shared`, else exclusive, in the
    /// canonical order; `timeout` in seconds for the whole set (`None` or
    /// negative: forever; `0`: one attempt), `blocking` False: one attempt;
    /// `poll_interval`: how often the wait looks for signals (clamped to
    /// 0.01–0.1 s). On a time-out or a conflict it holds none of them and
    /// raises `jlock.Timeout` naming the lock that was held.
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
        let set = match &mut self.state {
            SetState::Held { .. } => {
                return Err(state_error("this RawLockSet already holds its locks"));
            }
            SetState::Idle(set) => set.take(),
        };
        let set = match set {
            Some(s) => s,
            None => {
                let paths = self.paths.clone();
                py.detach(|| LockSet::open(&paths)).map_err(to_py_err)?
            }
        };
        let mode = if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        // One attempt here: the uncontended case costs no thread.
        let set = match HeldSet::try_new_or_recover(set, |s| s.lock(mode, Wait::NoWait).map(Some)) {
            Ok(held) => {
                self.state = SetState::Held { held, shared };
                return Ok(());
            }
            Err((e, heads)) if e.is_lock_contention() && patience != Patience::NoWait => heads.set,
            Err((e, heads)) => {
                self.state = SetState::Idle(Some(heads.set));
                return Err(to_py_err(e));
            }
        };
        // Then one interruptible wait, as for RawLock: Ctrl-C interrupts
        // it, which leaves no waiter queued and no lock held.
        let wait = whole_wait(patience);
        let outcome = interruptible(py, slice_of(poll_interval), move |token| -> Waited {
            let mut set = set;
            set.interrupt(token);
            HeldSet::try_new_or_recover(set, |s| s.lock(mode, wait).map(Some))
                .map_err(|(e, heads)| Box::new((e, heads.set)))
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
                self.state = SetState::Held { held, shared };
                Ok(())
            }
            // Got just as Ctrl-C came: let them go, keep the files.
            (Ok(held), Some(error)) => {
                self.state = SetState::Idle(Some(held.into_heads().set));
                Err(error)
            }
            (Err(b), Some(error)) => {
                let (_, set) = *b;
                self.state = SetState::Idle(Some(set));
                Err(error)
            }
            (Err(b), None) => {
                let (e, set) = *b;
                self.state = SetState::Idle(Some(set));
                Err(to_py_err(e))
            }
        }
    }

    /// Frees every lock; nothing if none is held (or they were held by the
    /// parent of this forked process).
    fn release(&mut self) {
        self.check_fork();
        let state = std::mem::replace(&mut self.state, SetState::Idle(None));
        self.state = match state {
            SetState::Held { held, .. } => SetState::Idle(Some(held.into_heads().set)),
            idle => idle,
        };
    }

    /// In a forked child: forget what was inherited.
    fn after_fork(&mut self) {
        self.check_fork();
    }

    /// Whether this object holds the locks (in this process).
    #[getter]
    fn is_locked(&self) -> bool {
        self.pid == std::process::id() && matches!(self.state, SetState::Held { .. })
    }

    /// Whether the locks held are shared (`None` if none are held).
    #[getter]
    fn shared(&self) -> Option<bool> {
        match self.state {
            SetState::Held { shared, .. } => Some(shared),
            SetState::Idle(_) => None,
        }
    }

    /// The lock files' paths, as given.
    #[getter]
    fn paths(&self) -> Vec<PathBuf> {
        self.paths.clone()
    }
}
