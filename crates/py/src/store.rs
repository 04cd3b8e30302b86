//! `jlock.Store`: the shared JSON document, through jlock-core's engine
//! ([`Document`] on a [`jlock_core::Store`]) — get, set, delete, incr,
//! update, and transactions. With the cargo feature `etcd`, an
//! `etcd://HOST:PORT[,…]/NAME` target is served by the same engine over
//! compare-and-swap (`CasDocument` over jlock-etcd's `EtcdDocument`, as the
//! CLI's data commands): no lock, an update runs again after a conflict.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

#[cfg(feature = "etcd")]
use crate::etcd::{etcd_err, Remote, RemoteDoc};
use jlock_core::{Document, Durability, Error, JsonPath, Spellings, StoreBuilder};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::{Number, Value};

use crate::convert::{from_py, number_from_py, to_py};
use crate::errors::{state_error, to_py_err};
use crate::wait::{retry, Interrupted, Patience, MAX_SLICE};

/// What an operation on the document can fail with: jlock-core's error,
/// the Python code it ran (an `update` function), or a transaction left
/// without writing.
#[derive(Debug)]
pub enum OpError {
    /// jlock-core's.
    Core(Error),
    /// Raised by Python code run inside the operation.
    Py(PyErr),
    /// A transaction ended without a new document: nothing to write.
    Aborted,
    /// etcd's (an etcd target's document).
    #[cfg(feature = "etcd")]
    Etcd(jlock_etcd::Error),
    /// An etcd transaction's document changed after the block read it.
    #[cfg(feature = "etcd")]
    Conflict,
}

#[cfg(feature = "etcd")]
impl From<jlock_etcd::Error> for OpError {
    fn from(e: jlock_etcd::Error) -> OpError {
        OpError::Etcd(e)
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> OpError {
        OpError::Core(e)
    }
}

impl OpError {
    fn contended(&self) -> bool {
        matches!(self, OpError::Core(e) if e.is_lock_contention())
    }

    /// As a Python exception.
    pub(crate) fn into_py(self) -> PyErr {
        self.into_py_at("")
    }

    /// As a Python exception; `target`: the etcd target, for etcd's errors.
    fn into_py_at(self, target: &str) -> PyErr {
        let _ = target;
        match self {
            OpError::Core(e) => to_py_err(e),
            OpError::Py(e) => e,
            OpError::Aborted => state_error("the transaction was abandoned"),
            #[cfg(feature = "etcd")]
            OpError::Etcd(e) => etcd_err(e, target),
            #[cfg(feature = "etcd")]
            OpError::Conflict => Python::attach(|py| {
                crate::errors::raise(
                    py,
                    "ConflictError",
                    (
                        format!(
                            "{target}: the document changed after the transaction read it; \
                             nothing written (store.update(fn) retries instead)"
                        ),
                        target.to_string(),
                    ),
                )
            }),
        }
    }
}

fn op_err(e: Interrupted<OpError>) -> PyErr {
    match e {
        Interrupted::Failed(e) => e.into_py(),
        Interrupted::Signal(e) => e,
    }
}

/// A JSON path argument: `None` is the whole document; else the CLI's
/// syntax (`.jobs[0].name`, JSON Pointer `/jobs/0/name`).
pub(crate) fn parse_path(path: Option<&str>) -> PyResult<JsonPath> {
    match path {
        None => Ok(JsonPath::root()),
        Some(p) => JsonPath::parse(p).map_err(|e| to_py_err(e.into())),
    }
}

/// A JSON data file several processes share (`jlock.Store`).
#[pyclass(module = "jlock._jlock", frozen)]
pub struct Store {
    kind: Kind,
    patience: Patience,
    /// The threads that have a transaction of this store open: an
    /// operation of theirs on this store would wait for themselves.
    in_transaction: Arc<Mutex<Vec<ThreadId>>>,
}

/// What a `jlock.Store` is the front of.
enum Kind {
    /// A local file.
    File {
        /// The options, to open the store again in a forked child.
        builder: StoreBuilder,
        /// The store, and the process that opened it.
        opened: Mutex<Opened>,
    },
    /// An etcd target's document.
    #[cfg(feature = "etcd")]
    Etcd(RemoteDoc),
}

/// What an `etcd://` path says in a build without etcd.
#[cfg(not(feature = "etcd"))]
const NO_ETCD: &str = "etcd:// targets need the jlock package built with etcd: \
     pip install ./crates/py --config-settings=build-args=--features=etcd (jlock.HAS_ETCD is False)";

/// Whether `path` is an etcd target (`etcd://`, `etcds://`).
pub fn is_etcd_path(path: &std::path::Path) -> bool {
    path.to_str()
        .is_some_and(|s| s.starts_with("etcd://") || s.starts_with("etcds://"))
}

/// A core store and the process it was opened in.
struct Opened {
    pid: u32,
    store: Arc<jlock_core::Store>,
}

impl Store {
    /// The core store of this process. After a `fork` the child opens its
    /// own: the one it inherited shares its lock's open file description
    /// with the parent's, and `flock(2)` would not exclude the two.
    fn current(
        py: Python<'_>,
        builder: &StoreBuilder,
        opened: &Mutex<Opened>,
    ) -> PyResult<Arc<jlock_core::Store>> {
        let mut opened = lock_ignoring_poison(opened);
        let pid = std::process::id();
        if opened.pid != pid {
            let store = py.detach(|| builder.open()).map_err(to_py_err)?;
            let old = std::mem::replace(
                &mut *opened,
                Opened {
                    pid,
                    store: Arc::new(store),
                },
            );
            // The parent's descriptors are left alone (closing them here
            // could not unlock the parent's lock, but nothing is gained).
            std::mem::forget(old);
        }
        Ok(Arc::clone(&opened.store))
    }

    /// Refuses an operation from a thread that has a transaction of this
    /// store open: it would wait for its own lock forever.
    fn check_not_in_transaction(&self) -> PyResult<()> {
        let me = std::thread::current().id();
        if lock_ignoring_poison(&self.in_transaction).contains(&me) {
            return Err(state_error(
                "this thread has a transaction of this store open: change its document instead \
                 (an operation on the store would wait for the transaction's own lock)",
            ));
        }
        Ok(())
    }

    /// Runs `op` on the store, waiting for the lock with the store's
    /// patience, in slices (see [`crate::wait`]).
    pub(crate) fn run<T: Send>(
        &self,
        py: Python<'_>,
        mut op: impl FnMut(&dyn Document<OpError>) -> Result<T, OpError> + Send,
    ) -> PyResult<T> {
        self.check_not_in_transaction()?;
        match &self.kind {
            Kind::File { builder, opened } => {
                let store = Store::current(py, builder, opened)?;
                let store = &*store;
                retry(
                    py,
                    self.patience,
                    MAX_SLICE,
                    |_wait| op(store),
                    OpError::contended,
                )
                .map_err(op_err)
            }
            // No lock to wait for: one compare-and-swap operation (retried
            // by the engine after a conflict), bounded by etcd's request
            // timeouts; not interruptible while it runs.
            #[cfg(feature = "etcd")]
            Kind::Etcd(remote) => {
                let doc = remote.current(py)?;
                let doc: &Remote = &doc;
                py.detach(|| op(doc))
                    .map_err(|e| e.into_py_at(&remote.shown()))
            }
        }
    }
}

#[pymethods]
impl Store {
    /// Opens the store of the JSON file at `path` (created by the first
    /// update). `durability`: "rename" (default), "fsync" or "journal";
    /// `timeout`: seconds each operation may wait for the lock (`None` or
    /// negative: forever; `0`: fail at once), then `jlock.Timeout`;
    /// `lock_file`: lock this file instead of `<path>.lock`. For an etcd
    /// target only: `cacert`, `cert`, `key` (PEM files, for `etcds://`) and
    /// `connect_timeout` (seconds), the CLI's `--cacert`, `--cert`, `--key`
    /// and `--connect-timeout`.
    #[new]
    #[pyo3(signature = (path, *, durability="rename", timeout=None, lock_file=None, cacert=None, cert=None, key=None, connect_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        durability: &str,
        timeout: Option<f64>,
        lock_file: Option<PathBuf>,
        cacert: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Store> {
        let connection = (cacert, cert, key, connect_timeout);
        let durability: Durability = durability.parse().map_err(PyValueError::new_err)?;
        let patience = Patience::from_timeout(timeout, true)?;
        if is_etcd_path(&path) {
            #[cfg(not(feature = "etcd"))]
            return Err(crate::errors::raise(py, "UsageError", (NO_ETCD,)));
            #[cfg(feature = "etcd")]
            {
                if lock_file.is_some() {
                    return Err(crate::errors::raise(
                        py,
                        "UsageError",
                        ("lock_file applies to files, not to etcd:// targets",),
                    ));
                }
                let target = path.to_str().unwrap_or_default();
                let (cacert, cert, key, connect_timeout) = connection;
                let opts = crate::etcd::connect_options(cacert, cert, key, connect_timeout)?;
                return Ok(Store {
                    kind: Kind::Etcd(RemoteDoc::open(py, target, opts)?),
                    patience,
                    in_transaction: Arc::new(Mutex::new(Vec::new())),
                });
            }
        }
        if connection.0.is_some()
            || connection.1.is_some()
            || connection.2.is_some()
            || connection.3.is_some()
        {
            return Err(crate::errors::raise(
                py,
                "UsageError",
                ("cacert, cert, key and connect_timeout apply to etcd:// targets only",),
            ));
        }
        let mut builder = jlock_core::Store::builder(path);
        builder
            .durability(durability)
            .wait(patience.slice_wait(MAX_SLICE));
        if let Some(lock) = lock_file {
            builder.lock_path(lock);
        }
        let store = py.detach(|| builder.open()).map_err(to_py_err)?;
        Ok(Store {
            kind: Kind::File {
                builder,
                opened: Mutex::new(Opened {
                    pid: std::process::id(),
                    store: Arc::new(store),
                }),
            },
            patience,
            in_transaction: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The value at `path` (the whole document if `None`), or `default` if
    /// there is none.
    #[pyo3(signature = (path=None, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        path: Option<&str>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = parse_path(path)?;
        let found = self.run(py, |s| Document::<OpError>::get(s, &path))?;
        match found {
            Some((value, _)) => to_py(py, &value),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// Sets the value at `path` (`"."` is the whole document), creating
    /// missing objects and arrays on the way.
    fn set(&self, py: Python<'_>, path: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = parse_path(Some(path))?;
        let value = from_py(value)?;
        let spellings = Spellings::default();
        self.run(py, |s| {
            Document::<OpError>::set(s, &path, value.clone(), &spellings)
        })
    }

    /// Removes the value at `path`; False (and nothing written) if there was none.
    fn delete(&self, py: Python<'_>, path: &str) -> PyResult<bool> {
        let path = parse_path(Some(path))?;
        self.run(py, |s| Document::<OpError>::delete(s, &path))
    }

    /// Adds `by` (int, float or Decimal) to the number at `path` (the whole
    /// document if `None`), exactly — a missing or null value counts as 0 —
    /// and returns the new value.
    #[pyo3(signature = (path=None, by=None))]
    fn incr<'py>(
        &self,
        py: Python<'py>,
        path: Option<&str>,
        by: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = parse_path(path)?;
        let by: Number = match by {
            Some(b) => number_from_py(b, "by")?,
            None => 1.into(),
        };
        let n = self.run(py, |s| Document::<OpError>::incr(s, &path, by.clone()))?;
        crate::convert::number_to_py(py, &n)
    }

    /// Calls `fn(document)` under the exclusive lock and writes back what it
    /// returns (if it returns None: the document it was given, changed in
    /// place). Nothing is written if `fn` raises, or if nothing changed.
    /// Returns the new document.
    fn update<'py>(&self, py: Python<'py>, func: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let func = func.unbind();
        let new = self.run(py, |s| {
            let mut result = Value::Null;
            Document::<OpError>::update(s, &mut |doc: &mut Value| {
                let new = Python::attach(|py| -> PyResult<Value> {
                    let arg = to_py(py, doc)?;
                    let out = func.bind(py).call1((&arg,))?;
                    if out.is_none() {
                        from_py(&arg)
                    } else {
                        from_py(&out)
                    }
                })
                .map_err(OpError::Py)?;
                *doc = new.clone();
                result = new;
                Ok(Spellings::default())
            })?;
            Ok(result)
        })?;
        to_py(py, &new)
    }

    /// Appends `values` to the array at `path` (a missing or null value
    /// becomes `[]` first), in one atomic update; returns the array's new
    /// length. A non-array at `path` raises `jlock.WrongTypeError` and
    /// nothing is written. `jlock push FILE PATH VALUE...`.
    #[pyo3(signature = (path, *values))]
    fn push(&self, py: Python<'_>, path: &str, values: &Bound<'_, PyTuple>) -> PyResult<usize> {
        crate::queue::push(self, py, path, values)
    }

    /// Removes the first element of the array at `path` and returns it, in
    /// one atomic update (each element goes to exactly one caller, whatever
    /// the number of processes); with `to`, the same update appends it to
    /// the array at `to` (an in-progress list, for at-least-once work).
    /// While the queue is empty it waits for a push without polling
    /// (inotify) — `timeout` seconds (`None` or negative: for ever; `0`: one
    /// look) — then raises `jlock.Empty`. A non-array at `path` (or `to`)
    /// raises `jlock.WrongTypeError`, and nothing is written.
    /// `jlock pop [-w SECS] [--to TO] FILE PATH`.
    #[pyo3(signature = (path, timeout=None, *, to=None))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        timeout: Option<f64>,
        to: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::queue::pop(self, py, path, timeout, to)
    }

    /// A transaction: `with store.transaction() as doc:` holds the exclusive
    /// lock for the block; `doc` is the document (a dict or list to change
    /// in place); it is written back when the block ends, if it changed, and
    /// not at all if the block raises. `default` (keyword; `{}` unless
    /// given, `None` allowed): what the block gets when the document is
    /// missing (or `null`); left as it is, nothing is written.
    #[pyo3(signature = (**options))]
    fn transaction(
        &self,
        py: Python<'_>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Transaction> {
        let mut default = Value::Object(serde_json::Map::new());
        if let Some(options) = options {
            for (key, value) in options.iter() {
                match key.extract::<String>().as_deref() {
                    Ok("default") => default = from_py(&value)?,
                    _ => {
                        return Err(PyTypeError::new_err(format!(
                            "transaction() got an unexpected keyword argument {key}"
                        )))
                    }
                }
            }
        }
        let source = match &self.kind {
            Kind::File { builder, .. } => TxSource::File(builder.clone()),
            #[cfg(feature = "etcd")]
            Kind::Etcd(remote) => TxSource::Etcd(remote.current(py)?, remote.shown()),
        };
        let _ = py;
        Ok(Transaction {
            source,
            patience: self.patience,
            state: TxState::New,
            default,
            in_transaction: Arc::clone(&self.in_transaction),
            owner: None,
            pid: std::process::id(),
        })
    }

    /// The data file's path, as given (for an etcd target: the target, a str).
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.shown() {
            Some(store) => Ok(store.path().to_path_buf().into_pyobject(py)?.into_any()),
            None => Ok(self.target().into_pyobject(py)?.into_any()),
        }
    }

    /// The lock file's path (`None` for an etcd target: there is none).
    #[getter]
    fn lock_file(&self) -> Option<PathBuf> {
        self.shown().map(|s| s.lock_path().to_path_buf())
    }

    /// The durability mode: "rename", "fsync" or "journal" ("etcd" for an etcd target).
    #[getter]
    fn durability(&self) -> &'static str {
        self.shown().map_or("etcd", |s| s.durability().as_str())
    }

    fn __repr__(&self) -> String {
        match self.shown() {
            Some(store) => format!(
                "jlock.Store({:?}, durability={:?})",
                store.path().display().to_string(),
                store.durability().as_str()
            ),
            None => format!("jlock.Store({:?})", self.target()),
        }
    }
}

/// The receiver behind `m` (a panic elsewhere cannot leave it inconsistent).
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// The store opened last, for its names and options (the same in every
    /// process); `None` for an etcd target.
    fn shown(&self) -> Option<Arc<jlock_core::Store>> {
        match &self.kind {
            Kind::File { opened, .. } => Some(Arc::clone(&lock_ignoring_poison(opened).store)),
            #[cfg(feature = "etcd")]
            Kind::Etcd(_) => None,
        }
    }

    /// The data file's path (an etcd target's text), as errors name it.
    pub(crate) fn name(&self) -> PathBuf {
        match self.shown() {
            Some(store) => store.path().to_path_buf(),
            None => PathBuf::from(self.target()),
        }
    }

    /// What a waiting `pop` sleeps on: a watch of the data file (inotify),
    /// or, for an etcd target, a read every [`crate::queue::ETCD_POLL`].
    pub(crate) fn watch(&self, py: Python<'_>) -> PyResult<crate::queue::Watch> {
        let _ = py;
        match &self.kind {
            Kind::File { builder, opened } => {
                let store = Store::current(py, builder, opened)?;
                crate::queue::file_watch(store.path())
            }
            #[cfg(feature = "etcd")]
            Kind::Etcd(_) => Ok(Box::new(jlock_core::Poll {
                interval: crate::queue::ETCD_POLL,
            })),
        }
    }

    /// An etcd target, as written back ("" for a file).
    fn target(&self) -> String {
        match &self.kind {
            Kind::File { .. } => String::new(),
            #[cfg(feature = "etcd")]
            Kind::Etcd(remote) => remote.shown(),
        }
    }
}

/// What the thread that holds a transaction's lock says.
enum TxMessage {
    /// The lock is held; here is the document.
    Document(Value),
    /// The update ended: written (or nothing to write), or failed.
    Done(Result<(), OpError>),
}

/// Where a transaction is.
enum TxState {
    New,
    Open {
        original: Value,
        doc: Py<PyAny>,
        reply: SyncSender<Option<Value>>,
        events: Mutex<Receiver<TxMessage>>,
    },
    /// An etcd target's transaction: the document as the block read it
    /// (written back at the end by compare-and-swap, only if nobody changed
    /// it meanwhile).
    #[cfg(feature = "etcd")]
    OpenCas {
        /// The document as read (what the write-back compares with).
        read: Value,
        /// What the block was given (the default for a missing document).
        original: Value,
        doc: Py<PyAny>,
    },
    Closed,
}

/// Where a transaction's document is.
enum TxSource {
    /// A file: the store's options (see [`Transaction::source`]).
    File(StoreBuilder),
    /// An etcd target's document, and the target.
    #[cfg(feature = "etcd")]
    Etcd(Arc<Remote>, String),
}

/// `store.transaction()`: a context manager holding the exclusive lock.
///
/// jlock-core's update takes a closure; a `with` block is not one. So the
/// update runs in a thread of its own, which takes the lock, hands the
/// document over, and waits (holding the lock) for the block's new
/// document — or for none, when the block raised or the transaction was
/// dropped, in which case nothing is written.
#[pyclass(module = "jlock._jlock")]
pub struct Transaction {
    /// For a file, the store's options: a transaction opens a store of its own, whose
    /// lock (its own open file description) other threads of this process
    /// wait for in the kernel, with their timeouts and Ctrl-C, rather than on
    /// the shared store's mutex for as long as the block runs.
    source: TxSource,
    patience: Patience,
    state: TxState,
    /// What the block gets for a missing (or `null`) document.
    default: Value,
    /// The store's list of threads in a transaction: this one's while open.
    in_transaction: Arc<Mutex<Vec<ThreadId>>>,
    /// The thread that entered it, while it is open.
    owner: Option<ThreadId>,
    /// The process that entered it: in a forked child, whose copy has no
    /// thread holding the lock, `__exit__` writes nothing.
    pid: u32,
}

impl Transaction {
    /// Records that the current thread has this transaction open.
    fn mark_open(&mut self) {
        let me = std::thread::current().id();
        lock_ignoring_poison(&self.in_transaction).push(me);
        self.owner = Some(me);
    }

    /// Records that it is closed (by `__exit__`, or when dropped unexited).
    fn mark_closed(&mut self) {
        if let Some(owner) = self.owner.take() {
            let mut threads = lock_ignoring_poison(&self.in_transaction);
            if let Some(i) = threads.iter().position(|t| *t == owner) {
                threads.swap_remove(i);
            }
        }
    }
}

impl Drop for Transaction {
    /// A transaction dropped without `__exit__`: its thread, which holds the
    /// lock, sees its channel close and writes nothing.
    fn drop(&mut self) {
        self.mark_closed();
    }
}

/// The transaction's thread: runs the update, retrying lock timeouts for
/// as long as `patience` allows and nobody `cancelled`.
fn hold(
    store: &jlock_core::Store,
    patience: Patience,
    cancelled: &AtomicBool,
    events: &SyncSender<TxMessage>,
    reply: &Receiver<Option<Value>>,
) -> Result<(), OpError> {
    let start = Instant::now();
    loop {
        let r = Document::<OpError>::update(store, &mut |doc: &mut Value| {
            events
                .send(TxMessage::Document(doc.clone()))
                .map_err(|_| OpError::Aborted)?;
            match reply.recv() {
                Ok(Some(new)) => {
                    *doc = new;
                    Ok(Spellings::default())
                }
                _ => Err(OpError::Aborted),
            }
        });
        match r {
            Err(e) if e.contended() => {
                let out_of_time = match patience {
                    Patience::NoWait => true,
                    Patience::Forever => false,
                    Patience::For(limit) => start.elapsed() >= limit,
                };
                if out_of_time || cancelled.load(Ordering::Acquire) {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

#[pymethods]
impl Transaction {
    /// Takes the lock (waiting as the store's `timeout` says, with the GIL
    /// released, interruptible by Ctrl-C) and returns the document.
    fn __enter__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !matches!(self.state, TxState::New) {
            return Err(state_error("a transaction can be entered once"));
        }
        let builder = match &self.source {
            TxSource::File(b) => b.clone(),
            #[cfg(feature = "etcd")]
            TxSource::Etcd(remote, target) => {
                let remote = Arc::clone(remote);
                let found = py
                    .detach(|| Document::<OpError>::get(&*remote, &JsonPath::root()))
                    .map_err(|e| e.into_py_at(target))?;
                let read = found.map(|(v, _)| v).unwrap_or(Value::Null);
                let original = if read.is_null() {
                    self.default.clone()
                } else {
                    read.clone()
                };
                let doc = to_py(py, &original)?.unbind();
                self.state = TxState::OpenCas {
                    read,
                    original,
                    doc: doc.clone_ref(py),
                };
                return Ok(doc);
            }
        };
        let me = std::thread::current().id();
        if lock_ignoring_poison(&self.in_transaction).contains(&me) {
            return Err(state_error(
                "this thread already has a transaction of this store open; transactions do not nest",
            ));
        }
        self.state = TxState::Closed;
        let (event_tx, events) = mpsc::sync_channel::<TxMessage>(1);
        let events = Mutex::new(events);
        let (reply, reply_rx) = mpsc::sync_channel::<Option<Value>>(1);
        let cancelled = Arc::new(AtomicBool::new(false));
        let store = py.detach(|| builder.open()).map_err(to_py_err)?;
        let patience = self.patience;
        let flag = Arc::clone(&cancelled);
        std::thread::Builder::new()
            .name("jlock-transaction".into())
            .spawn(move || {
                let done = hold(&store, patience, &flag, &event_tx, &reply_rx);
                let _ = event_tx.send(TxMessage::Done(done));
            })
            .map_err(|e| state_error(format!("cannot start the transaction's thread: {e}")))?;
        // Wait for the document, checking for signals every slice.
        let got = retry(
            py,
            Patience::Forever,
            MAX_SLICE,
            |_| match lock_ignoring_poison(&events).recv_timeout(MAX_SLICE) {
                Ok(m) => Ok(m),
                Err(RecvTimeoutError::Timeout) => Err(true),
                Err(RecvTimeoutError::Disconnected) => Err(false),
            },
            |&waiting| waiting,
        );
        let value = match got {
            Ok(TxMessage::Document(v)) if v.is_null() => self.default.clone(),
            Ok(TxMessage::Document(v)) => v,
            Ok(TxMessage::Done(Err(e))) => return Err(e.into_py()),
            Ok(TxMessage::Done(Ok(()))) | Err(Interrupted::Failed(_)) => {
                return Err(state_error("the transaction's thread ended early"))
            }
            Err(Interrupted::Signal(e)) => {
                // Ctrl-C: the thread, if it ever gets the lock, finds
                // nobody listening and writes nothing.
                cancelled.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let doc = to_py(py, &value)?.unbind();
        self.pid = std::process::id();
        self.mark_open();
        self.state = TxState::Open {
            original: value,
            doc: doc.clone_ref(py),
            reply,
            events,
        };
        Ok(doc)
    }

    /// Writes the document back if it changed and the block did not raise;
    /// frees the lock. Never suppresses the block's exception.
    #[pyo3(signature = (*exc))]
    fn __exit__(&mut self, py: Python<'_>, exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let state = std::mem::replace(&mut self.state, TxState::Closed);
        #[cfg(feature = "etcd")]
        if let TxState::OpenCas {
            read,
            original,
            doc,
        } = state
        {
            let raised = exc.get_item(0).is_ok_and(|t| !t.is_none());
            if raised {
                return Ok(false);
            }
            let new = from_py(doc.bind(py))?;
            if new == original {
                return Ok(false);
            }
            let TxSource::Etcd(remote, target) = &self.source else {
                return Ok(false);
            };
            let remote = Arc::clone(remote);
            py.detach(|| {
                Document::<OpError>::update(&*remote, &mut |d: &mut Value| {
                    if *d != read {
                        return Err(OpError::Conflict);
                    }
                    *d = new.clone();
                    Ok(Spellings::default())
                })
            })
            .map_err(|e| e.into_py_at(target))?;
            return Ok(false);
        }
        let TxState::Open {
            original,
            doc,
            reply,
            events,
        } = state
        else {
            return Ok(false);
        };
        self.mark_closed();
        if self.pid != std::process::id() {
            // A forked child's copy: the parent's thread holds the lock.
            drop((reply, events, doc));
            return Ok(false);
        }
        let raised = exc.get_item(0).is_ok_and(|t| !t.is_none());
        let (new, problem) = if raised {
            (None, None)
        } else {
            match from_py(doc.bind(py)) {
                Ok(v) if v == original => (None, None),
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(e)),
            }
        };
        let wrote = new.is_some();
        let _ = reply.send(new);
        let events = events.into_inner().unwrap_or_else(|p| p.into_inner());
        let done = py.detach(move || loop {
            match events.recv_timeout(Duration::from_secs(3600)) {
                Ok(TxMessage::Done(r)) => return r,
                Ok(TxMessage::Document(_)) => {}
                Err(_) => return Err(OpError::Aborted),
            }
        });
        if let Some(e) = problem {
            return Err(e);
        }
        match done {
            Ok(()) => Ok(false),
            Err(OpError::Aborted) if !wrote => Ok(false),
            Err(e) => Err(e.into_py()),
        }
    }
}
