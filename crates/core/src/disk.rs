//! The data file as the lock holder sees it: reading the current document
//! (recovering from a journal writer killed mid-update) and writing a new
//! one with the store's [`Writer`].
//!
//! All of this runs under the sidecar lock — shared for a read, exclusive for
//! an update — so one `Disk` never races another process's.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::durability::Durability;
use crate::error::{Error, IoContext, Operation, Result};
use crate::file_info::FileInfo;
use crate::journal::{read_full_at, Journal, State};
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

/// The document as read under the lock.
pub(crate) struct Snapshot {
    /// The current document's bytes (empty if the file is missing).
    pub bytes: Vec<u8>,
    /// The open data file and its metadata, if it exists.
    data: Option<(File, FileInfo)>,
    /// Under a shared lock: the data file holds a write its writer was
    /// killed in the middle of, and `bytes` is that write completed.
    torn: bool,
}

/// One store's view of its data file and journal.
#[derive(Debug)]
pub(crate) struct Disk {
    target: PathBuf,
    dir: PathBuf,
    journal_path: PathBuf,
    writer: Writer,
    journal: Option<Journal>,
    /// In journal mode, the data file kept open from one update to the
    /// next, with its device and inode: reused while the path still names
    /// that file (one `stat` instead of `open`, `fstat` and `close`).
    kept: Option<(File, u64, u64)>,
}

impl Disk {
    /// `target` is the data file (symlinks resolved); `dir` its directory, absolute.
    pub fn new(target: PathBuf, dir: PathBuf, durability: Durability) -> Disk {
        Disk {
            journal_path: names::journal_of(&target),
            target,
            dir,
            writer: Writer::from(durability),
            journal: None,
            kept: None,
        }
    }

    /// Reads the current document. A journal record that a killed writer
    /// left is dealt with here, the one place that does: under the exclusive
    /// lock (`exclusive`) a torn write is completed in the data file and the
    /// record dropped; under a shared lock the completed document is
    /// returned without writing.
    pub fn load(&mut self, exclusive: bool) -> Result<Snapshot> {
        let writable = exclusive && matches!(self.writer, Writer::InPlace);
        let data = match self.reuse_kept(writable)? {
            Some(d) => Some(d),
            None => self.open_data(writable, false)?,
        };
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
        Ok(Snapshot { bytes, data, torn })
    }

    /// Whether a journal record awaits replay: the data file holds a write
    /// its writer was killed in the middle of.
    pub fn replay_pending(&mut self) -> Result<bool> {
        Ok(self.load(false)?.torn)
    }

    /// The kept data file, if `write` (an update in journal mode) and the
    /// path still names it, with the path's metadata.
    fn reuse_kept(&mut self, write: bool) -> Result<Option<(File, FileInfo)>> {
        let Some((file, dev, ino)) = self.kept.take() else {
            return Ok(None);
        };
        if !write {
            return Ok(None);
        }
        match FileInfo::of_path(&self.target) {
            Ok(m) if m.is_file() && m.dev == dev && m.ino == ino => Ok(Some((file, m))),
            _ => Ok(None),
        }
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
    pub fn store_until(&mut self, new: &[u8], old: Snapshot, stop: Option<usize>) -> Result<()> {
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
                    Ok(()) => self.kept = Some((file, meta.dev, meta.ino)),
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
