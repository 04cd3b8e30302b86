//! The crate's error type: every way an etcd operation can fail, each with a clear message.

use std::fmt;
use std::time::Duration;

/// Why a held lock was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// etcd says the lease is gone: it was revoked, or it expired (the holder paused or was
    /// cut off for longer than the TTL).
    LeaseGone,
    /// The lock key was deleted while the lease still existed (someone deleted it by hand).
    KeyDeleted,
    /// No keep-alive was acknowledged within the TTL (engine down, partition, or this process
    /// was paused): the lease may have expired at the server, so the lock must be presumed lost.
    NoRenewal,
    /// A fenced write found that the lock key is no longer this holder's.
    Fenced,
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossReason::LeaseGone => "its lease was revoked or expired",
            LossReason::KeyDeleted => "its key was deleted",
            LossReason::NoRenewal => "no keep-alive was acknowledged within the TTL",
            LossReason::Fenced => "the lock key is no longer this holder's (fence check failed)",
        })
    }
}

/// Everything that can fail in this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A malformed `etcd://` target.
    BadTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad option value (a zero TTL, zero slots…).
    InvalidArgument(String),
    /// No etcd endpoint answered within the connect timeout.
    Unreachable {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// How long we tried.
        waited: Duration,
        /// The last error seen.
        detail: String,
    },
    /// The lock (or every slot) is held and the wait policy was no-wait.
    Busy {
        /// The lock's name.
        name: String,
    },
    /// The lock was still held when the wait timed out.
    TimedOut {
        /// The lock's name.
        name: String,
        /// The wait that ran out.
        waited: Duration,
    },
    /// The wait was interrupted through [`crate::LockOptions::interrupt`].
    Interrupted {
        /// The lock's name.
        name: String,
    },
    /// The lock was lost (see [`LossReason`]).
    Lost {
        /// The lock's name.
        name: String,
        /// Why.
        reason: LossReason,
    },
    /// A value larger than etcd accepts in one request.
    TooLarge {
        /// The document's name.
        name: String,
        /// Its size in bytes.
        size: usize,
        /// The largest accepted value for this key.
        limit: usize,
    },
    /// The update function refused the document; nothing was written.
    Rejected {
        /// The document's name.
        name: String,
        /// The function's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An error from etcd or the connection to it. For a write, its outcome is unknown:
    /// it may or may not have been applied.
    Engine {
        /// The endpoints, comma-separated.
        endpoints: String,
        /// What we were doing.
        op: &'static str,
        /// The error.
        detail: String,
    },
    /// Something etcd cannot do soundly (see the message).
    NotSupported(&'static str),
    /// The document's content or an edit of it was refused by the engine's
    /// rules, as in a file (invalid JSON, a wrong type at a path, an
    /// overflow): from [`jlock_core::Document`]'s operations on
    /// [`crate::EtcdDocument`]. Nothing was written.
    Document(jlock_core::Error),
}

impl From<jlock_core::Error> for Error {
    fn from(e: jlock_core::Error) -> Error {
        Error::Document(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadTarget { target, reason } => {
                write!(f, "bad etcd target '{target}': {reason}")
            }
            Error::InvalidArgument(m) => f.write_str(m),
            Error::Unreachable {
                endpoints,
                waited,
                detail,
            } => write!(
                f,
                "etcd unreachable at {endpoints} (gave up after {:.1}s: {detail})",
                waited.as_secs_f64()
            ),
            Error::Busy { name } => write!(f, "etcd lock '{name}' is held by another process"),
            Error::TimedOut { name, waited } => write!(
                f,
                "etcd lock '{name}' still held after waiting {:.1}s",
                waited.as_secs_f64()
            ),
            Error::Interrupted { name } => {
                write!(f, "wait for etcd lock '{name}' interrupted; left the queue")
            }
            Error::Lost { name, reason } => write!(f, "etcd lock '{name}' lost: {reason}"),
            Error::TooLarge { name, size, limit } => write!(
                f,
                "etcd document '{name}': {size} bytes is over etcd's request limit ({limit} bytes for this key); nothing written"
            ),
            Error::Rejected { name, source } => {
                write!(f, "etcd document '{name}' not updated: {source}")
            }
            Error::Engine {
                endpoints,
                op,
                detail,
            } => write!(f, "etcd at {endpoints}: {op} failed: {detail}"),
            Error::NotSupported(m) => write!(f, "not supported on etcd: {m}"),
            Error::Document(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rejected { source, .. } => Some(source.as_ref()),
            Error::Document(e) => e.source(),
            _ => None,
        }
    }
}

impl Error {
    /// True for [`Error::Busy`] and [`Error::TimedOut`]: the lock is held by someone else
    /// (the CLI's exit code 1, or `-E CODE`).
    pub fn is_contention(&self) -> bool {
        matches!(self, Error::Busy { .. } | Error::TimedOut { .. })
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
