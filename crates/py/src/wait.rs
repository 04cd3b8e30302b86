//! Waiting for a lock from Python: with the GIL released, in slices, with a
//! check for signals (Ctrl-C) between two slices.
//!
//! jlock-core's waits cannot be interrupted: a blocking `flock(2)` resumes
//! after a signal. Two ways around it:
//!
//! * a lock (`RawLock`, in [`crate::lock`]) waits in a thread of its own,
//!   queued in the kernel for the whole wait, while the calling thread looks
//!   for signals every slice; on Ctrl-C it stops listening, and the waiting
//!   thread, if it ever gets the lock, gives it up at once;
//! * the store and the semaphore (whose operation cannot move to another
//!   thread cheaply, or which polls anyway) wait with [`retry`]: a series of
//!   bounded waits — [`Wait::Timeout`] of at most [`MAX_SLICE`] — with
//!   `Python::check_signals` between two of them, so that Ctrl-C raises
//!   `KeyboardInterrupt` within a slice and no lock is taken afterwards.
//!   (Each slice that times out leaves jlock-core's helper thread queued
//!   until the lock is free — at most 16 in a process, past which
//!   jlock-core polls.)

use std::time::{Duration, Instant};

use jlock_core::Wait;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The longest slice of a wait: how long Ctrl-C may take to be noticed.
pub const MAX_SLICE: Duration = Duration::from_millis(100);

/// The shortest slice (a tiny `poll_interval` must not make a busy loop).
pub const MIN_SLICE: Duration = Duration::from_millis(10);

/// How long a Python call may wait for a lock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Patience {
    /// One attempt.
    NoWait,
    /// As long as it takes.
    Forever,
    /// At most this long.
    For(Duration),
}

impl Patience {
    /// py-filelock's rules: `blocking=False` is one attempt; a negative or
    /// infinite timeout (or `None`) waits forever; `0` is one attempt.
    pub fn from_timeout(timeout: Option<f64>, blocking: bool) -> PyResult<Patience> {
        if !blocking {
            return Ok(Patience::NoWait);
        }
        match timeout {
            None => Ok(Patience::Forever),
            Some(t) if t.is_nan() => Err(PyValueError::new_err("timeout must not be NaN")),
            Some(t) if t < 0.0 || t.is_infinite() => Ok(Patience::Forever),
            Some(0.0) => Ok(Patience::NoWait),
            Some(t) => Ok(Patience::For(Duration::from_secs_f64(t))),
        }
    }

    /// The [`Wait`] a store opened with this patience uses for one attempt:
    /// at most one slice.
    pub fn slice_wait(self, slice: Duration) -> Wait {
        match self {
            Patience::NoWait => Wait::NoWait,
            Patience::Forever => Wait::Timeout(slice),
            Patience::For(limit) => Wait::Timeout(limit.min(slice)),
        }
    }
}

/// The slice length for a `poll_interval` in seconds (clamped to
/// [`MIN_SLICE`]..=[`MAX_SLICE`]).
pub fn slice_of(poll_interval: f64) -> Duration {
    if poll_interval.is_nan() || poll_interval <= 0.0 {
        return MIN_SLICE;
    }
    Duration::from_secs_f64(poll_interval.min(MAX_SLICE.as_secs_f64())).max(MIN_SLICE)
}

/// Runs `attempt` until it succeeds or fails for another reason than
/// contention (`contended` says which), or `patience` runs out: each
/// attempt with the GIL released and with the [`Wait`] of one slice (the
/// rest of the time, at most `slice`); signal handlers run between two
/// attempts, and an exception they raise (`KeyboardInterrupt`) ends the
/// wait. The last contention error is returned when patience runs out.
pub fn retry<T, E>(
    py: Python<'_>,
    patience: Patience,
    slice: Duration,
    mut attempt: impl FnMut(Wait) -> Result<T, E> + Send,
    contended: impl Fn(&E) -> bool,
) -> Result<T, Interrupted<E>>
where
    T: Send,
    E: Send,
{
    let start = Instant::now();
    loop {
        let wait = match patience {
            Patience::NoWait => Wait::NoWait,
            Patience::Forever => Wait::Timeout(slice),
            Patience::For(limit) => {
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero() {
                    Wait::NoWait
                } else {
                    Wait::Timeout(left.min(slice))
                }
            }
        };
        match py.detach(|| attempt(wait)) {
            Ok(t) => return Ok(t),
            Err(e) if contended(&e) => {
                let out_of_time = match patience {
                    Patience::NoWait => true,
                    Patience::Forever => false,
                    Patience::For(limit) => wait == Wait::NoWait || start.elapsed() >= limit,
                };
                if out_of_time {
                    return Err(Interrupted::Failed(e));
                }
                py.check_signals().map_err(Interrupted::Signal)?;
            }
            Err(e) => return Err(Interrupted::Failed(e)),
        }
    }
}

/// Why [`retry`] gave up.
#[derive(Debug)]
pub enum Interrupted<E> {
    /// The attempt's own error (contention, once patience ran out).
    Failed(E),
    /// A signal handler raised (`KeyboardInterrupt`).
    Signal(PyErr),
}
