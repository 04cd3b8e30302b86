//! The one place where jlock-core's errors become Python exceptions.
//!
//! The exception classes are defined in Python (`jlock/_errors.py`), where
//! multiple inheritance (`jlock.Timeout` is both a `jlock.Error` and a
//! `TimeoutError`) is plain; this module looks them up and instantiates them.

use jlock_core::Error;
use jlock_json::Error as JsonError;
use pyo3::call::PyCallArgs;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// `jlock._errors`, imported once.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The exception class `name` of `jlock._errors`, called with `args`.
pub fn raise<'py, A: PyCallArgs<'py>>(py: Python<'py>, name: &str, args: A) -> PyErr {
    let made = ERRORS
        .get_or_try_init(py, || py.import("jlock._errors").map(Bound::unbind))
        .and_then(|m| m.bind(py).getattr(name))
        .and_then(|cls| cls.call1(args));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // The module is missing or broken: say so rather than lose the error.
        Err(e) => e,
    }
}

/// The Python exception for a jlock-core error: the only mapping there is.
///
/// | jlock-core | Python |
/// | --- | --- |
/// | `LockTimeout`, `LockConflict` (`is_lock_contention`) | `jlock.Timeout(lock_file)` |
/// | `Json`: `InvalidJson { line, column }` | `jlock.InvalidJSONError` (`ValueError`; `path`, `lineno`, `colno`) |
/// | `Json`: `WrongType` | `jlock.WrongTypeError` (`TypeError`) |
/// | `Json`: `Overflow` | `jlock.NumberOverflowError` (`OverflowError`) |
/// | `Json`: `IndexOutOfRange` | `jlock.IndexOutOfRangeError` (`IndexError`) |
/// | other `is_bad_data` | `jlock.DataError` (`ValueError`) |
/// | `Json`: `BadPath` | `jlock.BadPathError` (`ValueError`) |
/// | other `is_usage` | `jlock.UsageError` (`ValueError`) |
/// | `UnsafePath` | `jlock.UnsafePathError` (`PermissionError`) |
/// | `NotWritable` | `jlock.NotWritableError` (`PermissionError`) |
/// | `Io` | `jlock.FileError` (`OSError`, with `errno` and `filename`) |
/// | anything else | `jlock.Error` |
pub fn to_py_err(e: Error) -> PyErr {
    Python::attach(|py| {
        let message = e.to_string();
        match &e {
            Error::LockTimeout { path, .. } | Error::LockConflict { path } => {
                raise(py, "Timeout", (path.display().to_string(),))
            }
            Error::Json { path, error } => {
                let file = path.as_ref().map(|p| p.display().to_string());
                match error {
                    JsonError::InvalidJson { line, column, .. } => raise(
                        py,
                        "InvalidJSONError",
                        (message, file.unwrap_or_default(), *line, *column),
                    ),
                    JsonError::WrongType { .. } => raise(py, "WrongTypeError", (message, file)),
                    JsonError::Overflow { .. } => raise(py, "NumberOverflowError", (message, file)),
                    JsonError::IndexOutOfRange { .. } => {
                        raise(py, "IndexOutOfRangeError", (message, file))
                    }
                    JsonError::BadPath { .. } => raise(py, "BadPathError", (message,)),
                    _ if e.is_bad_data() => raise(py, "DataError", (message, file)),
                    _ if e.is_usage() => raise(py, "UsageError", (message,)),
                    _ => raise(py, "Error", (message,)),
                }
            }
            Error::UnsafePath { path, .. } => {
                raise(py, "UnsafePathError", (message, path.display().to_string()))
            }
            Error::NotWritable { path, .. } => raise(
                py,
                "NotWritableError",
                (message, path.display().to_string()),
            ),
            Error::Io { path, source, .. } => raise(
                py,
                "FileError",
                (source.raw_os_error(), message, path.display().to_string()),
            ),
            _ if e.is_bad_data() => raise(py, "DataError", (message, py.None())),
            _ if e.is_usage() => raise(py, "UsageError", (message,)),
            _ => raise(py, "Error", (message,)),
        }
    })
}

/// A `RuntimeError` for a misuse of an object's state (releasing what is
/// not held, entering a transaction twice).
pub fn state_error(message: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(message.into())
}
