//! The data file as the lock holder sees it: reading the current document
//! (recovering from a journal writer killed mid-update) and writing a new
//! one with the store's [`Writer`].
//!
//! All of this runs under the sidecar lock — shared for a read, exclusive for
//! an update — and under a lock of the same mode on the data file itself (see
//! [`Disk::open_locked`]), so one `Disk` never races another process's.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::durability::Durability;
use crate::error::{Error, IoContext, Operation, Result};
use crate::file_info::FileInfo;
use crate::journal::{read_full_at, Journal, State};
use crate::lock::{lock_file, LockMode, Wait};
use crate::replace::{replace, Creation};
use crate::{names, shared_dir};

/// How a new document reaches the data file: the store's durability mode,
/// as the one value the disk layer acts on.
#[derive(Debug)]
enum Writer {
    /// A temporary file renamed over the data file ([`Durability::Rename`],
    /// or with `fsync` [`Durability::Fsync`]).
    Replace {
        fsync: bool,
        /// What files this process creates look like, learned once.
        creation: Option<Creation>,
    },
    /// The data file changed in place behind the journal
    /// ([`Durability::Journal`]).
    InPlace,
}

impl From<Durability> for Writer {
    fn from(d: Durability) -> Writer {
        match d {
            Durability::Rename => Writer::Replace {
                fsync: false,
                creation: None,
            },
            Durability::Fsync => Writer::Replace {
                fsync: true,
                creation: None,
            },
            Durability::Journal => Writer::InPlace,
        }
    }
}

/// The open data file and its metadata.
type OpenData = (File, FileInfo);

/// The document as read under the lock.
pub(crate) struct Snapshot {
    /// The current document's bytes (empty if the file is missing).
    pub bytes: Vec<u8>,
    /// The data file this update created (empty) to have a file to lock,
    /// removed again unless the update is written. Before `data`: fields
    /// drop in order, and it must go while the lock is still held.
    created: Option<Created>,
    /// The open data file, locked, and its metadata, if it exists.
    data: Option<(File, FileInfo)>,
    /// Under a shared lock: the data file holds a write its writer was
    /// killed in the middle of, and `bytes` is that write completed.
    torn: bool,
}

impl Snapshot {
    /// Whether the data file exists (a missing one reads as empty bytes).
    pub(crate) fn exists(&self) -> bool {
        self.data.is_some()
    }
}

/// One store's view of its data file and journal.
#[derive(Debug)]
pub(crate) struct Disk {
    target: PathBuf,
    dir: PathBuf,
    journal_path: PathBuf,
    writer: Writer,
    journal: Option<Journal>,
    /// In journal mode, the data file kept open (and unlocked) from one
    /// update to the next, with its device and inode: reused while the path
    /// still names that file (one `stat` instead of `open`, `fstat` and
    /// `close`).
    kept: Option<(File, u64, u64)>,
    /// How long to wait for the data file's own lock, from `started`.
    wait: Wait,
    /// When the current operation began to wait for its locks.
    started: Instant,
}

impl Disk {
    /// `target` is the data file (symlinks resolved); `dir` its directory, absolute.
    pub fn new(target: PathBuf, dir: PathBuf, durability: Durability, wait: Wait) -> Disk {
        Disk {
            journal_path: names::journal_of(&target),
            target,
            dir,
            writer: Writer::from(durability),
            journal: None,
            kept: None,
            wait,
            started: Instant::now(),
        }
    }

    /// The operation about to start began waiting for its locks now: the
    /// data file's lock waits within what is left of the store's wait.
    pub fn begin(&mut self) {
        self.started = Instant::now();
    }

    /// Reads the current document. A journal record that a killed writer
    /// left is dealt with here, the one place that does: under the exclusive
    /// lock (`exclusive`) a torn write is completed in the data file and the
    /// record dropped; under a shared lock the completed document is
    /// returned without writing.
    pub fn load(&mut self, exclusive: bool) -> Result<Snapshot> {
        let writable = exclusive && matches!(self.writer, Writer::InPlace);
        let (data, created) = self.open_locked(exclusive, writable)?;
        if let (true, Writer::Replace { .. }, Some((_, meta))) = (exclusive, &self.writer, &data) {
            self.check_replaceable(meta)?;
        }
        let mut bytes = match &data {
            Some((file, meta)) => read_whole(file, meta.len).at(Operation::Read, &self.target)?,
            None => Vec::new(),
        };
        if self.journal.is_none() {
            let owner = shared_dir::expected_owner(data.as_ref().map(|(_, m)| m));
            self.journal = Journal::open(&self.journal_path, owner)?;
        }
        let mut torn = false;
        let record = match &mut self.journal {
            Some(journal) => journal.record()?,
            None => None,
        };
        if let (Some(record), Some(journal)) = (record, &self.journal) {
            match &data {
                Some((file, meta)) if record.belongs_to(meta) => {
                    if !exclusive {
                        torn = record.classify(&bytes) == State::Torn;
                        if torn {
                            bytes = record.repaired(&bytes);
                        }
                    } else if writable {
                        bytes = journal.recover(&record, file, &self.target, bytes)?;
                    } else {
                        // Outside journal mode the file was opened to read only.
                        let Some((file, _)) = self.open_data(true, false)? else {
                            let gone = io::Error::from(io::ErrorKind::NotFound);
                            return Err(Error::io(Operation::Write, &self.target, gone));
                        };
                        bytes = journal.recover(&record, &file, &self.target, bytes)?;
                    }
                }
                // A record of another file (or of none): stale, never replayed.
                _ if exclusive => journal.invalidate()?,
                _ => {}
            }
        }
        Ok(Snapshot {
            bytes,
            created,
            data,
            torn,
        })
    }

    /// Whether a journal record awaits replay: the data file holds a write
    /// its writer was killed in the middle of.
    pub fn replay_pending(&mut self) -> Result<bool> {
        Ok(self.load(false)?.torn)
    }

    /// The data file, open (read-write if `write`) and locked — shared, or
    /// exclusive if `exclusive` — and checked, once locked, to be the file
    /// the path names, with the path's metadata then; `None` if it is
    /// missing and `exclusive` is false. An exclusive caller finding no file
    /// creates an empty one to lock (and says so: the [`Created`] removes it
    /// again if nothing is written).
    ///
    /// Why the data file is locked too, beside the sidecar lock file: the
    /// sidecar is a name, and a name can be deleted or replaced while it is
    /// held (`rm *.lock`, a tmp cleaner), after which a newcomer locks a new
    /// file and excludes nobody. The data file's inode is what the update
    /// changes; in the rename mode every write gives the path a new one, and
    /// a process that was waiting on the old one sees that the path names
    /// another file, and locks that instead. See docs/design.md, "A lock
    /// file deleted while held".
    fn open_locked(
        &mut self,
        exclusive: bool,
        write: bool,
    ) -> Result<(Option<OpenData>, Option<Created>)> {
        let mode = if exclusive {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        loop {
            let kept = self.kept.take().filter(|_| write);
            let (file, id, created) = match kept {
                Some((file, dev, ino)) => (file, (dev, ino), None),
                None => match self.open_data(write, false)? {
                    Some((file, m)) => (file, (m.dev, m.ino), None),
                    None if exclusive => match self.create_data(write)? {
                        Some((file, m)) => {
                            let created = Created {
                                path: self.target.clone(),
                                id: (m.dev, m.ino),
                            };
                            (file, (m.dev, m.ino), Some(created))
                        }
                        // Made by another process meanwhile: open that.
                        None => continue,
                    },
                    None => return Ok((None, None)),
                },
            };
            lock_file(&file, mode, self.wait, self.started, &self.target)?;
            match FileInfo::of_path(&self.target) {
                Ok(m) if m.is_file() && (m.dev, m.ino) == id => {
                    return Ok((Some((file, m)), created))
                }
                // Replaced or deleted while we waited for it: try again.
                Ok(m) if m.is_file() => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Ok(_) => return Err(not_a_regular_file(&self.target)),
                Err(e) => return Err(Error::io(Operation::Stat, &self.target, e)),
            }
        }
    }

    /// Refuses, before any work, an update in the rename mode of a data file
    /// (`meta`) this user could not write in place: the kernel's own check
    /// for a write (`faccessat` with the effective ids, so ACLs and a
    /// read-only mount count), and in a sticky directory (like /tmp) the
    /// rule that only the file's owner (or the directory's) may replace it.
    fn check_replaceable(&self, meta: &FileInfo) -> Result<()> {
        use rustix::fs::{accessat, Access, AtFlags, CWD};
        let euid = shared_dir::euid();
        if meta.uid == euid && meta.mode & 0o200 != 0 {
            // Our own file, with our write bit: the kernel would say yes (a
            // read-only mount aside, where creating the temporary file fails
            // first). The common case costs no system call.
            return Ok(());
        }
        match accessat(CWD, &self.target, Access::WRITE_OK, AtFlags::EACCESS) {
            Ok(()) => {}
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => {
                return Err(self.not_writable(MAY_NOT_WRITE))
            }
            // EROFS and the like: the write itself will say so, before
            // anything is changed (the temporary file cannot be created).
            Err(_) => {}
        }
        if meta.uid != euid && euid != 0 {
            let dir = FileInfo::of_path_followed(&self.dir).at(Operation::Stat, &self.dir)?;
            if dir.mode & 0o1000 != 0 && dir.uid != euid {
                return Err(self.not_writable(
                    "the file belongs to another user in a sticky directory, where only its \
                     owner (or root) may replace it",
                ));
            }
        }
        Ok(())
    }

    /// [`Error::NotWritable`] for the data file, saying why.
    fn not_writable(&self, reason: &str) -> Error {
        Error::NotWritable {
            path: self.target.clone(),
            reason: reason.into(),
        }
    }

    /// Creates the missing data file, empty, read-write if `write`; `None`
    /// if another process created it first.
    fn create_data(&self, write: bool) -> Result<Option<(File, FileInfo)>> {
        let created = OpenOptions::new()
            .read(true)
            .write(write)
            .mode(0o666)
            // O_CREAT as a custom flag: OpenOptions insists on write access
            // for it, which open(2) does not.
            .custom_flags(
                libc::O_CREAT
                    | libc::O_EXCL
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_CLOEXEC,
            )
            .open(&self.target);
        let file = match created {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(Error::io(Operation::Write, &self.target, e)),
        };
        let meta = FileInfo::of_file(&file).at(Operation::Stat, &self.target)?;
        Ok(Some((file, meta)))
    }

    /// Opens the data file — read-write if `write`, created if `create` —
    /// or `None` if it is missing. Anything but a regular file is refused at
    /// once: a FIFO would block a read forever, a device read without end.
    fn open_data(&self, write: bool, create: bool) -> Result<Option<(File, FileInfo)>> {
        let opened = OpenOptions::new()
            .read(true)
            .write(write)
            .create(create)
            .truncate(false)
            .mode(0o666)
            // Symlinks were resolved when the store was opened; one here
            // now was planted since, and is not followed. O_NONBLOCK: opening
            // a FIFO must not wait for a writer.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&self.target);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) if write && e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(self.not_writable(MAY_NOT_WRITE))
            }
            Err(e) => return Err(Error::io(Operation::Read, &self.target, e)),
        };
        let meta = FileInfo::of_file(&file).at(Operation::Stat, &self.target)?;
        if !meta.is_file() {
            return Err(not_a_regular_file(&self.target));
        }
        Ok(Some((file, meta)))
    }

    /// Makes `new` the document, replacing `old` (as [`Disk::load`] read it).
    pub fn store(&mut self, new: &[u8], old: Snapshot) -> Result<()> {
        self.store_until(new, old, None)
    }

    /// [`Disk::store`]; in journal mode, stopped as by `SIGKILL` after
    /// `stop` bytes of the changed region reached the data file, if set.
    pub fn store_until(
        &mut self,
        new: &[u8],
        mut old: Snapshot,
        stop: Option<usize>,
    ) -> Result<()> {
        let Some(created) = old.created.take() else {
            return self.write(new, old, stop);
        };
        // A second descriptor of the locked file keeps the lock until the
        // created file is dealt with, however `write` ends.
        let hold = old.data.as_ref().map(|(f, _)| f.try_clone());
        let stored = self.write(new, old, stop);
        if stored.is_ok() {
            // Written: the file stays (or, renamed over, is gone already).
            created.keep();
        } else {
            drop(created);
        }
        drop(hold);
        stored
    }

    /// [`Disk::store_until`] without the care for a file created to lock.
    fn write(&mut self, new: &[u8], old: Snapshot, stop: Option<usize>) -> Result<()> {
        match &mut self.writer {
            Writer::Replace { fsync, creation } => replace(
                &self.target,
                &self.dir,
                new,
                old.data.as_ref().map(|(_, m)| m),
                *fsync,
                creation,
            ),
            Writer::InPlace => {
                let (file, meta) = match old.data {
                    Some(d) => d,
                    None => self.open_data(true, true)?.ok_or_else(|| {
                        Error::io(
                            Operation::Write,
                            &self.target,
                            io::ErrorKind::NotFound.into(),
                        )
                    })?,
                };
                if meta.nlink > 1 {
                    // Written in place, every name would change, and a lock
                    // beside each name would not exclude the others.
                    let why = io::Error::other(format!(
                        "has {} hard links; the journal mode writes in place and needs one name \
                         per data file (the rename mode gives this name a file of its own)",
                        meta.nlink
                    ));
                    return Err(Error::io(Operation::Write, &self.target, why));
                }
                let created = self.journal.is_none();
                if created {
                    self.journal = Some(Journal::create(&self.journal_path, &meta)?);
                }
                let written = match &mut self.journal {
                    Some(j) => j.write_until(&file, &meta, &self.target, &old.bytes, new, stop),
                    None => Ok(()),
                };
                match &written {
                    Ok(()) => {
                        // Kept for the next update, unlocked: a lock left on
                        // it would shut every other process out.
                        let _ = fs4::FileExt::unlock(&file);
                        self.kept = Some((file, meta.dev, meta.ino));
                    }
                    // A journal made for a write that failed is not left behind.
                    Err(_) if created => {
                        self.journal = None;
                        let _ = std::fs::remove_file(&self.journal_path);
                    }
                    Err(_) => {}
                }
                written
            }
        }
    }
}

/// Why an edit of a file this user may not write is refused.
const MAY_NOT_WRITE: &str = "this user may not write the file, so may not edit it \
     (an edit needs write permission on the data file itself)";

/// A data file an update created, empty, only to have a file to lock:
/// removed when dropped (unless [`Created::keep`]), if the path still names
/// it — an update that writes nothing leaves no file where there was none.
struct Created {
    path: PathBuf,
    id: (u64, u64),
}

impl Created {
    /// The update was written: the file is the document now.
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        // Still under the data file's lock (see `Snapshot::created`), so no
        // cooperating writer has replaced the file meanwhile.
        if FileInfo::of_path(&self.path).is_ok_and(|m| (m.dev, m.ino) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The error for a data path that names something other than a regular
/// file: a FIFO would block a read forever, a device read without end.
pub(crate) fn not_a_regular_file(path: &Path) -> Error {
    let what = io::Error::other("not a regular file; a data file must be one");
    Error::io(Operation::Read, path, what)
}

/// Reads a whole file of `size` bytes (from `stat`) with `pread`: one call.
/// Under the lock no cooperating writer changes the file meanwhile, so the
/// size is trusted; a file found shorter is read as far as it goes.
fn read_whole(file: &File, size: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
    let len = read_full_at(file, &mut bytes, 0)?;
    bytes.truncate(len);
    Ok(bytes)
}
