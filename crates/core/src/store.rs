//! The JSON store: one data file whose every read-modify-write runs under the
//! exclusive lock of a sidecar lock file and replaces the file atomically.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Number, Value};

use crate::disk::{Disk, Snapshot};
use crate::durability::Durability;
use crate::error::{Error, Result};
use crate::journal::HEADER_LEN;
use crate::json_path::JsonPath;
use crate::lock::{LockFile, LockMode, Wait};
use crate::replace::resolve_links;

/// Builds a [`Store`] with options other than the defaults.
///
/// ```
/// use std::time::Duration;
/// use jlock_core::{Durability, Store, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::builder(dir.path().join("state.json"))
///     .lock_path(dir.path().join("state.lock"))
///     .durability(Durability::Fsync)
///     .pretty(false)
///     .wait(Wait::Timeout(Duration::from_secs(5)))
///     .open()?;
/// store.set(&".deploys".parse()?, 1.into())?;
/// assert_eq!(std::fs::read_to_string(store.path())?, "{\"deploys\":1}\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct StoreBuilder {
    data_path: PathBuf,
    lock_path: Option<PathBuf>,
    durability: Durability,
    pretty: bool,
    wait: Wait,
}

impl StoreBuilder {
    /// Options for the data file at `path`, all at their defaults.
    pub fn new<P: Into<PathBuf>>(path: P) -> StoreBuilder {
        StoreBuilder {
            data_path: path.into(),
            lock_path: None,
            durability: Durability::default(),
            pretty: true,
            wait: Wait::Block,
        }
    }

    /// Lock this file instead of the default sidecar `<data file>.lock`.
    pub fn lock_path<P: Into<PathBuf>>(&mut self, path: P) -> &mut StoreBuilder {
        self.lock_path = Some(path.into());
        self
    }

    /// How far each update is made to survive; [`Durability::Rename`] by default.
    pub fn durability(&mut self, durability: Durability) -> &mut StoreBuilder {
        self.durability = durability;
        self
    }

    /// Write the document indented, two spaces a level (the default), or on
    /// one line. Either way the file ends in a newline.
    pub fn pretty(&mut self, yes: bool) -> &mut StoreBuilder {
        self.pretty = yes;
        self
    }

    /// How long each operation waits for the lock; [`Wait::Block`] by default.
    pub fn wait(&mut self, wait: Wait) -> &mut StoreBuilder {
        self.wait = wait;
        self
    }

    /// Opens the store: resolves symlinks on the data path and opens (creating
    /// if needed) the lock file. The data file itself is not touched.
    pub fn open(&self) -> Result<Store> {
        let target = resolve_links(&self.data_path)?;
        // The temporary file's directory, made absolute once here: tempfile
        // would otherwise call getcwd(2) in every update.
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let lock_path = match &self.lock_path {
            Some(p) => p.clone(),
            None => sidecar_of(&target),
        };
        let lock = LockFile::open(&lock_path)?;
        let disk = Disk::new(target.clone(), dir, self.durability);
        Ok(Store {
            path: self.data_path.clone(),
            target,
            inner: Mutex::new(Inner { lock, disk }),
            durability: self.durability,
            pretty: self.pretty,
            wait: self.wait,
        })
    }
}

/// The default lock file of a data file: `<data file>.lock` beside it.
pub fn sidecar_of(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// A JSON data file shared between processes.
///
/// Reads take a shared lock, updates the exclusive lock, both on a sidecar
/// lock file (`<data file>.lock` unless [`StoreBuilder::lock_path`] says
/// otherwise). An update reads the document, lets a closure change it, and
/// replaces the file atomically with the result — or, if the closure fails,
/// leaves the file exactly as it was.
///
/// A missing or empty data file reads as `null`; the first update creates it.
/// If the data path is a symlink, the file it points to is updated, the link
/// stays a link, and the default sidecar lock sits beside the target, so every
/// name of one file shares one lock.
///
/// A `Store` may be shared between threads: operations from threads of one
/// process are serialized by a mutex, those of different processes by the lock.
///
/// ```
/// use jlock_core::Store;
/// use serde_json::json;
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("counter.json"))?;
/// assert_eq!(store.read()?, json!(null));
/// assert_eq!(store.incr(&".hits".parse()?, 1)?, 1.into());
/// let total = store.update(|doc| {
///     doc["hits"] = json!(doc["hits"].as_i64().unwrap_or(0) + 41);
///     Ok::<_, jlock_core::Error>(doc["hits"].clone())
/// })?;
/// assert_eq!(total, json!(42));
/// assert_eq!(std::fs::read_to_string(store.path())?, "{\n  \"hits\": 42\n}\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    target: PathBuf,
    inner: Mutex<Inner>,
    durability: Durability,
    pretty: bool,
    wait: Wait,
}

/// What one operation at a time may use: the lock and the files under it.
#[derive(Debug)]
struct Inner {
    lock: LockFile,
    disk: Disk,
}

impl Store {
    /// Opens the store for the data file at `path` with default options.
    pub fn open<P: Into<PathBuf>>(path: P) -> Result<Store> {
        StoreBuilder::new(path).open()
    }

    /// Options for a store of the data file at `path`.
    pub fn builder<P: Into<PathBuf>>(path: P) -> StoreBuilder {
        StoreBuilder::new(path)
    }

    /// The data path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file actually read and replaced: the data path with symlinks resolved.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.inner().lock.path().to_path_buf()
    }

    /// The durability of this store's updates.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Changes how long later operations wait for the lock.
    pub fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    /// Whether a [`Durability::Journal`] writer was killed leaving a record
    /// that the next writer will replay into the data file (under a shared
    /// lock; readers with the lock already see the record's document).
    pub fn replay_pending(&self) -> Result<bool> {
        let mut inner = self.inner();
        let Inner { lock, disk } = &mut *inner;
        let _guard = lock.lock(LockMode::Shared, self.wait)?;
        Ok(disk.pending_replay()?.unwrap_or(false))
    }

    /// Reads the document under a shared lock.
    pub fn read(&self) -> Result<Value> {
        let mut inner = self.inner();
        let Inner { lock, disk } = &mut *inner;
        let _guard = lock.lock(LockMode::Shared, self.wait)?;
        let snap = disk.load(false)?;
        self.parse(&snap.bytes)
    }

    /// Reads the document under a shared lock into a Rust type.
    pub fn read_as<T: DeserializeOwned>(&self) -> Result<T> {
        let doc = self.read()?;
        serde_json::from_value(doc).map_err(|source| self.convert_error(source))
    }

    /// Reads, changes and writes back the document under the exclusive lock.
    ///
    /// `f` gets the current document (`null` if the file is missing or
    /// empty). If it returns `Ok`, the changed document replaces the file
    /// atomically — unless it serializes to exactly the bytes already there,
    /// in which case nothing is written. If it returns `Err`, nothing is
    /// written and the error is returned. The closure's error type only has
    /// to accept jlock's own [`Error`] through `From`.
    pub fn update<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Value) -> std::result::Result<T, E>,
        E: From<Error>,
    {
        self.transact(|doc| f(doc).map(|out| (out, true)))
    }

    /// The update protocol. `f` returns its result and whether it changed
    /// the document; an unchanged document is not written.
    fn transact<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Value) -> std::result::Result<(T, bool), E>,
        E: From<Error>,
    {
        let mut inner = self.inner();
        let Inner { lock, disk } = &mut *inner;
        let _guard = lock.lock(LockMode::Exclusive, self.wait)?;
        let snap = disk.load(true)?;
        let mut doc = self.parse(&snap.bytes)?;
        let (out, changed) = f(&mut doc)?;
        if changed {
            self.store(disk, &doc, &snap)?;
        }
        Ok(out)
    }

    /// [`Store::update`] through a Rust type: the document is converted to `S`
    /// (`S::default()` if the file is missing or empty), changed by `f`, and
    /// converted back.
    ///
    /// ```
    /// use jlock_core::Store;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Tickets { count: u32 }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("tickets.json"))?;
    /// store.update_as(|t: &mut Tickets| { t.count = 1; Ok::<_, jlock_core::Error>(()) })?;
    /// let bought = store.update_as(|t: &mut Tickets| {
    ///     let ok = t.count > 0;
    ///     if ok { t.count -= 1 }
    ///     Ok::<_, jlock_core::Error>(ok)
    /// })?;
    /// assert!(bought);
    /// assert_eq!(store.read_as::<Tickets>()?.count, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_as<S, T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        S: Serialize + DeserializeOwned + Default,
        F: FnOnce(&mut S) -> std::result::Result<T, E>,
        E: From<Error>,
    {
        self.update(|doc| {
            let mut state: S = if doc.is_null() {
                S::default()
            } else {
                serde_json::from_value(doc.take()).map_err(|e| self.convert_error(e))?
            };
            let out = f(&mut state)?;
            *doc = serde_json::to_value(&state).map_err(|e| self.convert_error(e))?;
            Ok(out)
        })
    }

    /// The value at `path`, or `None` if it is missing or `null`.
    pub fn get(&self, path: &JsonPath) -> Result<Option<Value>> {
        let doc = self.read()?;
        Ok(path.get_in(&doc, &self.target)?.cloned())
    }

    /// Sets the value at `path`, creating missing objects (for keys) and
    /// arrays (for indexes) on the way.
    pub fn set(&self, path: &JsonPath, value: Value) -> Result<()> {
        self.update(|doc| {
            *path.slot_mut(doc, &self.target)? = value;
            Ok(())
        })
    }

    /// Removes the value at `path`; `Ok(false)` (and no write) if there was none.
    pub fn delete(&self, path: &JsonPath) -> Result<bool> {
        self.transact(|doc| path.remove_in(doc, &self.target).map(|gone| (gone, gone)))
    }

    /// Adds `by` to the number at `path` and returns the new value. A missing
    /// or `null` value counts as 0. Integers stay integers and fail with
    /// [`Error::Overflow`] rather than wrap past the `i64` range; if either
    /// side is a float, the sum is a float.
    pub fn incr<N: Into<Number>>(&self, path: &JsonPath, by: N) -> Result<Number> {
        let by = by.into();
        self.update(|doc| {
            let slot = path.slot_mut(doc, &self.target)?;
            let sum = add(slot, &by).map_err(|why| match why {
                AddError::NotANumber => path.wrong_type(&self.target, "a number", slot),
                AddError::Overflow(message) => Error::Overflow {
                    path: self.target.clone(),
                    at: path.to_string(),
                    message,
                },
            })?;
            *slot = Value::Number(sum.clone());
            Ok(sum)
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic in another thread's closure poisons the mutex, but its
        // LockGuard was dropped while unwinding; the files are as they were.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn parse(&self, bytes: &[u8]) -> Result<Value> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(bytes).map_err(|e| Error::invalid_json(&self.target, &e))
    }

    fn store(&self, disk: &mut Disk, doc: &Value, old: &Snapshot) -> Result<()> {
        // Room for the journal header first, then the document: journal
        // mode writes both with one pwrite, the others use the document.
        let mut record = Vec::with_capacity(HEADER_LEN + old.bytes.len() + 16);
        record.resize(HEADER_LEN, 0);
        let written = if self.pretty {
            serde_json::to_writer_pretty(&mut record, doc)
        } else {
            serde_json::to_writer(&mut record, doc)
        };
        written.map_err(|e| self.convert_error(e))?;
        record.push(b'\n');
        if record[HEADER_LEN..] == old.bytes[..] {
            return Ok(());
        }
        disk.store(&mut record, old)
    }

    fn convert_error(&self, source: serde_json::Error) -> Error {
        Error::Convert {
            path: self.target.clone(),
            source,
        }
    }
}

enum AddError {
    NotANumber,
    Overflow(String),
}

/// `slot + by`, where a `null` slot is 0.
fn add(slot: &Value, by: &Number) -> std::result::Result<Number, AddError> {
    let cur = match slot {
        Value::Null => Number::from(0),
        Value::Number(n) => n.clone(),
        _ => return Err(AddError::NotANumber),
    };
    if cur.is_f64() || by.is_f64() {
        let (a, b) = (
            cur.as_f64().unwrap_or(f64::NAN),
            by.as_f64().unwrap_or(f64::NAN),
        );
        return Number::from_f64(a + b)
            .ok_or_else(|| AddError::Overflow(format!("{a} + {b} is not a finite number")));
    }
    // Both are integers; serde_json holds them as i64 or as u64 above i64::MAX.
    let wide = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (wide(&cur), wide(by)) {
        (Some(a), Some(b)) => i64::try_from(a + b)
            .map(Number::from)
            .map_err(|_| AddError::Overflow(format!("{a} + {b} overflows a 64-bit integer"))),
        _ => Err(AddError::NotANumber),
    }
}
