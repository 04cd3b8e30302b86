//! The one error type of jlock-json: what is wrong with a document, a path or an edit, and where in the document.

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, addressing or editing a document.
///
/// No variant names a file: a document is bytes here. A caller that read the
/// bytes from a file adds its name (jlock-core's `Error::Json` does).
///
/// ```
/// use jlock_json::{check, Error};
///
/// match check(b"{\n  \"a\": [1,]\n}") {
///     Err(Error::InvalidJson { line, column, .. }) => assert_eq!((line, column), (2, 11)),
///     other => panic!("expected invalid JSON, got {other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a JSON document (RFC 8259), or nest deeper than
    /// [`crate::MAX_DEPTH`].
    #[error("{line}:{column}: {message}")]
    InvalidJson {
        /// 1-based line of the error (lines end with LF).
        line: usize,
        /// 1-based column of the error, in characters.
        column: usize,
        /// What the parser found wrong.
        message: String,
    },
    /// A value in the document has the wrong type for the operation.
    #[error("at {at}: expected {expected}, found {found}")]
    WrongType {
        /// The JSON path of the offending value, as the user wrote it.
        at: String,
        /// What the operation needed.
        expected: &'static str,
        /// What the document holds there.
        found: &'static str,
    },
    /// A numeric update would not fit: a sum past the bounds of
    /// [`crate::number::add`].
    #[error("at {at}: {message}")]
    Overflow {
        /// The JSON path of the value.
        at: String,
        /// What overflowed.
        message: String,
    },
    /// An array index at a path is out of range for the operation.
    #[error("at {at}: index {index} is out of range for an array of length {len}")]
    IndexOutOfRange {
        /// The JSON path of the array element.
        at: String,
        /// The index asked for.
        index: i64,
        /// The array's length.
        len: usize,
    },
    /// A write would index an array farther past its end than
    /// [`crate::JsonPath::MAX_GAP`] elements, or at an index no array can
    /// have: the index is what the user typed.
    #[error("at {at}: index {index} is past the end of an array of length {len}; an index up to {len} + {gap} may be written (use {len} or /- to append)", gap = crate::JsonPath::MAX_GAP)]
    IndexPastEnd {
        /// The JSON path, as the user wrote it.
        at: String,
        /// The index asked for, as written.
        index: String,
        /// The array's length.
        len: usize,
    },
    /// A write would nest arrays and objects deeper than
    /// [`crate::MAX_DEPTH`]: nothing is written that could not be read back.
    #[error("{what} would nest arrays and objects deeper than {limit} levels; jlock does not write a document it cannot read back")]
    TooDeep {
        /// What would be too deep: a path as written, or "the new document".
        what: String,
        /// The limit, [`crate::MAX_DEPTH`].
        limit: usize,
    },
    /// A JSON Patch that is not one: not an array of operations, an unknown
    /// `op`, a member missing, a `path` or `from` that is not a JSON Pointer,
    /// or `copy`s that would grow the document without bound.
    #[error("bad patch: {}{message}", index.map(|i| format!("operation {i}: ")).unwrap_or_default())]
    BadPatch {
        /// The operation's index in the patch (from 0), if the fault is in one.
        index: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A JSON Patch operation that cannot apply to the document: its path
    /// (or `from`) does not exist, an index is past the end.
    #[error("patch operation {index} ({op} at {path:?}): {message}")]
    PatchFailed {
        /// The operation's index in the patch (from 0).
        index: usize,
        /// The operation: `add`, `remove`, `replace`, `move` or `copy`.
        op: &'static str,
        /// Its `path`, as written.
        path: String,
        /// Why it cannot apply.
        message: String,
    },
    /// A JSON Patch `test` operation found another value (or none) at its
    /// path: the document is not the one the patch was written for.
    #[error("patch operation {index} (test at {path:?}) failed: {}", match found {
        Some(found) => format!("the value there ({found}) is not the one given"),
        None => "there is no value there".to_string(),
    })]
    TestFailed {
        /// The operation's index in the patch (from 0).
        index: usize,
        /// Its `path`, as written.
        path: String,
        /// The type of what is there, if anything.
        found: Option<&'static str>,
    },
    /// A path expression could not be parsed.
    #[error("bad path {input:?}: {reason}")]
    BadPath {
        /// The path as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// True for the errors that mean the request (not the document) is
    /// wrong: a path or a patch that does not parse, an array index past
    /// what may be written, or a write that would nest deeper than
    /// [`crate::MAX_DEPTH`].
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::BadPath { .. }
                | Error::IndexPastEnd { .. }
                | Error::TooDeep { .. }
                | Error::BadPatch { .. }
        )
    }

    /// True for the errors that mean the document is not the one the
    /// request was made for: a JSON Patch `test` that failed.
    pub fn is_precondition(&self) -> bool {
        matches!(self, Error::TestFailed { .. })
    }

    /// True for the errors that mean the document is wrong for the request:
    /// invalid JSON, a wrong type, an overflow, an index out of range, a
    /// patch operation that cannot apply.
    pub fn is_bad_data(&self) -> bool {
        !self.is_usage() && !self.is_precondition()
    }
}
