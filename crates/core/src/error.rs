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
    /// The data file (or a document given to the store) is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    InvalidJson {
        /// The file that holds the invalid document.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser found wrong.
        message: String,
    },
    /// A value in the document has the wrong type for the operation.
    #[error("{}: at {at}: expected {expected}, found {found}", path.display())]
    WrongType {
        /// The data file.
        path: PathBuf,
        /// The JSON path of the offending value, as the user wrote it.
        at: String,
        /// What the operation needed.
        expected: &'static str,
        /// What the document holds there.
        found: &'static str,
    },
    /// A numeric update would not fit: integer overflow, or a float that is not finite.
    #[error("{}: at {at}: {message}", path.display())]
    Overflow {
        /// The data file.
        path: PathBuf,
        /// The JSON path of the value.
        at: String,
        /// What overflowed.
        message: String,
    },
    /// An array index at a path is out of range for the operation.
    #[error("{}: at {at}: index {index} is out of range for an array of length {len}", path.display())]
    IndexOutOfRange {
        /// The data file.
        path: PathBuf,
        /// The JSON path of the array element.
        at: String,
        /// The index asked for.
        index: i64,
        /// The array's length.
        len: usize,
    },
    /// A write would index an array farther past its end than jlock pads
    /// ([`crate::JsonPath::MAX_GAP`] elements), or at an index no array can
    /// have. The CLI maps it to 64 (usage): the index is what the user typed.
    #[error("{}: at {at}: index {index} is past the end of an array of length {len}; an index up to {len} + {gap} may be written (use {len} or /- to append)", path.display(), gap = crate::JsonPath::MAX_GAP)]
    IndexPastEnd {
        /// The data file.
        path: PathBuf,
        /// The JSON path, as the user wrote it.
        at: String,
        /// The index asked for, as written.
        index: String,
        /// The array's length.
        len: usize,
    },
    /// A write would nest arrays and objects deeper than
    /// [`crate::document::MAX_DEPTH`], which jlock would then refuse to read.
    /// The CLI maps it to 64 (usage) when a path or VALUE causes it.
    #[error("{}: {what} would nest arrays and objects deeper than {limit} levels; jlock does not write a document it cannot read back", path.display())]
    TooDeep {
        /// The data file.
        path: PathBuf,
        /// What would be too deep: a path as written, or "the new document".
        what: String,
        /// The limit, [`crate::document::MAX_DEPTH`].
        limit: usize,
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
    /// A path expression could not be parsed.
    #[error("bad path {input:?}: {reason}")]
    BadPath {
        /// The path as given.
        input: String,
        /// What is wrong with it.
        reason: String,
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
        matches!(
            self,
            Error::BadPath { .. }
                | Error::IndexPastEnd { .. }
                | Error::TooDeep { .. }
                | Error::LockIsData { .. }
        )
    }

    /// True for the errors that mean the data (not the system) is wrong:
    /// invalid JSON, a wrong type, an overflow, an index out of range, or a
    /// failed typed conversion.
    pub fn is_bad_data(&self) -> bool {
        matches!(
            self,
            Error::InvalidJson { .. }
                | Error::WrongType { .. }
                | Error::Overflow { .. }
                | Error::IndexOutOfRange { .. }
                | Error::Convert { .. }
        )
    }
}
