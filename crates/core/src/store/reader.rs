//! A read that creates no file: [`StoreBuilder::lookup`] and
//! [`StoreBuilder::revision`], for readers (`jlock get`, `jlock rev`) that must not leave a lock file behind for a data file that does not
//! exist, and that must still read a data file whose directory they may not
//! write. See docs/design.md, "A reader creates nothing".

use std::path::Path;

use serde_json::Value;

use jlock_json::{JsonPath, Spellings};

use super::{value_at, StoreBuilder};
use crate::disk::{Disk, Snapshot};
use crate::error::Result;
use crate::lock::LockMode;
use crate::names;
use crate::revision::Revision;
use crate::shared_dir::resolve_links;

/// What [`StoreBuilder::lookup`] found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The data file does not exist (nothing was created).
    NoFile,
    /// The data file exists; the value at the path (`null` included), with
    /// the spellings of its numbers, or `None` if there is none.
    Found(Option<(Value, Spellings)>),
}

impl StoreBuilder {
    /// Reads the value at `path` without creating any file.
    ///
    /// If the lock file exists, this is [`Store::get_spelled`](super::Store::get_spelled)
    /// under its shared lock. If it does not, none is created: the value is
    /// read under a shared lock on the data file alone — the lock every
    /// writer of every durability mode also takes, exclusively, for as long
    /// as it writes, so no writer of this library writes while it reads (a
    /// journal record a killed writer left is applied to what is returned,
    /// never to the file). A writer that locks only the lock file (`flock(1)`
    /// on `FILE.lock`) creates it first: if the lock file exists once the
    /// data has been read, the read is done again under it.
    ///
    /// A missing data file is [`Lookup::NoFile`], and leaves no file behind.
    pub fn lookup(&self, path: &JsonPath) -> Result<Lookup> {
        self.read_creating_nothing(|snap, file| found(snap, path, file))
    }

    /// The document's [`Revision`], read as [`lookup`](Self::lookup) reads,
    /// creating no file: a missing data file has the empty document's
    /// revision, as [`Store::revision`](super::Store::revision) says.
    pub fn revision(&self) -> Result<Revision> {
        self.read_creating_nothing(|snap, _| Ok(Revision::of(&snap.bytes)))
    }

    /// `read` of what the data file holds, under the lock
    /// [`lookup`](Self::lookup) explains, creating no file.
    fn read_creating_nothing<T>(&self, read: impl Fn(&Snapshot, &Path) -> Result<T>) -> Result<T> {
        let target = resolve_links(&self.data_path)?;
        let lock_path = match &self.lock_path {
            Some(p) => p.clone(),
            None => names::lock_of(&target),
        };
        if std::fs::metadata(&lock_path).is_err() {
            // Reading under the data file's own lock, as a store's reads do
            // under the lock file's (Store::locked, then Disk::load).
            let dir = match target.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            if let Ok(info) = crate::file_info::FileInfo::of_path(&target) {
                if !info.is_file() {
                    return Err(crate::disk::not_a_regular_file(&target));
                }
            }
            let mut disk = Disk::new(target.clone(), dir, self.durability, self.wait);
            disk.begin();
            let snap = disk.load(false)?;
            drop(disk);
            if std::fs::metadata(&lock_path).is_err() {
                return read(&snap, &target);
            }
        }
        let store = self.open()?;
        store.locked(LockMode::Shared, |disk| {
            let snap = disk.load(false)?;
            read(&snap, store.target())
        })
    }
}

/// The value at `path` in what `snap` read (as `Store::get_spelled` finds it).
fn found(snap: &Snapshot, path: &JsonPath, file: &Path) -> Result<Lookup> {
    if !snap.exists() {
        return Ok(Lookup::NoFile);
    }
    Ok(Lookup::Found(value_at(&snap.bytes, path, file, true)?))
}
