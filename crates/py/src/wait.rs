//! Waiting for a lock from Python: with the GIL released, with a check for
//! signals (Ctrl-C) every slice, and nothing left behind when one ends it.
//!
//! Two ways:
//!
//! * a lock and a semaphore (`RawLock`, `RawSemaphore`, in [`crate::lock`])
//!   wait with [`interruptible`]: ONE jlock-core wait, on a thread of its
//!   own, queued in the kernel for the whole wait, given an
//!   [`Interrupt`] token; the calling thread looks for signals every slice,
//!   and on Ctrl-C interrupts the token — jlock-core then wakes its waiter
//!   out of `flock(2)` — waits for the answer, and raises
//!   `KeyboardInterrupt`: no lock held, no waiter left in `/proc/locks`;
//! * the store (whose operation cannot move to another thread cheaply)
//!   waits with [`retry`]: a series of bounded waits — [`Wait::Timeout`] of
//!   at most [`MAX_SLICE`] — with `Python::check_signals` between two of
//!   them, so that Ctrl-C raises `KeyboardInterrupt` within a slice and no
//!   lock is taken afterwards. (A slice that times out leaves no waiter
//!   queued: jlock-core cancels its helper thread.)

use std::time::{Duration, Instant};

use std::sync::mpsc::{self, RecvTimeoutError};

use jlock_core::{Interrupt, Wait};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::state_error;

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

/// How long [`interruptible`] waits for the wait's answer once it has
/// interrupted it (jlock-core answers within about 2 s even when it cannot
/// wake its waiter; a wait that still does not answer is let go).
const ANSWER_PATIENCE: Duration = Duration::from_secs(10);

/// How a wait run by [`interruptible`] ended.
pub enum Outcome<T> {
    /// It answered by itself: the lock, or its own error.
    Done(T),
    /// A signal handler raised `error` (`KeyboardInterrupt`); the token was
    /// interrupted and `answer` is what the wait answered then (its
    /// `Error::Interrupted`, or a lock got just before: the caller drops
    /// it), `None` if it did not answer in time.
    Signalled {
        /// The wait's answer to the interrupt.
        answer: Option<T>,
        /// The exception to raise.
        error: PyErr,
    },
}

/// Runs `wait` — one jlock-core wait given the token it is handed (see
/// [`Interrupt`]) — on a thread of its own, while this thread, with the GIL
/// released, looks for signals every `slice`. When a signal handler raises,
/// the token is interrupted and the wait's answer awaited (at most
/// [`ANSWER_PATIENCE`]), then the token is reset (so a lock file that keeps
/// it can be used again).
pub fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    slice: Duration,
    wait: impl FnOnce(&Interrupt) -> T + Send + 'static,
) -> PyResult<Outcome<T>> {
    let token = Interrupt::new();
    let theirs = token.clone();
    let (tx, mut rx) = mpsc::sync_channel::<T>(1);
    std::thread::Builder::new()
        .name("jlock-wait".into())
        .spawn(move || {
            // Nobody listening (the answer came too late): what it got is
            // dropped here, which releases a lock.
            let _ = tx.send(wait(&theirs));
        })
        .map_err(|e| state_error(format!("cannot start a thread to wait for the lock: {e}")))?;
    loop {
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(slice);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(t) => return Ok(Outcome::Done(t)),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(error) = py.check_signals() {
                    token.interrupt();
                    let (_, answer) = py.detach(move || {
                        let got = rx.recv_timeout(ANSWER_PATIENCE).ok();
                        (rx, got)
                    });
                    token.reset();
                    return Ok(Outcome::Signalled { answer, error });
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(state_error(
                    "the thread waiting for the lock ended without an answer",
                ))
            }
        }
    }
}

/// The one jlock-core [`Wait`] of a whole wait of this patience.
pub fn whole_wait(patience: Patience) -> Wait {
    match patience {
        Patience::NoWait => Wait::NoWait,
        Patience::Forever => Wait::Block,
        Patience::For(limit) => Wait::Timeout(limit),
    }
}
