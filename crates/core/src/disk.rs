//! The data file as the lock holder sees it: reading the current document
//! (recovering from a writer killed mid-update) and writing a new one in the
//! store's durability mode.
//!
//! All of this runs under the sidecar lock — shared for a read, exclusive for
//! an update — so one `Disk` never races another process's.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::durability::Durability;
use crate::error::{Error, Operation, Result};
use crate::journal::{journal_path, read_full_at, Header, Journal, HEADER_LEN};
use crate::replace::{replace, Creation};

/// The document as read under the lock.
pub(crate) struct Snapshot {
    /// The current document's bytes (empty if the file is missing).
    pub bytes: Vec<u8>,
    /// The data file's metadata, if it exists and a rename will replace it.
    meta: Option<Metadata>,
    /// The journal's whole record, if there is one.
    header: Option<Header>,
}

/// The data file, kept open between updates in journal mode.
#[derive(Debug)]
struct DataFile {
    file: File,
    dev: u64,
    ino: u64,
    /// As `fstat` gave it when the file was opened.
    meta: Metadata,
}

impl DataFile {
    fn is(&self, h: &Header) -> bool {
        self.dev == h.dev && self.ino == h.ino
    }
}

/// One store's view of its data file and journal.
#[derive(Debug)]
pub(crate) struct Disk {
    target: PathBuf,
    dir: PathBuf,
    journal_path: PathBuf,
    durability: Durability,
    journal: Option<Journal>,
    data: Option<DataFile>,
    creation: Option<Creation>,
}

impl Disk {
    /// `target` is the data file (symlinks resolved); `dir` its directory, absolute.
    pub fn new(target: PathBuf, dir: PathBuf, durability: Durability) -> Disk {
        Disk {
            journal_path: journal_path(&target),
            target,
            dir,
            durability,
            journal: None,
            data: None,
            creation: None,
        }
    }

    fn io(&self, op: Operation, e: io::Error) -> Error {
        Error::io(op, &self.target, e)
    }

    /// Reads the current document. Under the exclusive lock (`exclusive`), a
    /// journal record that a killed writer did not finish applying is
    /// replayed into the data file first; under a shared lock its document is
    /// returned without writing.
    pub fn load(&mut self, exclusive: bool) -> Result<Snapshot> {
        if self.journal.is_none() {
            self.journal = Journal::open(&self.journal_path)
                .map_err(|e| Error::io(Operation::Read, &self.journal_path, e))?;
        }
        let header = match &self.journal {
            Some(j) => j
                .header()
                .map_err(|e| Error::io(Operation::Read, &self.journal_path, e))?,
            None => None,
        };
        if let Some(h) = header {
            if let Some(snap) = self.load_journaled(h, exclusive)? {
                return Ok(snap);
            }
        }
        // No journal record, or one for a file that has since been replaced.
        let mut snap = self.load_plain()?;
        snap.header = header;
        Ok(snap)
    }

    /// Reads the data file the journal's record `h` belongs to, checking it
    /// against the record. `None` if the data file is not that file.
    fn load_journaled(&mut self, h: Header, exclusive: bool) -> Result<Option<Snapshot>> {
        if !self.data.as_ref().is_some_and(|d| d.is(&h)) {
            match self.open_data(false)? {
                Some(d) if d.is(&h) => self.data = Some(d),
                _ => return Ok(None),
            }
        }
        let snap = self.check_against(h, exclusive);
        if self.durability != Durability::Journal {
            self.data = None; // only journal mode keeps the file open
        }
        snap.map(Some)
    }

    fn check_against(&self, h: Header, exclusive: bool) -> Result<Snapshot> {
        let Some(d) = &self.data else {
            return Err(self.io(Operation::Read, io::Error::other("data file not open")));
        };
        let want = usize::try_from(h.len).unwrap_or(usize::MAX - 1) + 1;
        let mut bytes = vec![0u8; want];
        let n = read_full_at(&d.file, &mut bytes, 0).map_err(|e| self.io(Operation::Read, e))?;
        bytes.truncate(n);
        // Only a rename needs the old file's metadata; outside journal mode
        // the file was opened (and stat'ed) just now.
        let meta = (self.durability != Durability::Journal).then(|| d.meta.clone());
        if !h.matches(&bytes) {
            let body = match &self.journal {
                Some(j) => j
                    .body(&h)
                    .map_err(|e| Error::io(Operation::Read, &self.journal_path, e))?,
                None => None,
            };
            match body {
                // The writer was killed after its record was whole, before
                // (or while) writing the data file: the record is the document.
                Some(body) => {
                    if exclusive {
                        self.replay(d, &body)?;
                    }
                    bytes = body;
                }
                // The writer was killed while writing its record, so it never
                // touched the data file: the data file is the document.
                None if n == want => {
                    bytes = read_whole(&d.file, h.len).map_err(|e| self.io(Operation::Read, e))?;
                }
                None => {}
            }
        }
        Ok(Snapshot {
            bytes,
            meta,
            header: Some(h),
        })
    }

    /// Writes a journal record's document into the data file, in place.
    fn replay(&self, d: &DataFile, body: &[u8]) -> Result<()> {
        let write = |f: &File| {
            f.write_all_at(body, 0)
                .and_then(|()| f.set_len(body.len() as u64))
        };
        let written = if self.durability == Durability::Journal {
            write(&d.file)
        } else {
            // Outside journal mode the file was opened to read only.
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.target)
                .and_then(|f| write(&f))
        };
        written.map_err(|e| self.io(Operation::Write, e))
    }

    /// Opens the data file (read-write in journal mode), or `None` if missing.
    fn open_data(&self, create: bool) -> Result<Option<DataFile>> {
        let writable = self.durability == Durability::Journal;
        let opened = OpenOptions::new()
            .read(true)
            .write(writable)
            .create(create)
            .truncate(false)
            .mode(0o666)
            // Symlinks were resolved when the store was opened; one here
            // now was planted since, and is not followed.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.target);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) => return Err(self.io(Operation::Read, e)),
        };
        let meta = file.metadata().map_err(|e| self.io(Operation::Read, e))?;
        Ok(Some(DataFile {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            meta,
        }))
    }

    /// Reads the data file whole, with no journal to consult.
    fn load_plain(&mut self) -> Result<Snapshot> {
        let Some(d) = self.open_data(false)? else {
            self.data = None;
            return Ok(Snapshot {
                bytes: Vec::new(),
                meta: None,
                header: None,
            });
        };
        let meta = d.meta.clone();
        let bytes = read_whole(&d.file, meta.len()).map_err(|e| self.io(Operation::Read, e))?;
        if self.durability == Durability::Journal {
            self.data = Some(d);
        }
        Ok(Snapshot {
            bytes,
            meta: Some(meta),
            header: None,
        })
    }

    /// Whether a journal record awaits replay: `None` if there is no record
    /// (or none for this file), `Some(true)` if the data file does not hold
    /// the record's whole document yet.
    pub fn pending_replay(&mut self) -> Result<Option<bool>> {
        let snap = self.load(false)?;
        let Some(h) = snap.header else {
            return Ok(None);
        };
        let on_disk = self.open_data(false)?;
        let Some(d) = on_disk.filter(|d| d.is(&h)) else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; usize::try_from(h.len).unwrap_or(0) + 1];
        let n = read_full_at(&d.file, &mut bytes, 0).map_err(|e| self.io(Operation::Read, e))?;
        bytes.truncate(n);
        Ok(Some(!h.matches(&bytes) && h.matches(&snap.bytes)))
    }

    /// Writes `record[HEADER_LEN..]` as the new document. The first
    /// [`HEADER_LEN`] bytes of `record` are room for the journal header.
    pub fn store(&mut self, record: &mut [u8], old: &Snapshot) -> Result<()> {
        match self.durability {
            Durability::Journal => self.store_journaled(record, old),
            mode => {
                // A journal record must not outlive the file it describes:
                // clear it before the rename replaces the file.
                if old.header.is_some() {
                    if let Some(j) = &self.journal {
                        j.clear()
                            .map_err(|e| Error::io(Operation::Write, &self.journal_path, e))?;
                    }
                }
                self.data = None;
                replace(
                    &self.target,
                    &self.dir,
                    &record[HEADER_LEN..],
                    old.meta.as_ref(),
                    mode,
                    &mut self.creation,
                )
            }
        }
    }

    fn store_journaled(&mut self, record: &mut [u8], old: &Snapshot) -> Result<()> {
        if self.data.is_none() {
            self.data = self.open_data(true)?;
        }
        let Some(d) = &self.data else {
            return Err(self.io(
                Operation::Write,
                io::Error::other("data file vanished while locked"),
            ));
        };
        if self.journal.is_none() {
            let mode = d.file.metadata().map(|m| m.mode() & 0o666).unwrap_or(0o600);
            self.journal = Some(
                Journal::create(&self.journal_path, mode)
                    .map_err(|e| Error::io(Operation::CreateTemp, &self.journal_path, e))?,
            );
        }
        let body = &record[HEADER_LEN..];
        let header = Header {
            seq: old.header.map_or(1, |h| h.seq.wrapping_add(1)),
            dev: d.dev,
            ino: d.ino,
            len: body.len() as u64,
            body_crc: crc32fast::hash(body),
        };
        header.encode_into(record);
        if let Some(j) = &self.journal {
            j.write(record)
                .map_err(|e| Error::io(Operation::Write, &self.journal_path, e))?;
        }
        // The record is whole: from here on a crash is repaired by replay.
        let body = &record[HEADER_LEN..];
        d.file
            .write_all_at(body, 0)
            .map_err(|e| self.io(Operation::Write, e))?;
        if body.len() < old.bytes.len() {
            d.file
                .set_len(body.len() as u64)
                .map_err(|e| self.io(Operation::Write, e))?;
        }
        Ok(())
    }
}

/// Reads a whole file with `pread`, in one call when `size_hint` (from
/// `fstat`) is right, plus the one that sees the end.
fn read_whole(file: &File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(size_hint).unwrap_or(0) + 1];
    let mut len = 0;
    loop {
        len += read_full_at(file, &mut bytes[len..], len as u64)?;
        if len < bytes.len() {
            bytes.truncate(len);
            return Ok(bytes);
        }
        bytes.resize(len * 2, 0);
    }
}
