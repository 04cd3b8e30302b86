//! What the data commands act on: the [`Document`] a target argument names —
//! a local file, served by jlock-core's [`Store`], or (with the `etcd`
//! feature) one key on an etcd cluster, through jlock-core's `CasDocument`
//! over jlock-etcd's compare-and-swap. The operations themselves are the
//! engine's (jlock-core's `engine`), written once for both.

use std::path::Path;

use jlock_core::{Document, JsonPath, Lookup, Revision, Store};
use jlock_json::Spellings;
use serde_json::{Number, Value};

use crate::args::{GetArgs, StoreArgs};
use crate::exit::CliError;
use crate::output::{Ui, WaitReport};
use crate::target::Target;

/// Opens the document the data command's options name: the one place where
/// parsed options become a store.
pub fn open(args: &StoreArgs, ui: Ui) -> Result<Box<dyn Document<CliError>>, CliError> {
    open_waiting(args, ui, args.wait.wait())
}

/// [`open`], with each lock taken under `wait` instead of what `-n`/`-w`
/// say (`pop`, whose `-n`/`-w` are about the queue's elements).
pub fn open_waiting(
    args: &StoreArgs,
    ui: Ui,
    wait: jlock_core::Wait,
) -> Result<Box<dyn Document<CliError>>, CliError> {
    match &args.file {
        Target::File(path) => {
            #[cfg(feature = "etcd")]
            args.etcd.refuse_for_files()?;
            Ok(Box::new(FileDocument::open(path, args, ui, wait)?))
        }
        #[cfg(feature = "etcd")]
        Target::Etcd(target) => {
            if args.lock_file.is_some() {
                return Err(CliError::Usage(format!(
                    "--lock-file applies to files, not to {target}"
                )));
            }
            let etcd = crate::target::connect(target, &args.etcd.connect_options())?;
            let backend = jlock_etcd::EtcdDocument::new(etcd);
            let mut doc = jlock_core::CasDocument::new(backend, args.style());
            if let Some(rev) = &args.if_rev {
                doc = doc.expect_revision(rev.clone());
            }
            Ok(Box::new(doc))
        }
    }
}

/// `get` on a local file: the value at `path`, read without creating any
/// file (`StoreBuilder::lookup`: no lock file is made, and a missing data
/// file is `Lookup::NoFile`).
pub fn lookup(
    path: &Path,
    json_path: &JsonPath,
    args: &GetArgs,
    ui: Ui,
) -> Result<Lookup, CliError> {
    #[cfg(feature = "etcd")]
    args.etcd.refuse_for_files()?;
    read_creating_nothing(path, args.lock_file.as_deref(), args.wait.wait(), ui, |b| {
        b.lookup(json_path)
    })
}

/// `rev` on a local file: the revision, read as [`lookup`] reads, creating
/// no file (a missing data file has the empty document's revision).
pub fn revision(path: &Path, args: &StoreArgs, ui: Ui) -> Result<Revision, CliError> {
    #[cfg(feature = "etcd")]
    args.etcd.refuse_for_files()?;
    read_creating_nothing(path, args.lock_file.as_deref(), args.wait.wait(), ui, |b| {
        b.revision()
    })
}

/// `read` with a store builder for `path` (its lock file `lock`, if given),
/// reporting a lock wait as `-v` asks.
fn read_creating_nothing<T>(
    path: &Path,
    lock: Option<&Path>,
    wait: jlock_core::Wait,
    ui: Ui,
    read: impl FnOnce(&jlock_core::StoreBuilder) -> jlock_core::Result<T>,
) -> Result<T, CliError> {
    let report = WaitReport::new(ui, wait);
    let mut builder = Store::builder(path);
    builder.wait(wait);
    if let Some(lock) = lock {
        builder.lock_path(lock);
    }
    if let Some(hook) = report.hook() {
        builder.on_wait(hook);
    }
    let got = read(&builder)?;
    let lock = lock.map_or_else(|| builder.default_lock_path(), Path::to_path_buf);
    // With no lock file the read took the data file's lock alone: no lock
    // wait of the lock file's to report.
    if lock.exists() {
        report.done(&lock);
    }
    Ok(got)
}

/// `get` on an etcd:// target: its backend, to read the key once.
#[cfg(feature = "etcd")]
pub fn etcd_backend(
    target: &jlock_etcd::Target,
    args: &GetArgs,
) -> Result<jlock_etcd::EtcdDocument, CliError> {
    if args.lock_file.is_some() {
        return Err(CliError::Usage(format!(
            "--lock-file applies to files, not to {target}"
        )));
    }
    let etcd = crate::target::connect(target, &args.etcd.connect_options())?;
    Ok(jlock_etcd::EtcdDocument::new(etcd))
}

/// A document in a local JSON file.
struct FileDocument {
    store: Store,
    report: WaitReport,
}

impl FileDocument {
    fn open(
        path: &Path,
        args: &StoreArgs,
        ui: Ui,
        wait: jlock_core::Wait,
    ) -> Result<FileDocument, CliError> {
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
        if let Some(rev) = &args.if_rev {
            builder.expect_revision(rev.clone());
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

impl Document<CliError> for FileDocument {
    fn get(&self, path: &JsonPath) -> Result<Option<(Value, Spellings)>, CliError> {
        self.op(|s| Document::<CliError>::get(s, path))
    }

    fn set(&self, path: &JsonPath, value: Value, spellings: &Spellings) -> Result<(), CliError> {
        self.op(|s| Document::<CliError>::set(s, path, value, spellings))
    }

    fn delete(&self, path: &JsonPath) -> Result<bool, CliError> {
        self.op(|s| Document::<CliError>::delete(s, path))
    }

    fn incr(&self, path: &JsonPath, by: Number) -> Result<Number, CliError> {
        self.op(|s| Document::<CliError>::incr(s, path, by))
    }

    fn update(
        &self,
        edit: &mut dyn FnMut(&mut Value) -> Result<Spellings, CliError>,
    ) -> Result<(), CliError> {
        self.op(|s| Document::<CliError>::update(s, edit))
    }

    fn revision(&self) -> Result<Revision, CliError> {
        self.op(Document::<CliError>::revision)
    }

    fn changes(&self) -> Result<Box<dyn jlock_core::Changes<CliError>>, CliError> {
        Document::<CliError>::changes(&self.store)
    }
}
