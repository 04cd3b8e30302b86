//! The lab's error type: what can make a demo, a benchmark or one of their
//! child processes fail. The `jlock` binary maps it to an exit code.

use std::fmt;

/// Everything that can make the lab fail.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// From jlock-core.
    Core(jlock_core::Error),
    /// A bad option that clap could not catch (exit 64 in `jlock`).
    Usage(String),
    /// Wrong data: a file that is not the JSON the lab wrote, or a
    /// measurement whose count came out wrong (exit 65 in `jlock`).
    Data(String),
    /// An I/O error (exit 74 in `jlock`).
    Io {
        /// What was being read, written or started.
        what: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error about `what`.
    pub(crate) fn io(what: impl fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            what: what.to_string(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Core(e) => write!(f, "{e}"),
            Error::Usage(msg) | Error::Data(msg) => f.write_str(msg),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Core(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            Error::Usage(_) | Error::Data(_) => None,
        }
    }
}

impl From<jlock_core::Error> for Error {
    fn from(e: jlock_core::Error) -> Error {
        Error::Core(e)
    }
}

impl From<jlock_json::Error> for Error {
    fn from(e: jlock_json::Error) -> Error {
        Error::Core(e.into())
    }
}
