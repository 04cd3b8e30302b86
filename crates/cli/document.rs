//! What the data commands act on: a JSON document named by a target argument —
//! a local file, served by jlock-core's [`Store`], or (with the `etcd`
//! feature) one key on an etcd cluster, updated by compare-and-swap.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use jlock_core::document::Spellings;
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
    /// A name on an etcd cluster: `etcd://HOST:PORT[,HOST:PORT…]/NAME`.
    #[cfg(feature = "etcd")]
    Etcd(jlock_etcd::Target),
}

impl Target {
    /// Parses a FILE argument: a path, or (with the `etcd` feature) an
    /// `etcd://` target. Any other URL scheme is refused, as is `etcd://` in
    /// a build without the feature.
    pub fn parse(arg: &OsStr) -> Result<Target, String> {
        if let Some(s) = arg.to_str() {
            #[cfg(feature = "etcd")]
            if jlock_etcd::is_etcd_target(s) {
                return jlock_etcd::Target::parse(s)
                    .map(Target::Etcd)
                    .map_err(|e| e.to_string());
            }
            if let Some((scheme, _)) = s.split_once("://") {
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    let hint = if scheme == "etcd" && cfg!(not(feature = "etcd")) {
                        " (build jlock with `--features etcd`)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "{s:?}: {scheme}:// targets are not supported by this jlock build{hint}"
                    ));
                }
            }
        }
        Ok(Target::File(PathBuf::from(arg)))
    }

    /// The target as a user wrote it, for messages.
    pub fn display(&self) -> String {
        match self {
            Target::File(p) => p.display().to_string(),
            #[cfg(feature = "etcd")]
            Target::Etcd(t) => t.to_string(),
        }
    }
}

/// The operations the data commands need from a document, whatever holds it.
/// Every operation takes the document's lock (shared to read, exclusive to
/// change) for its duration; a failed operation changes nothing.
pub trait Document {
    /// The value at `path` (`None` if missing), with how its numbers were spelled.
    fn get(&self, path: &JsonPath) -> Result<Option<(Value, Spellings)>, CliError>;
    /// Sets the value at `path`, writing its numbers as `spellings` says.
    fn set(&self, path: &JsonPath, value: Value, spellings: &Spellings) -> Result<(), CliError>;
    /// Removes the value at `path`; false if there was none.
    fn delete(&self, path: &JsonPath) -> Result<bool, CliError>;
    /// Adds `by` to the number at `path`, returning the new value.
    fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError>;
    /// Changes the document with `edit`, which returns how the numbers of
    /// its new values are spelled; nothing is written if `edit` fails.
    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> Result<Spellings, CliError>,
    ) -> Result<(), CliError>;
}

/// Opens the document the data command's options name: the one place where
/// parsed options become a store.
pub fn open(args: &StoreArgs, ui: Ui) -> Result<Box<dyn Document>, CliError> {
    match &args.file {
        Target::File(path) => {
            #[cfg(feature = "etcd")]
            args.etcd.refuse_for_files()?;
            Ok(Box::new(FileDocument::open(path, args, ui)?))
        }
        #[cfg(feature = "etcd")]
        Target::Etcd(t) => {
            let _ = ui;
            Ok(Box::new(etcd::EtcdDocument::open(t, args)?))
        }
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
    fn get(&self, path: &JsonPath) -> Result<Option<(Value, Spellings)>, CliError> {
        self.op(|s| Ok(s.get_spelled(path)?))
    }

    fn set(&self, path: &JsonPath, value: Value, spellings: &Spellings) -> Result<(), CliError> {
        self.op(|s| Ok(s.set_spelled(path, value, spellings)?))
    }

    fn delete(&self, path: &JsonPath) -> Result<bool, CliError> {
        self.op(|s| Ok(s.delete(path)?))
    }

    fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError> {
        self.op(|s| Ok(s.incr(path, by)?))
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> Result<Spellings, CliError>,
    ) -> Result<(), CliError> {
        self.op(|s| s.update_spelled(|doc| edit(doc).map(|sp| ((), sp))))
    }
}

#[cfg(feature = "etcd")]
pub mod etcd {
    //! Documents on etcd: one key's value, edited with the file store's
    //! lossless engine and written by compare-and-swap on the key's
    //! modification revision.

    use std::path::{Path, PathBuf};

    use jlock_core::document::{self, Document as Tree, Spellings, Style};
    use jlock_core::JsonPath;
    use serde_json::{Number, Value};

    use super::Document;
    use crate::args::StoreArgs;
    use crate::exit::CliError;

    /// A document kept as the value of `jlock/NAME/.doc` on an etcd cluster.
    ///
    /// Reads are linearizable. Changes read the value and its revision,
    /// compute the new bytes (only what changed is rewritten, as in a file),
    /// and write them in a transaction that succeeds only if the revision is
    /// unchanged; on a conflict the change is computed again on the newer
    /// value, so the edit may run more than once. Unchanged → nothing written.
    pub struct EtcdDocument {
        etcd: jlock_etcd::Etcd,
        style: Style,
        /// The target, as the "file" errors name.
        shown: PathBuf,
    }

    /// A stand-in error that aborts a compare-and-swap update; the real one
    /// is kept aside, since the CLI's errors need not be `Send + Sync`.
    #[derive(Debug)]
    struct Aborted;

    impl std::fmt::Display for Aborted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("aborted")
        }
    }

    impl std::error::Error for Aborted {}

    impl EtcdDocument {
        /// Connects to the target's cluster (within `--connect-timeout`).
        pub fn open(target: &jlock_etcd::Target, args: &StoreArgs) -> Result<Self, CliError> {
            if args.lock_file.is_some() {
                return Err(CliError::Usage(format!(
                    "--lock-file applies to files, not to {target}"
                )));
            }
            let etcd = crate::run::etcd_connect(target, &args.etcd)?;
            Ok(EtcdDocument {
                etcd,
                style: args.style(),
                shown: PathBuf::from(target.to_string()),
            })
        }

        fn path(&self) -> &Path {
            &self.shown
        }

        /// The update protocol, as the file store's: `f` gets the document
        /// (`null` if there is no key) and returns its result and whether it
        /// changed the value; the new bytes are rendered losslessly and
        /// written only if they differ.
        fn transact<T>(
            &self,
            mut f: impl FnMut(&mut Value) -> Result<(T, bool, Spellings), CliError>,
        ) -> Result<T, CliError> {
            let mut out = None;
            let mut failed: Option<CliError> = None;
            let file = self.path();
            let style = self.style;
            let r = self.etcd.update(|old: Option<&[u8]>| {
                let bytes = old.unwrap_or_default();
                let step = (|| {
                    let (tree, mut doc) = Tree::parse_file(bytes, file)?;
                    let (t, changed, sp) = f(&mut doc)?;
                    out = Some(t);
                    let mut new = Vec::new();
                    if changed && render(&tree, bytes, &doc, style, &sp, file, &mut new)? {
                        Ok(Some(new))
                    } else {
                        Ok(None)
                    }
                })();
                step.map_err(|e: CliError| {
                    failed = Some(e);
                    Aborted
                })
            });
            match (r, failed) {
                // The edit's own error (the etcd error only says it aborted).
                (_, Some(e)) => Err(e),
                // An update that succeeded ran the edit successfully last.
                (Ok(_), None) => out.ok_or(CliError::Etcd(jlock_etcd::Error::NotSupported(
                    "an update that ran no edit",
                ))),
                (Err(e), None) => Err(e.into()),
            }
        }
    }

    fn render(
        tree: &Tree,
        old: &[u8],
        new: &Value,
        style: Style,
        sp: &Spellings,
        file: &Path,
        out: &mut Vec<u8>,
    ) -> Result<bool, CliError> {
        Ok(tree.render_into_file(old, new, style, sp, file, out)?)
    }

    impl Document for EtcdDocument {
        fn get(&self, path: &JsonPath) -> Result<Option<(Value, Spellings)>, CliError> {
            let Some(d) = self.etcd.read()? else {
                return Ok(None);
            };
            let doc = document::parse_value_file(&d.value, self.path())?;
            let found = path.get_in(&doc, self.path())?.cloned();
            Ok(found.map(|v| (v, Spellings::of(&d.value))))
        }

        fn set(
            &self,
            path: &JsonPath,
            value: Value,
            spellings: &Spellings,
        ) -> Result<(), CliError> {
            self.transact(|doc| {
                *path.slot_mut(doc, self.path())? = value.clone();
                Ok(((), true, spellings.clone()))
            })
        }

        fn delete(&self, path: &JsonPath) -> Result<bool, CliError> {
            self.transact(|doc| {
                let gone = path.remove_in(doc, self.path())?;
                Ok((gone, gone, Spellings::default()))
            })
        }

        fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError> {
            self.transact(|doc| {
                let slot = path.slot_mut(doc, self.path())?;
                let cur = match slot {
                    Value::Null => Number::from(0),
                    Value::Number(n) => n.clone(),
                    other => return Err(path.wrong_type(self.path(), "a number", other).into()),
                };
                let sum = document::number::add_numbers(&cur, &by).map_err(|why| {
                    jlock_core::Error::Overflow {
                        path: self.shown.clone(),
                        at: path.to_string(),
                        message: why.to_string(),
                    }
                })?;
                *slot = Value::Number(sum.clone());
                Ok((sum, true, Spellings::default()))
            })
        }

        fn update(
            &self,
            edit: &mut dyn FnMut(&mut Value) -> Result<Spellings, CliError>,
        ) -> Result<(), CliError> {
            self.transact(|doc| edit(doc).map(|sp| ((), true, sp)))
        }
    }
}
