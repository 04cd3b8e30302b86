//! What the data commands act on: a JSON document behind a lock, named by a
//! target argument. Today a target is a local file, served by jlock-core's
//! [`Store`]; [`Document`] is the seam where another engine's documents
//! (a key on a coordination service) plug in.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use jlock_core::{JsonPath, Store};
use serde_json::{Number, Value};

use crate::args::StoreArgs;
use crate::exit::CliError;
use crate::output::{Ui, WaitReport};

/// Where a document lives, as the FILE argument names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A JSON file on this machine's file system.
    File(PathBuf),
}

impl Target {
    /// Parses a FILE argument: a path (a URL scheme for remote engines is
    /// reserved for them, and refused until one is built in).
    pub fn parse(arg: &OsStr) -> Result<Target, String> {
        if let Some(s) = arg.to_str() {
            if let Some((scheme, _)) = s.split_once("://") {
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    return Err(format!(
                        "{s:?}: {scheme}:// targets are not supported by this jlock build"
                    ));
                }
            }
        }
        Ok(Target::File(PathBuf::from(arg)))
    }

    /// The target as a user wrote it, for messages.
    pub fn display(&self) -> std::path::Display<'_> {
        match self {
            Target::File(p) => p.display(),
        }
    }
}

/// The operations the data commands need from a document, whatever holds it.
/// Every operation takes the document's lock (shared to read, exclusive to
/// change) for its duration; a failed operation changes nothing.
pub trait Document {
    /// The value at `path` (`None` if missing or null).
    fn get(&self, path: &JsonPath) -> Result<Option<Value>, CliError>;
    /// Sets the value at `path`.
    fn set(&self, path: &JsonPath, value: Value) -> Result<(), CliError>;
    /// Removes the value at `path`; false if there was none.
    fn delete(&self, path: &JsonPath) -> Result<bool, CliError>;
    /// Adds `by` to the number at `path`, returning the new value.
    fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError>;
    /// Changes the document with `edit`; nothing is written if `edit` fails.
    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> Result<(), CliError>,
    ) -> Result<(), CliError>;
}

/// Opens the document the data command's options name: the one place where
/// parsed options become a store.
pub fn open(args: &StoreArgs, ui: Ui) -> Result<Box<dyn Document>, CliError> {
    match &args.file {
        Target::File(path) => Ok(Box::new(FileDocument::open(path, args, ui)?)),
    }
}

/// A document in a local JSON file.
struct FileDocument {
    store: Store,
    report: WaitReport,
}

impl FileDocument {
    fn open(path: &Path, args: &StoreArgs, ui: Ui) -> Result<FileDocument, CliError> {
        let wait = args.wait.wait();
        let report = WaitReport::new(ui, wait);
        let mut builder = Store::builder(path);
        builder
            .durability(args.durability())
            .style(args.style())
            .wait(wait);
        if let Some(lock) = &args.lock_file {
            builder.lock_path(lock);
        }
        if let Some(hook) = report.hook() {
            builder.on_wait(hook);
        }
        Ok(FileDocument {
            store: builder.open()?,
            report,
        })
    }

    /// Runs one store operation, then says how long a lock wait took, if
    /// one was reported.
    fn op<T>(&self, f: impl FnOnce(&Store) -> Result<T, CliError>) -> Result<T, CliError> {
        let out = f(&self.store);
        if out.is_ok() {
            self.report.done(self.store.lock_path());
        }
        out
    }
}

impl Document for FileDocument {
    fn get(&self, path: &JsonPath) -> Result<Option<Value>, CliError> {
        self.op(|s| Ok(s.get(path)?))
    }

    fn set(&self, path: &JsonPath, value: Value) -> Result<(), CliError> {
        self.op(|s| Ok(s.set(path, value)?))
    }

    fn delete(&self, path: &JsonPath) -> Result<bool, CliError> {
        self.op(|s| Ok(s.delete(path)?))
    }

    fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError> {
        self.op(|s| Ok(s.incr(path, by)?))
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        self.op(|s| s.update(edit))
    }
}
