//! The JSON store: one data file whose every read-modify-write runs under the
//! exclusive lock of a sidecar lock file and replaces the file atomically.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Number, Value};

use crate::disk::{Disk, Snapshot};
use crate::durability::Durability;
use crate::error::{Error, JsonContext, Result};
use crate::lock::{LockFile, LockMode, Wait};
use crate::names;
use crate::revision::Revision;
use crate::shared_dir::resolve_links;
use jlock_json::{JsonPath, Spellings, Style, SyntaxTree};

mod reader;
pub use reader::Lookup;

/// A hook called when an operation finds the lock held and is about to
/// wait for it (see [`StoreBuilder::on_wait`]).
type WaitHook = Arc<dyn Fn(&Path) + Send + Sync>;

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
#[derive(Clone)]
pub struct StoreBuilder {
    data_path: PathBuf,
    lock_path: Option<PathBuf>,
    durability: Durability,
    style: Style,
    wait: Wait,
    on_wait: Option<WaitHook>,
    expect: Option<Revision>,
    interrupt: Option<crate::Interrupt>,
}

impl std::fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("data_path", &self.data_path)
            .field("lock_path", &self.lock_path)
            .field("durability", &self.durability)
            .field("style", &self.style)
            .field("wait", &self.wait)
            .field("on_wait", &self.on_wait.is_some())
            .field("expect", &self.expect)
            .field("interrupt", &self.interrupt)
            .finish()
    }
}

impl StoreBuilder {
    /// Options for the data file at `path`, all at their defaults.
    pub fn new<P: Into<PathBuf>>(path: P) -> StoreBuilder {
        StoreBuilder {
            data_path: path.into(),
            lock_path: None,
            durability: Durability::default(),
            style: Style::Preserve,
            wait: Wait::Block,
            on_wait: None,
            expect: None,
            interrupt: None,
        }
    }

    /// The lock file used unless [`StoreBuilder::lock_path`] names another:
    /// `<data file>.lock` beside the data path as given. (Once opened, a
    /// store whose data path is a symlink locks `<target>.lock` beside the
    /// file the link names, so every name of one file shares one lock:
    /// [`Store::lock_path`] tells which.)
    pub fn default_lock_path(&self) -> PathBuf {
        names::lock_of(&self.data_path)
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

    /// How an update writes the document: [`Style::Preserve`] (the default)
    /// rewrites only the bytes of the values that changed and keeps every
    /// other byte — layout, number spellings, escapes, key order — as it
    /// was; [`Style::Pretty`] and [`Style::Compact`] restyle the whole
    /// document (two-space indentation, or one line). A new or empty file
    /// is written pretty-printed; every style ends a document it writes
    /// whole in a newline.
    pub fn style(&mut self, style: Style) -> &mut StoreBuilder {
        self.style = style;
        self
    }

    /// Makes every update of the store conditional: it is made only if the
    /// document is still at revision `rev` ([`Store::revision`]) when the
    /// update takes the lock; otherwise nothing is written and the update
    /// fails with [`Error::RevisionChanged`] — a compare-and-set for a
    /// caller that read, thought, and now writes back. (After one update
    /// the document is at a new revision: a store opened with this is for
    /// one conditional update.)
    pub fn expect_revision(&mut self, rev: Revision) -> &mut StoreBuilder {
        self.expect = Some(rev);
        self
    }

    /// Shorthand for [`StoreBuilder::style`]: `true` restyles every update
    /// two-space indented ([`Style::Pretty`]), `false` on one line
    /// ([`Style::Compact`]).
    pub fn pretty(&mut self, yes: bool) -> &mut StoreBuilder {
        self.style = if yes { Style::Pretty } else { Style::Compact };
        self
    }

    /// Lets `token` end the store's waits for its lock from another thread:
    /// an operation waiting then fails with [`Error::Interrupted`], having
    /// read and written nothing (see [`crate::Interrupt`]).
    pub fn interrupt(&mut self, token: &crate::Interrupt) -> &mut StoreBuilder {
        self.interrupt = Some(token.clone());
        self
    }

    /// How long each operation waits for the lock; [`Wait::Block`] by default.
    pub fn wait(&mut self, wait: Wait) -> &mut StoreBuilder {
        self.wait = wait;
        self
    }

    /// Calls `hook` with the lock file's path when an operation finds the
    /// lock held by another process and is about to wait for it (never for
    /// [`Wait::NoWait`]) — to tell a user whom they are waiting for, say.
    pub fn on_wait<F>(&mut self, hook: F) -> &mut StoreBuilder
    where
        F: Fn(&Path) + Send + Sync + 'static,
    {
        self.on_wait = Some(Arc::new(hook));
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
        // Refuse what cannot be a data file before creating its lock file
        // beside it (`/dev/null.lock` for a link to /dev/null, say).
        if let Ok(info) = crate::file_info::FileInfo::of_path(&target) {
            if !info.is_file() {
                return Err(crate::disk::not_a_regular_file(&target));
            }
        }
        let lock_path = match &self.lock_path {
            Some(p) => p.clone(),
            None => names::lock_of(&target),
        };
        if same_file(&lock_path, &target) {
            return Err(Error::LockIsData {
                path: self.data_path.clone(),
            });
        }
        let mut lock = LockFile::open_unguarded(&lock_path)?;
        if let Some(token) = &self.interrupt {
            lock.interrupt(token);
        }
        let disk = Disk::new(target.clone(), dir, self.durability, self.wait);
        Ok(Store {
            path: self.data_path.clone(),
            target,
            lock_path,
            inner: Mutex::new(Inner { lock, disk }),
            durability: self.durability,
            style: self.style,
            wait: self.wait,
            on_wait: self.on_wait.clone(),
            expect: self.expect.clone(),
        })
    }
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
pub struct Store {
    path: PathBuf,
    target: PathBuf,
    lock_path: PathBuf,
    inner: Mutex<Inner>,
    durability: Durability,
    style: Style,
    wait: Wait,
    on_wait: Option<WaitHook>,
    expect: Option<Revision>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("target", &self.target)
            .field("lock_path", &self.lock_path)
            .field("durability", &self.durability)
            .field("style", &self.style)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
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
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// The durability of this store's updates.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether a [`Durability::Journal`] writer was killed leaving a record
    /// that the next writer will replay into the data file (under a shared
    /// lock; readers with the lock already see the record's document).
    pub fn replay_pending(&self) -> Result<bool> {
        self.locked(LockMode::Shared, |disk| disk.replay_pending())
    }

    /// Runs `f` on the files while holding the lock in `mode`, waiting for
    /// it as the builder said (and calling the `on_wait` hook, if a wait
    /// begins).
    fn locked<T, E>(
        &self,
        mode: LockMode,
        f: impl FnOnce(&mut Disk) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let mut inner = self.inner();
        let Inner { lock, disk } = &mut *inner;
        disk.begin();
        let _guard = lock.lock_with(mode, self.wait, || {
            if let Some(hook) = &self.on_wait {
                hook(&self.lock_path)
            }
        })?;
        f(disk)
    }

    /// Reads the document under a shared lock.
    pub fn read(&self) -> Result<Value> {
        self.locked(LockMode::Shared, |disk| {
            let snap = disk.load(false)?;
            self.parse(&snap.bytes)
        })
    }

    /// Reads the document under a shared lock into a Rust type.
    pub fn read_as<T: DeserializeOwned>(&self) -> Result<T> {
        let doc = self.read()?;
        jlock_json::from_value_exact(&doc).map_err(|source| self.convert_error(source))
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
        self.transact(|doc| f(doc).map(|out| (out, true, Spellings::default())))
    }

    /// [`Store::update`] for new values read from JSON text: `f` returns its
    /// result and the [`Spellings`] of that text, so that new numbers are
    /// written as the text wrote them (`1E2` stays `1E2`, which the `Value`
    /// holds as `1e+2`). `jlock update` uses it for its command's output.
    pub fn update_spelled<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Value) -> std::result::Result<(T, Spellings), E>,
        E: From<Error>,
    {
        self.transact(|doc| f(doc).map(|(out, sp)| (out, true, sp)))
    }

    /// The update protocol. `f` returns its result, whether it changed the
    /// document, and how new numbers are spelled; an unchanged document is
    /// not written.
    fn transact<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Value) -> std::result::Result<(T, bool, Spellings), E>,
        E: From<Error>,
    {
        self.locked(LockMode::Exclusive, |disk| {
            let snap = disk.load(true)?;
            self.check_revision(&snap.bytes)?;
            self.edit_whole(disk, snap, f)
        })
    }

    /// Runs `f` on the whole document `snap` read, under the exclusive lock,
    /// and writes back what changed (nothing if it returns unchanged or
    /// `Err`).
    fn edit_whole<T, E, F>(
        &self,
        disk: &mut Disk,
        snap: Snapshot,
        f: F,
    ) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Value) -> std::result::Result<(T, bool, Spellings), E>,
        E: From<Error>,
    {
        let (out, new) = crate::engine::edit_bytes(&snap.bytes, &self.target, self.style, f)?;
        if let Some(bytes) = new {
            disk.store(&bytes, snap)?;
        }
        Ok(out)
    }

    /// The update protocol for an edit of the value at one `path` (to its
    /// parent, with `parent`): `f` gets the value the path reaches as far as
    /// it exists, and the rest of the path. In the default style only that
    /// value is read into memory ([`jlock_json::edit_at`]); else, or if that
    /// path declines, `f` runs on the whole document — with the same result.
    fn transact_at<T>(
        &self,
        path: &JsonPath,
        parent: bool,
        sp: &Spellings,
        f: impl Fn(&mut Value, &JsonPath) -> Result<(T, bool)>,
    ) -> Result<T> {
        self.locked(LockMode::Exclusive, |disk| {
            let snap = disk.load(true)?;
            self.check_revision(&snap.bytes)?;
            if self.style == Style::Preserve {
                if let Some((out, new)) = jlock_json::edit_at(&snap.bytes, path, parent, sp, &f) {
                    if let Some(bytes) = new {
                        disk.store(&bytes, snap)?;
                    }
                    return Ok(out);
                }
            }
            self.edit_whole(disk, snap, |doc| {
                f(doc, path).map(|(out, changed)| (out, changed, sp.clone()))
            })
        })
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
                jlock_json::from_value_exact(doc).map_err(|e| self.convert_error(e))?
            };
            let out = f(&mut state)?;
            *doc = serde_json::to_value(&state).map_err(|e| self.convert_error(e))?;
            Ok(out)
        })
    }

    /// Test support, not a stable API: writes `doc` as a [`Durability::Journal`]
    /// writer killed in the middle of its write would, stopping after `cut`
    /// bytes of the changed region reached the data file (the journal record
    /// already whole). Recovery tests use it to make that state exactly.
    #[doc(hidden)]
    pub fn write_killed_after(&self, doc: &Value, cut: usize) -> Result<()> {
        self.locked(LockMode::Exclusive, |disk| {
            let snap = disk.load(true)?;
            let (tree, _) = SyntaxTree::parse(&snap.bytes).in_document(&self.target)?;
            let bytes = tree
                .render(&snap.bytes, doc, self.style)
                .in_document(&self.target)?;
            disk.store_until(&bytes, snap, Some(cut))
        })
    }

    /// The value at `path`, or `None` if it is missing or `null`.
    pub fn get(&self, path: &JsonPath) -> Result<Option<Value>> {
        self.get_from(path, false)
            .map(|found| found.map(|(v, _)| v))
    }

    /// [`Store::get`], with how the file spelled the value's numbers (for
    /// [`jlock_json::value_text`]; `1E2` is held as `1e+2` in the `Value`).
    pub fn get_spelled(&self, path: &JsonPath) -> Result<Option<(Value, Spellings)>> {
        self.get_from(path, true)
    }

    fn get_from(&self, path: &JsonPath, spelled: bool) -> Result<Option<(Value, Spellings)>> {
        self.locked(LockMode::Shared, |disk| {
            let snap = disk.load(false)?;
            value_at(&snap.bytes, path, &self.target, spelled)
        })
    }

    /// Sets the value at `path`, creating missing objects (for keys) and
    /// arrays (for indexes) on the way.
    pub fn set(&self, path: &JsonPath, value: Value) -> Result<()> {
        self.set_spelled(path, value, &Spellings::default())
    }

    /// [`Store::set`] for a value read from JSON text, whose numbers are
    /// written as `spellings` (those of that text) says.
    ///
    /// ```
    /// use jlock_core::Store;
    /// use jlock_json::Spellings;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("d.json"))?;
    /// let text = b"[1E2, 2.50]";
    /// let value = jlock_json::parse_value(text)?;
    /// store.set_spelled(&".x".parse()?, value, &Spellings::of(text))?;
    /// assert_eq!(std::fs::read_to_string(store.path())?, "{\n  \"x\": [\n    1E2,\n    2.50\n  ]\n}\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_spelled(&self, path: &JsonPath, value: Value, spellings: &Spellings) -> Result<()> {
        self.transact_at(path, false, spellings, |doc, rest| {
            *rest.slot_mut(doc).in_document(&self.target)? = value.clone();
            Ok(((), true))
        })
    }

    /// Removes the value at `path`; `Ok(false)` (and no write) if there was none.
    pub fn delete(&self, path: &JsonPath) -> Result<bool> {
        self.transact_at(path, true, &Spellings::default(), |doc, rest| {
            rest.remove(doc)
                .map(|gone| (gone, gone))
                .in_document(&self.target)
        })
    }

    /// Adds `by` to the number at `path`, exactly, and returns the new
    /// value. A missing or `null` value counts as 0. The sum is computed in
    /// base 10 on the numbers as written: integers of any size stay
    /// integers, decimals add without rounding (ten additions of `0.1` to 0
    /// give `1`), within bounds on digits and exponents past which it fails
    /// with [`jlock_json::Error::Overflow`] instead of doing unbounded work (see
    /// [`jlock_json::number::add_numbers`]).
    pub fn incr<N: Into<Number>>(&self, path: &JsonPath, by: N) -> Result<Number> {
        let by = by.into();
        self.transact_at(path, false, &Spellings::default(), |doc, rest| {
            let slot = rest.slot_mut(doc).in_document(&self.target)?;
            let sum = jlock_json::add_at(slot, path, &by).in_document(&self.target)?;
            Ok((sum, true))
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic in another thread's closure poisons the mutex, but its
        // LockGuard was dropped while unwinding; the files are as they were.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The document's [`Revision`] now, read under a shared lock.
    pub fn revision(&self) -> Result<Revision> {
        self.locked(LockMode::Shared, |disk| {
            Ok(Revision::of(&disk.load(false)?.bytes))
        })
    }

    /// [`StoreBuilder::expect_revision`]'s check, on the bytes an update
    /// read under the exclusive lock.
    fn check_revision(&self, bytes: &[u8]) -> Result<()> {
        crate::revision::check(self.expect.as_ref(), bytes, &self.target)
    }

    fn parse(&self, bytes: &[u8]) -> Result<Value> {
        jlock_json::parse_value(bytes).in_document(&self.target)
    }

    fn convert_error(&self, source: serde_json::Error) -> Error {
        Error::Convert {
            path: self.target.clone(),
            source,
        }
    }
}

/// The value at `path` in the document `bytes` of `file` (with how the
/// file spelled its numbers, if `spelled`): the one read of a path, for
/// [`Store::get`] and [`StoreBuilder::lookup`]. Only the value asked for is
/// read into memory; else (or for an error to report) the whole document.
fn value_at(
    bytes: &[u8],
    path: &JsonPath,
    file: &Path,
    spelled: bool,
) -> Result<Option<(Value, Spellings)>> {
    let spellings = |bytes: &[u8]| match spelled {
        true => Spellings::of(bytes),
        false => Spellings::default(),
    };
    if let Some((found, span)) = jlock_json::get_at(bytes, path) {
        let sp = spellings(bytes.get(span.start..span.end).unwrap_or_default());
        return Ok(found.map(|v| (v, sp)));
    }
    let doc = jlock_json::parse_value(bytes).in_document(file)?;
    let found = path.get(&doc).in_document(file)?.cloned();
    Ok(found.map(|v| (v, spellings(bytes))))
}

/// Whether `a` and `b` name one file: the same inode if both exist, else
/// the same path once symlinks are resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => resolve_links(a)
            .ok()
            .zip(resolve_links(b).ok())
            .is_some_and(|(x, y)| std::path::absolute(x).ok() == std::path::absolute(y).ok()),
    }
}
