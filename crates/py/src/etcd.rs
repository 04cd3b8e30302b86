//! `etcd://HOST:PORT[,…]/NAME` targets (cargo feature `etcd`): the document
//! through jlock-core's engine ([`CasDocument`] over jlock-etcd's
//! [`EtcdDocument`], as the CLI's data commands), and leased locks and
//! semaphore slots ([`EtcdLock`], as `jlock run etcd://…`).
//!
//! A connection ([`Etcd`]) owns a tokio runtime whose threads a forked child
//! does not have: after a `fork` the child connects again, and forgets (never
//! drops) what it inherited — dropping an inherited lock would revoke the
//! parent's lease.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jlock_core::CasDocument;
use jlock_etcd::{
    ConnectOptions, Etcd, EtcdDocument, EtcdLock, LockMode, LockOptions, LossReason, Target,
    TlsFiles, Wait,
};
use jlock_json::Style;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{raise, state_error, to_py_err};
use crate::wait::{slice_of, Patience};

/// True when `path` names an etcd target (`etcd://`, `etcds://`).
pub fn is_target(path: &str) -> bool {
    jlock_etcd::is_etcd_target(path)
}

/// The short name of a loss reason, as `LockLost.reason` and `lost` give it.
fn reason_name(r: LossReason) -> &'static str {
    match r {
        LossReason::LeaseGone => "lease_gone",
        LossReason::KeyDeleted => "key_deleted",
        LossReason::NoRenewal => "no_renewal",
        LossReason::Fenced => "fenced",
        _ => "lost",
    }
}

/// The Python exception for a jlock-etcd error.
///
/// | jlock-etcd | Python |
/// | --- | --- |
/// | `Busy`, `TimedOut` | `jlock.Timeout(target)` |
/// | `Lost` | `jlock.LockLost` (`reason`) |
/// | `Unreachable`, `Engine` | `jlock.EtcdConnectionError` (`ConnectionError`) |
/// | `BadTarget`, `InvalidArgument`, `NotSupported` | `jlock.UsageError` (`ValueError`) |
/// | `TooLarge` | `jlock.DataError` (`ValueError`) |
/// | `Document` | as a file's ([`to_py_err`]) |
/// | anything else | `jlock.EtcdError` |
pub fn etcd_err(e: jlock_etcd::Error, target: &str) -> PyErr {
    use jlock_etcd::Error as E;
    match e {
        E::Document(e) => to_py_err(e),
        e => Python::attach(|py| {
            let message = e.to_string();
            match &e {
                E::Busy { .. } | E::TimedOut { .. } => raise(py, "Timeout", (target.to_string(),)),
                E::Lost { reason, .. } => raise(
                    py,
                    "LockLost",
                    (message, target.to_string(), reason_name(*reason)),
                ),
                E::Unreachable { .. } | E::Engine { .. } => {
                    raise(py, "EtcdConnectionError", (message,))
                }
                E::BadTarget { .. } | E::InvalidArgument(_) | E::NotSupported(_) => {
                    raise(py, "UsageError", (message,))
                }
                E::TooLarge { .. } => raise(py, "DataError", (message, target.to_string())),
                _ => raise(py, "EtcdError", (message,)),
            }
        }),
    }
}

/// Parses a target.
pub fn parse(target: &str) -> PyResult<Target> {
    Target::parse(target).map_err(|e| etcd_err(e, target))
}

/// How to connect, as the CLI's `--cacert`, `--cert`, `--key` and
/// `--connect-timeout` say (the keywords `cacert=`, `cert=`, `key=` and
/// `connect_timeout=` of `jlock.Store` and the locks): the CA certificate that
/// signed the servers' (required for `etcds://`), this client's certificate
/// and key (together), and how long to try to reach a member (default 3 s).
/// Certificates for a plain `etcd://` target are refused when connecting, as
/// by the CLI.
pub fn connect_options(
    cacert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    connect_timeout: Option<f64>,
) -> PyResult<ConnectOptions> {
    let mut opts = ConnectOptions::default();
    if let Some(t) = connect_timeout {
        if !(t.is_finite() && t > 0.0) {
            return Err(PyValueError::new_err(format!(
                "connect_timeout must be a positive number of seconds, not {t}"
            )));
        }
        opts.connect_timeout = Duration::from_secs_f64(t);
    }
    if cert.is_some() != key.is_some() {
        return Err(Python::attach(|py| {
            raise(py, "UsageError", ("cert= and key= go together",))
        }));
    }
    opts.tls = TlsFiles {
        ca: cacert,
        cert,
        key,
    };
    Ok(opts)
}

/// Connects to `target` (with the GIL released) as `opts` say (by default
/// the CLI's: 3 s to reach a member, 5 s a request).
fn connect(py: Python<'_>, target: &Target, opts: &ConnectOptions) -> PyResult<Etcd> {
    py.detach(|| Etcd::connect(target, opts))
        .map_err(|e| etcd_err(e, &target.to_string()))
}

/// The document of an etcd target, as `jlock.Store` uses it.
pub type Remote = CasDocument<EtcdDocument>;

/// The document of an etcd target and the process that connected to it.
pub struct RemoteDoc {
    target: Target,
    opts: ConnectOptions,
    opened: Mutex<(u32, Arc<Remote>)>,
}

impl RemoteDoc {
    /// Connects to the target's cluster.
    pub fn open(py: Python<'_>, target: &str, opts: ConnectOptions) -> PyResult<RemoteDoc> {
        let target = parse(target)?;
        let doc = Arc::new(open_doc(py, &target, &opts)?);
        Ok(RemoteDoc {
            target,
            opts,
            opened: Mutex::new((std::process::id(), doc)),
        })
    }

    /// The document's engine for this process (connecting again after a fork).
    pub fn current(&self, py: Python<'_>) -> PyResult<Arc<Remote>> {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        if opened.0 != pid {
            let doc = Arc::new(open_doc(py, &self.target, &self.opts)?);
            // The parent's connection has no runtime threads here: forget it.
            std::mem::forget(std::mem::replace(&mut *opened, (pid, doc)));
        }
        Ok(Arc::clone(&opened.1))
    }

    /// The target, as written back (`etcd://HOST:PORT/NAME`).
    pub fn shown(&self) -> String {
        self.target.to_string()
    }
}

fn open_doc(py: Python<'_>, target: &Target, opts: &ConnectOptions) -> PyResult<Remote> {
    let etcd = connect(py, target, opts)?;
    Ok(CasDocument::new(EtcdDocument::new(etcd), Style::Preserve))
}

/// A held etcd lock and its kind.
struct Held {
    lock: EtcdLock,
    shared: bool,
}

/// One hold of an etcd lock (exclusive or shared) or semaphore slot, under
/// `jlock.FileLock`, `ReadWriteLock` and `Semaphore` for `etcd://` targets:
/// a lease kept alive in the background; `fence` is the hold's fencing
/// token. `lost` says whether (and why) it was lost since; `check()` and
/// `release()` raise `jlock.LockLost` if it was.
#[pyclass(module = "jlock._jlock", weakref)]
pub struct RawEtcdLock {
    target: Target,
    shown: String,
    slots: Option<usize>,
    ttl: Duration,
    opts: ConnectOptions,
    etcd: Option<Arc<Etcd>>,
    held: Option<Held>,
    pid: u32,
}

impl RawEtcdLock {
    /// After a fork: forget the parent's connection and hold (never drop them).
    fn check_fork(&mut self) {
        let pid = std::process::id();
        if self.pid != pid {
            self.pid = pid;
            std::mem::forget(self.held.take());
            std::mem::forget(self.etcd.take());
        }
    }

    fn lost_error(&self, reason: LossReason) -> PyErr {
        etcd_err(
            jlock_etcd::Error::Lost {
                name: self.target.name().to_string(),
                reason,
            },
            &self.shown,
        )
    }
}

impl Drop for RawEtcdLock {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            std::mem::forget(self.held.take());
            std::mem::forget(self.etcd.take());
        }
    }
}

#[pymethods]
impl RawEtcdLock {
    /// A lock (or, with `slots`, a semaphore of that many slots) on the etcd
    /// target `target`; `ttl`: the lease's time to live in seconds (default
    /// 10); `cacert`, `cert`, `key`, `connect_timeout`: see
    /// [`connect_options`]. Connects at the first `acquire`.
    #[new]
    #[pyo3(signature = (target, slots=None, ttl=None, cacert=None, cert=None, key=None, connect_timeout=None))]
    fn new(
        target: &str,
        slots: Option<usize>,
        ttl: Option<f64>,
        cacert: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        connect_timeout: Option<f64>,
    ) -> PyResult<RawEtcdLock> {
        let opts = connect_options(cacert, cert, key, connect_timeout)?;
        let parsed = parse(target)?;
        if slots == Some(0) {
            return Err(PyValueError::new_err("a semaphore needs at least 1 slot"));
        }
        let ttl = match ttl {
            None => jlock_etcd::DEFAULT_TTL,
            Some(t) if t.is_finite() && t >= 1.0 => Duration::from_secs_f64(t),
            Some(t) => {
                return Err(PyValueError::new_err(format!(
                    "ttl must be at least 1 second, not {t}"
                )))
            }
        };
        Ok(RawEtcdLock {
            shown: parsed.to_string(),
            target: parsed,
            slots,
            ttl,
            opts,
            etcd: None,
            held: None,
            pid: std::process::id(),
        })
    }

    /// Takes the lock (shared if `shared`; a slot for a semaphore), waiting
    /// as `timeout` and `blocking` say, with the GIL released; Ctrl-C ends
    /// the wait (leaving the queue) with `KeyboardInterrupt`. Raises
    /// `jlock.Timeout`, or `jlock.EtcdConnectionError`.
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
        if self.held.is_some() {
            return Err(state_error(format!(
                "{}: this lock object already holds the lock",
                self.shown
            )));
        }
        let wait = match Patience::from_timeout(timeout, blocking)? {
            Patience::NoWait => Wait::NoWait,
            Patience::Forever => Wait::Block,
            Patience::For(d) => Wait::Timeout(d),
        };
        let etcd = match &self.etcd {
            Some(e) => Arc::clone(e),
            None => {
                let e = Arc::new(connect(py, &self.target, &self.opts)?);
                self.etcd = Some(Arc::clone(&e));
                e
            }
        };
        let mode = if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        let (slots, ttl) = (self.slots, self.ttl);
        let command = format!("python (pid {})", std::process::id());
        let slice = slice_of(poll_interval);
        let flag = AtomicBool::new(false);
        let (got, signal) = std::thread::scope(|s| {
            let (tx, mut rx) = mpsc::sync_channel(1);
            let (etcd, flag) = (&*etcd, &flag);
            s.spawn(move || {
                let opts = LockOptions::new()
                    .mode(mode)
                    .wait(wait)
                    .ttl(ttl)
                    .command(command)
                    .interrupt(flag);
                let got = match slots {
                    Some(n) => etcd.semaphore(n, &opts),
                    None => etcd.lock(&opts),
                };
                let _ = tx.send(got);
            });
            let mut signal: Option<PyErr> = None;
            loop {
                let (back, got) = py.detach(move || {
                    let got = rx.recv_timeout(slice);
                    (rx, got)
                });
                rx = back;
                match got {
                    Ok(got) => return (Some(got), signal),
                    Err(RecvTimeoutError::Timeout) => {
                        if signal.is_none() {
                            if let Err(e) = py.check_signals() {
                                // The waiting thread leaves the queue within 20 ms.
                                flag.store(true, Ordering::SeqCst);
                                signal = Some(e);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return (None, signal),
                }
            }
        });
        if let Some(e) = signal {
            if let Some(Ok(lock)) = got {
                // Taken just as Ctrl-C came: give it back.
                let _ = py.detach(move || lock.release());
            }
            return Err(e);
        }
        match got {
            Some(Ok(lock)) => {
                self.held = Some(Held { lock, shared });
                Ok(())
            }
            Some(Err(e)) => Err(etcd_err(e, &self.shown)),
            None => Err(state_error(format!(
                "{}: the thread taking the lock ended without an answer",
                self.shown
            ))),
        }
    }

    /// Frees the lock (revokes its lease); nothing if none is held. Raises
    /// `jlock.LockLost` if it had been lost meanwhile (it is not held
    /// afterwards either way). If etcd cannot be told, the lease expires
    /// within its TTL.
    fn release(&mut self, py: Python<'_>) -> PyResult<()> {
        self.check_fork();
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        match py.detach(move || held.lock.release()) {
            Err(e @ jlock_etcd::Error::Lost { .. }) => Err(etcd_err(e, &self.shown)),
            _ => Ok(()),
        }
    }

    /// Raises `jlock.LockLost` if the held lock was lost; nothing otherwise.
    fn check(&mut self) -> PyResult<()> {
        self.check_fork();
        match self.held.as_ref().and_then(|h| h.lock.lost()) {
            Some(r) => Err(self.lost_error(r)),
            None => Ok(()),
        }
    }

    /// Waits (GIL released) at most `timeout` seconds (`None`: for ever) for
    /// the held lock to be lost; returns why ("lease_gone", "key_deleted",
    /// "no_renewal", "fenced") or `None` (not lost in time, or nothing held).
    /// Ctrl-C ends the wait.
    #[pyo3(signature = (timeout=None))]
    fn wait_lost(
        &mut self,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<Option<&'static str>> {
        self.check_fork();
        let Some(held) = self.held.as_ref() else {
            return Ok(None);
        };
        let end = match timeout {
            Some(t) if t.is_nan() => return Err(PyValueError::new_err("timeout must not be NaN")),
            Some(t) => Some(std::time::Instant::now() + Duration::from_secs_f64(t.max(0.0))),
            None => None,
        };
        let lock = &held.lock;
        loop {
            let slice = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    left.min(crate::wait::MAX_SLICE)
                }
                None => crate::wait::MAX_SLICE,
            };
            if let Some(r) = py.detach(|| lock.wait_lost(Some(slice))) {
                return Ok(Some(reason_name(r)));
            }
            if end.is_some_and(|e| std::time::Instant::now() >= e) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// Why the held lock was lost ("lease_gone", "key_deleted",
    /// "no_renewal", "fenced"), or `None` while it is held (or none is).
    #[getter]
    fn lost(&self) -> Option<&'static str> {
        if self.pid != std::process::id() {
            return None;
        }
        self.held
            .as_ref()
            .and_then(|h| h.lock.lost())
            .map(reason_name)
    }

    /// Whether this object holds the lock (in this process; lost or not).
    #[getter]
    fn is_locked(&self) -> bool {
        self.pid == std::process::id() && self.held.is_some()
    }

    /// In a forked child: forget what was inherited.
    fn after_fork(&mut self) {
        self.check_fork();
    }

    /// Whether the lock held is shared (`None` if none is held).
    #[getter]
    fn shared(&self) -> Option<bool> {
        self.held.as_ref().map(|h| h.shared)
    }

    /// The fencing token of the hold (`None` if none is held): the lock
    /// key's create revision, which grows with every acquisition.
    #[getter]
    fn fence(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.lock.fence())
    }

    /// The lease id of the hold (`None` if none is held).
    #[getter]
    fn lease(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.lock.lease())
    }

    /// The lock's key in etcd (`None` if none is held).
    #[getter]
    fn key(&self) -> Option<String> {
        self.held.as_ref().map(|h| h.lock.key().to_string())
    }

    /// For a semaphore: the slot number held (`None` if none is).
    #[getter]
    fn slot(&self) -> Option<usize> {
        self.held.as_ref().and_then(|h| h.lock.slot())
    }

    /// The number of slots (`None` for a lock).
    #[getter]
    fn slots(&self) -> Option<usize> {
        self.slots
    }

    /// The lease's TTL, in seconds (the one etcd granted, while held).
    #[getter]
    fn ttl(&self) -> f64 {
        self.held
            .as_ref()
            .map_or(self.ttl, |h| h.lock.ttl())
            .as_secs_f64()
    }

    /// The target, as `etcd://HOST:PORT/NAME`.
    #[getter]
    fn path(&self) -> String {
        self.shown.clone()
    }
}
