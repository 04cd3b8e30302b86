//! The one error type of jlock-core, with a variant per kind of failure a caller may want to match.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file-system operation that failed, carried by [`Error::Io`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening (or creating) the lock file.
    OpenLock,
    /// Taking or releasing a lock with `flock(2)`.
    Lock,
    /// Reading the data file.
    Read,
    /// Resolving a symbolic link on the data path.
    ResolveLink,
    /// Creating the temporary file that replaces the data file.
    CreateTemp,
    /// Writing the new document to the temporary file.
    Write,
    /// Copying the data file's permission bits or owner to its replacement.
    SetPermissions,
    /// Flushing a file or directory to stable storage (`fsync`).
    Sync,
    /// Renaming the temporary file over the data file.
    Rename,
    /// Removing a temporary file left behind by a crashed writer.
    RemoveStale,
    /// Reserving disk space for an update before it commits (`fallocate`).
    Reserve,
    /// Reading or writing the redo journal of [`Durability::Journal`](crate::Durability::Journal).
    Journal,
    /// Looking at a file's metadata (`stat`).
    Stat,
    /// Making, joining or leaving a fair lock's queue (`LOCKFILE.queue/`).
    FairQueue,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::OpenLock => "open lock file",
            Operation::Lock => "lock",
            Operation::Read => "read",
            Operation::ResolveLink => "resolve symlink",
            Operation::CreateTemp => "create temporary file",
            Operation::Write => "write",
            Operation::SetPermissions => "set permissions",
            Operation::Sync => "fsync",
            Operation::Rename => "rename",
            Operation::RemoveStale => "remove stale temporary file",
            Operation::Reserve => "reserve disk space",
            Operation::Journal => "journal",
            Operation::Stat => "stat",
            Operation::FairQueue => "use the fair queue",
        })
    }
}

/// Everything that can go wrong in jlock-core.
///
/// Each variant names the file involved, so the message alone tells a user
/// what to look at. Match on the variant to react to a kind of failure:
///
/// ```
/// use jlock_core::{Error, LockFile, LockMode, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// let mut first = LockFile::open(&path)?;
/// let _held = first.lock(LockMode::Exclusive, Wait::Block)?;
/// let mut second = LockFile::open(&path)?;
/// match second.lock(LockMode::Exclusive, Wait::NoWait) {
///     Err(Error::LockConflict { .. }) => {} // someone else holds it
///     other => panic!("expected a conflict, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-blocking lock request found the lock held by another process.
    #[error("{}: lock is held by another process", path.display())]
    LockConflict {
        /// The lock file.
        path: PathBuf,
    },
    /// A lock request with a timeout gave up.
    #[error("{}: timed out after {:.3}s waiting for the lock", path.display(), waited.as_secs_f64())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// A wait for a lock was ended by an [`crate::Interrupt`] token: no
    /// lock is held, and no waiter was left queued (see
    /// [`crate::LockFile::interrupt`]).
    #[error("{}: the wait for the lock was interrupted", path.display())]
    Interrupted {
        /// The lock file.
        path: PathBuf,
    },
    /// A document, a path or an edit is wrong ([`jlock_json::Error`]: invalid
    /// JSON, a wrong type at a path, an overflow, an index out of range or
    /// past what may be written, a write nested too deep, a path that does
    /// not parse), in the document of `path` when it is about one.
    #[error("{}", json_message(.path.as_deref(), .error))]
    Json {
        /// The data file (or other target) whose document it is about;
        /// `None` for an error about no document, such as a path that does
        /// not parse.
        path: Option<PathBuf>,
        /// What is wrong, and where in the document.
        error: jlock_json::Error,
    },
    /// A file jlock refuses to trust: a symlink planted by another user in a
    /// shared directory (world-writable, sticky, like `/tmp`) — as the last
    /// component of a path or as a directory on the way — a dangling symlink
    /// a new file would be created through, or a journal or temporary file
    /// that is not owned by the data file's owner.
    #[error("{}: {reason}", path.display())]
    UnsafePath {
        /// The path refused.
        path: PathBuf,
        /// Why.
        reason: String,
        /// The user id that owns the refused file, when one does.
        owner: Option<u32>,
    },
    /// An update of a data file this user may not write, refused before any
    /// work: the rename mode could otherwise replace (and take over) a file
    /// its caller may not change, and in a sticky directory only the file's
    /// owner may replace it.
    #[error("{}: {reason}", path.display())]
    NotWritable {
        /// The data file.
        path: PathBuf,
        /// Why it may not be written.
        reason: String,
    },
    /// The lock file named for a store is its data file itself: the store
    /// would lock the very file it replaces. A usage error.
    #[error("{}: the lock file must not be the data file itself", path.display())]
    LockIsData {
        /// The data file.
        path: PathBuf,
    },
    /// A write given an expected [`crate::Revision`] found the document at
    /// another: someone changed it since. Nothing was written.
    #[error("{}: the document changed since revision {expected} (it is now at {found}); nothing was written", path.display())]
    RevisionChanged {
        /// The document's file or target.
        path: PathBuf,
        /// The revision the write was made for.
        expected: crate::Revision,
        /// The revision the document is at.
        found: crate::Revision,
    },
    /// A revision token that no document has: not one `jlock rev` printed.
    #[error("bad revision {token:?}: not a token `jlock rev` prints")]
    BadRevision {
        /// The token, as given (at most 80 characters of it).
        token: String,
    },
    /// A typed read or update could not convert between the document and the Rust type.
    #[error("{}: document does not match the expected type: {source}", path.display())]
    Convert {
        /// The data file.
        path: PathBuf,
        /// serde's description of the mismatch.
        #[source]
        source: serde_json::Error,
    },
    /// A file-system call failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// What was being done.
        op: Operation,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// Attaches the operation and the path to an I/O error: the one way
/// jlock-core turns an [`io::Error`] into an [`Error`].
pub(crate) trait IoContext<T> {
    /// `Err(e)` becomes [`Error::Io`] with `op` and `path`.
    fn at(self, op: Operation, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: Operation, path: &Path) -> Result<T> {
        self.map_err(|source| Error::io(op, path, source))
    }
}

impl Error {
    pub(crate) fn io(op: Operation, path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    pub(crate) fn unsafe_path(path: &Path, reason: impl Into<String>, owner: Option<u32>) -> Error {
        Error::UnsafePath {
            path: path.to_path_buf(),
            reason: reason.into(),
            owner,
        }
    }

    /// True for the errors that mean "someone else holds the lock":
    /// [`Error::LockConflict`] and [`Error::LockTimeout`].
    pub fn is_lock_contention(&self) -> bool {
        matches!(self, Error::LockConflict { .. } | Error::LockTimeout { .. })
    }

    /// True for the errors that mean the request (not the data) is wrong: a
    /// path that does not parse, an array index past what jlock will write,
    /// or a write that would nest deeper than jlock reads. The CLI exits 64.
    pub fn is_usage(&self) -> bool {
        match self {
            Error::Json { error, .. } => error.is_usage(),
            Error::LockIsData { .. } | Error::BadRevision { .. } => true,
            _ => false,
        }
    }

    /// True for the errors that mean the document is not the one the
    /// request was made for (another revision, a JSON Patch `test` that
    /// failed): nothing was written. The CLI exits 4.
    pub fn is_precondition(&self) -> bool {
        match self {
            Error::Json { error, .. } => error.is_precondition(),
            Error::RevisionChanged { .. } => true,
            _ => false,
        }
    }

    /// True for the errors that mean the data (not the system) is wrong:
    /// invalid JSON, a wrong type, an overflow, an index out of range, or a
    /// failed typed conversion.
    pub fn is_bad_data(&self) -> bool {
        match self {
            Error::Json { error, .. } => error.is_bad_data(),
            Error::Convert { .. } => true,
            _ => false,
        }
    }

    /// `error`, about the document of `file`: how a caller's own edit of a
    /// document (a closure given to [`crate::Store::update`], say) reports a
    /// [`jlock_json::Error`] naming the file, as the store's own do.
    pub fn in_document(file: &Path, error: jlock_json::Error) -> Error {
        Error::Json {
            path: Some(file.to_path_buf()),
            error,
        }
    }
}

/// A JSON error about no file (a path that does not parse) is
/// [`Error::Json`] with no path.
impl From<jlock_json::Error> for Error {
    fn from(error: jlock_json::Error) -> Error {
        Error::Json { path: None, error }
    }
}

/// Attaches the file to a JSON error: the one way jlock-core turns a
/// [`jlock_json::Error`] about a document it read into an [`Error`].
pub(crate) trait JsonContext<T> {
    /// `Err(e)` becomes [`Error::Json`] naming `file`.
    fn in_document(self, file: &Path) -> Result<T>;
}

impl<T> JsonContext<T> for jlock_json::Result<T> {
    fn in_document(self, file: &Path) -> Result<T> {
        self.map_err(|e| Error::in_document(file, e))
    }
}

/// `FILE:LINE:COLUMN: invalid JSON: …` for a parse error (the form editors
/// and compilers use), `FILE: …` for the others.
fn json_message(path: Option<&Path>, error: &jlock_json::Error) -> String {
    match (path, error) {
        (
            Some(p),
            jlock_json::Error::InvalidJson {
                line,
                column,
                message,
            },
        ) => {
            format!("{}:{line}:{column}: invalid JSON: {message}", p.display())
        }
        (Some(p), e) => format!("{}: {e}", p.display()),
        (
            None,
            jlock_json::Error::InvalidJson {
                line,
                column,
                message,
            },
        ) => {
            format!("invalid JSON at {line}:{column}: {message}")
        }
        (None, e) => e.to_string(),
    }
}
