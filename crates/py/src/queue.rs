//! `Store.push` and `Store.pop`: a work queue in the array at a path of a
//! store's document — jlock-core's [`WorkQueue`], each call one atomic
//! update under the lock (one compare-and-swap on etcd), as `jlock push` and
//! `jlock pop`. A waiting `pop` sleeps on jlock-core's [`FileWatch`]
//! (inotify on the data file's directory: no read of the file until it
//! changes; on etcd, a read every 100 ms, as the CLI's), in slices of at
//! most [`MAX_SLICE`] so that Ctrl-C is noticed.

use std::time::{Duration, Instant};

use jlock_core::{Changes, FileWatch, JsonPath, Spellings, WorkQueue};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::Value;

use crate::convert::{from_py, to_py};
use crate::errors::raise;
use crate::store::{parse_path, OpError, Store};
use crate::wait::{Patience, MAX_SLICE};

/// How often a waiting `pop` reads an etcd key again (the CLI's `pop -w`).
pub const ETCD_POLL: Duration = Duration::from_millis(100);

/// What a waiting `pop` sleeps on between two looks at the queue.
pub type Watch = Box<dyn Changes<OpError> + Send>;

/// A watch of a data file (inotify on its directory).
pub fn file_watch(file: &std::path::Path) -> PyResult<Watch> {
    let watch = FileWatch::new(file).map_err(|e| OpError::Core(e).into_py())?;
    Ok(Box::new(watch))
}

/// `store.push(path, *values)`: appends `values` to the array at `path` in
/// one update (a missing or null value becomes `[]` first); the array's new
/// length. A non-array there is `jlock.WrongTypeError`, and nothing is written.
pub fn push(
    store: &Store,
    py: Python<'_>,
    path: &str,
    values: &Bound<'_, PyTuple>,
) -> PyResult<usize> {
    let path = parse_path(Some(path))?;
    let values = values
        .iter()
        .map(|v| from_py(&v))
        .collect::<PyResult<Vec<Value>>>()?;
    let name = store.name();
    let spellings = Spellings::default();
    store.run(py, |doc| {
        WorkQueue::new(doc, &name, path.clone()).push::<OpError>(values.clone(), &spellings)
    })
}

/// `store.pop(path, timeout=None, *, to=None)`: removes the first element of
/// the array at `path` and returns it; with `to`, the same update appends it
/// to the array at `to` (an in-progress list). Waits while the queue is
/// empty (`timeout` seconds; `None` or negative: for ever; `0`: one look),
/// then raises `jlock.Empty`.
pub fn pop<'py>(
    store: &Store,
    py: Python<'py>,
    path: &str,
    timeout: Option<f64>,
    to: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let queue_path = parse_path(Some(path))?;
    let to: Option<JsonPath> = match to {
        Some(t) => {
            let t = parse_path(Some(t))?;
            if t == queue_path {
                return Err(raise(
                    py,
                    "UsageError",
                    ("to= names the queue itself: give the in-progress list another path",),
                ));
            }
            Some(t)
        }
        None => None,
    };
    let patience = Patience::from_timeout(timeout, true)?;
    let start = Instant::now();
    let deadline = match patience {
        Patience::For(d) => Some(start + d),
        _ => None,
    };
    let name = store.name();
    let look = |py: Python<'_>| {
        store.run(py, |doc| {
            WorkQueue::new(doc, &name, queue_path.clone()).try_pop::<OpError>(to.as_ref())
        })
    };
    // The watch is opened before the first look, so that a push landing
    // between that look and the wait still wakes this one.
    let mut watch = match patience {
        Patience::NoWait => None,
        _ => Some(store.watch(py)?),
    };
    loop {
        if let Some((value, _)) = look(py)? {
            return to_py(py, &value);
        }
        let Some(changes) = watch.as_mut() else {
            return Err(empty(py, &name, &queue_path, None));
        };
        // Sleep until the document may have changed, a slice at a time.
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                // One last look: a push that landed just at the deadline.
                return match look(py)? {
                    Some((value, _)) => to_py(py, &value),
                    None => Err(empty(py, &name, &queue_path, timeout)),
                };
            }
            let until = deadline.map_or(now + MAX_SLICE, |d| d.min(now + MAX_SLICE));
            let changed = py
                .detach(|| changes.wait(Some(until)))
                .map_err(OpError::into_py)?;
            py.check_signals()?;
            if changed {
                break;
            }
        }
    }
}

/// `jlock.Empty` for the queue at `path` of `name`.
fn empty(py: Python<'_>, name: &std::path::Path, path: &JsonPath, waited: Option<f64>) -> PyErr {
    let message = match waited {
        Some(t) => format!(
            "{}: {path}: still empty after {t:.3} s; nothing was taken",
            name.display()
        ),
        None => format!("{}: {path}: empty; nothing was taken", name.display()),
    };
    raise(
        py,
        "Empty",
        (message, name.display().to_string(), path.to_string()),
    )
}
