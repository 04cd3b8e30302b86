//! The redo/undo journal of [`Durability::Journal`](crate::Durability::Journal):
//! the fast mode that changes the data file in place, made crash-safe by a
//! record, written first, of exactly the transition the write makes.
//!
//! The journal is `.<data file name>.jlock-journal` beside the data file. It
//! holds at most one valid record: a 96-byte header, then the changed region
//! of the new document (`new_mid`) and of the old one (`old_mid`).
//!
//! ```text
//! 0   magic "JLOCKJ02"
//! 8   seq         u64 LE   one more than the record before it
//! 16  dev, ino    u64 LE   the data file the record belongs to
//! 32  prefix      u64 LE   bytes before the changed region (same in old and new)
//! 40  suffix      u64 LE   bytes after it (same in both; 0 if the lengths differ)
//! 48  old_len     u64 LE   the old document's length
//! 56  new_len     u64 LE   the new document's length
//! 64  prefix_crc  u32 LE   CRC-32 of the prefix
//! 68  suffix_crc  u32 LE   CRC-32 of the suffix
//! 72  body_crc    u32 LE   CRC-32 of new_mid ++ old_mid
//! 76  head_crc    u32 LE   CRC-32 of bytes 0..76
//! 80  zero
//! 96  new_mid, then old_mid
//! ```
//!
//! The protocol, under the exclusive lock: write the record; write `new_mid`
//! over the data file at `prefix` (and truncate if it shrank); then
//! invalidate the record. So a valid record exists only while its write is
//! under way — or after its writer was killed during it. And since the
//! record holds both sides of the change, the states that write can leave
//! the data file in are known exactly: the old document, the new one, or a
//! torn mix `new[..k] ++ old[k..]`. A record is replayed only over such a
//! torn mix. Anything else — the old or the new document, or bytes written
//! by anyone else (an in-place writer, `rm` and a new file on the same inode,
//! a truncation) — stands, and the record is dropped. See docs/design.md.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Operation, Result};
use crate::file_info::FileInfo;
use crate::shared_dir;

/// Bytes before the changed regions in a record.
const HEADER_LEN: usize = 96;
const MAGIC: &[u8; 8] = b"JLOCKJ02";

/// A record's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    seq: u64,
    dev: u64,
    ino: u64,
    prefix: u64,
    suffix: u64,
    old_len: u64,
    new_len: u64,
    prefix_crc: u32,
    suffix_crc: u32,
    body_crc: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(MAGIC);
        let words = [
            self.seq,
            self.dev,
            self.ino,
            self.prefix,
            self.suffix,
            self.old_len,
            self.new_len,
        ];
        for (i, w) in words.iter().enumerate() {
            out[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        out[64..68].copy_from_slice(&self.prefix_crc.to_le_bytes());
        out[68..72].copy_from_slice(&self.suffix_crc.to_le_bytes());
        out[72..76].copy_from_slice(&self.body_crc.to_le_bytes());
        let head_crc = crc32fast::hash(&out[0..76]);
        out[76..80].copy_from_slice(&head_crc.to_le_bytes());
        out
    }

    /// Parses a header; `None` if it is absent, invalidated or torn.
    fn decode(buf: &[u8]) -> Option<Header> {
        if buf.len() < HEADER_LEN || &buf[0..8] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&buf[i..i + 4]);
            u32::from_le_bytes(b)
        };
        if crc32fast::hash(&buf[0..76]) != u32_at(76) {
            return None;
        }
        let h = Header {
            seq: u64_at(8),
            dev: u64_at(16),
            ino: u64_at(24),
            prefix: u64_at(32),
            suffix: u64_at(40),
            old_len: u64_at(48),
            new_len: u64_at(56),
            prefix_crc: u32_at(64),
            suffix_crc: u32_at(68),
            body_crc: u32_at(72),
        };
        // A header whose lengths do not fit together is not one we wrote.
        let fits = h.prefix.checked_add(h.suffix).is_some_and(|ends| {
            ends <= h.old_len && ends <= h.new_len && (h.suffix == 0 || h.old_len == h.new_len)
        });
        fits.then_some(h)
    }

    fn new_mid_len(&self) -> usize {
        (self.new_len - self.prefix - self.suffix) as usize
    }

    fn old_mid_len(&self) -> usize {
        (self.old_len - self.prefix - self.suffix) as usize
    }
}

/// What the data file holds, measured against a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// The record's write never started: the old document.
    NotStarted,
    /// The record's write is complete: the new document.
    Complete,
    /// The record's writer was killed during its write: a mix of the two,
    /// which replaying the record repairs.
    Torn,
    /// Something else: another writer changed the file since. It stands.
    Foreign,
}

/// A whole, valid journal record.
#[derive(Debug)]
pub(crate) struct Record {
    header: Header,
    /// `new_mid ++ old_mid`.
    body: Vec<u8>,
}

impl Record {
    /// Whether the record describes the file with this device and inode.
    pub fn belongs_to(&self, meta: &FileInfo) -> bool {
        self.header.dev == meta.dev && self.header.ino == meta.ino
    }

    fn new_mid(&self) -> &[u8] {
        &self.body[..self.header.new_mid_len()]
    }

    fn old_mid(&self) -> &[u8] {
        &self.body[self.header.new_mid_len()..]
    }

    /// Where `current` (the data file's bytes) stands against this record.
    pub fn classify(&self, current: &[u8]) -> State {
        let h = &self.header;
        let (p, s) = (h.prefix as usize, h.suffix as usize);
        let Some(mid_end) = current.len().checked_sub(s).filter(|&e| e >= p) else {
            return State::Foreign;
        };
        if crc32fast::hash(&current[..p]) != h.prefix_crc
            || crc32fast::hash(&current[mid_end..]) != h.suffix_crc
        {
            return State::Foreign;
        }
        let mid = &current[p..mid_end];
        let (new_mid, old_mid) = (self.new_mid(), self.old_mid());
        if mid == new_mid {
            return State::Complete;
        }
        if mid == old_mid {
            return State::NotStarted;
        }
        // A torn write is new_mid[..k] ++ old_mid[k..] (old_mid[k..] empty
        // once k passes its end, while the file grows).
        let a = common_prefix(mid, new_mid);
        let torn = if mid.len() == old_mid.len() {
            a + common_suffix(mid, old_mid) >= mid.len()
        } else {
            mid.len() > old_mid.len() && a == mid.len()
        };
        if torn {
            State::Torn
        } else {
            State::Foreign
        }
    }

    /// The new document, rebuilt from a torn `current`.
    pub fn repaired(&self, current: &[u8]) -> Vec<u8> {
        let (p, s) = (self.header.prefix as usize, self.header.suffix as usize);
        let mut out = Vec::with_capacity(self.header.new_len as usize);
        out.extend_from_slice(&current[..p]);
        out.extend_from_slice(self.new_mid());
        out.extend_from_slice(&current[current.len() - s..]);
        out
    }

    /// Completes the record's write in the data file.
    fn replay(&self, data: &File) -> io::Result<()> {
        data.write_all_at(self.new_mid(), self.header.prefix)?;
        data.set_len(self.header.new_len)
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// An open journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// The file's size as far as this process knows: space up to it is
    /// allocated already.
    size: u64,
    /// The next record's sequence number.
    seq: u64,
    /// The record being assembled, kept to reuse its allocation.
    buf: Vec<u8>,
}

impl Journal {
    /// Opens the journal at `path` if it exists, refusing one that `owner`
    /// (the data file's owner, or this user) did not make, or that is not a
    /// regular file.
    pub fn open(path: &Path, owner: u32) -> Result<Option<Journal>> {
        let open = |write: bool| {
            OpenOptions::new()
                .read(true)
                .write(write)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(path)
        };
        let file = match open(true) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // Someone else's file we may only read: read it, to refuse it below.
            // On a read-only mount (a snapshot, a backup): read it, for a
            // reader; a writer's write will fail and say so.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                open(false).at(Operation::Journal, path)?
            }
            Err(e) => {
                // ELOOP: a symlink where the journal should be.
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    shared_dir::check_owned(path, &meta, owner, "journal")?;
                }
                return Err(Error::io(Operation::Journal, path, e));
            }
        };
        let meta = file.metadata().at(Operation::Journal, path)?;
        shared_dir::check_owned(path, &meta, owner, "journal")?;
        Ok(Some(Journal {
            file,
            path: path.to_path_buf(),
            size: meta.len(),
            seq: 1,
            buf: Vec::new(),
        }))
    }

    /// Creates the journal for the data file whose metadata is `data`, with
    /// that file's owner and permission bits. A journal that would belong to
    /// someone other than the data file's owner is not created: the owner's
    /// jlock would (rightly) refuse to trust it.
    pub fn create(path: &Path, data: &FileInfo) -> Result<Journal> {
        let created = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(data.mode & 0o666)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path);
        let file = match created {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Planted since we looked: open it, checks and all.
                return Journal::open(path, data.uid)?
                    .ok_or_else(|| Error::io(Operation::Journal, path, e));
            }
            Err(e) => return Err(Error::io(Operation::CreateTemp, path, e)),
        };
        let give_away = || -> io::Result<()> {
            let mine = file.metadata()?;
            if mine.uid() != data.uid || mine.gid() != data.gid {
                std::os::unix::fs::fchown(&file, Some(data.uid), Some(data.gid))?;
            }
            // fchmod is not subject to the umask: the bits carry over exactly.
            file.set_permissions(std::fs::Permissions::from_mode(data.mode & 0o666))
        };
        if let Err(e) = give_away() {
            let _ = std::fs::remove_file(path);
            if e.kind() == io::ErrorKind::PermissionDenied {
                return Err(Error::unsafe_path(
                    path,
                    format!(
                        "the journal would be owned by uid {}, but the data file belongs to uid {}; \
                         journal mode on another user's file needs that user or root \
                         (the rename mode works, outside a sticky directory)",
                        shared_dir::euid(),
                        data.uid
                    ),
                    Some(shared_dir::euid()),
                ));
            }
            return Err(Error::io(Operation::SetPermissions, path, e));
        }
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            size: 0,
            seq: 1,
            buf: Vec::new(),
        })
    }

    /// The current record, if there is a whole, valid one.
    pub fn record(&mut self) -> Result<Option<Record>> {
        let mut head = [0u8; HEADER_LEN];
        let n = read_full_at(&self.file, &mut head, 0).at(Operation::Journal, &self.path)?;
        let Some(header) = Header::decode(&head[..n]) else {
            return Ok(None);
        };
        self.seq = header.seq.wrapping_add(1);
        let len = header.new_mid_len() + header.old_mid_len();
        // The header's lengths are checked against the file before any
        // allocation: a record cannot claim more than the journal holds.
        let size = self
            .file
            .metadata()
            .at(Operation::Journal, &self.path)?
            .len();
        if (HEADER_LEN + len) as u64 > size {
            return Ok(None);
        }
        let mut body = vec![0u8; len];
        let n = read_full_at(&self.file, &mut body, HEADER_LEN as u64)
            .at(Operation::Journal, &self.path)?;
        if n != len || crc32fast::hash(&body) != header.body_crc {
            return Ok(None);
        }
        Ok(Some(Record { header, body }))
    }

    /// Marks the journal empty, so no record will be replayed.
    pub fn invalidate(&self) -> Result<()> {
        self.file
            .write_all_at(&[0u8; 8], 0)
            .at(Operation::Journal, &self.path)
    }

    /// Brings the data file `data` (holding `current`) to the state the
    /// journal's record `rec` committed to, if it is torn, and drops the
    /// record. Returns the document the data file now holds.
    pub fn recover(
        &self,
        rec: &Record,
        data: &File,
        data_path: &Path,
        current: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let bytes = match rec.classify(&current) {
            State::Torn => {
                rec.replay(data).at(Operation::Write, data_path)?;
                rec.repaired(&current)
            }
            State::NotStarted | State::Complete | State::Foreign => current,
        };
        self.invalidate()?;
        Ok(bytes)
    }

    /// Changes the data file `data` (of metadata `meta`, at `data_path`)
    /// from `old` to `new` in place: reserve the space, write the record,
    /// write the changed region, invalidate the record. On an error the
    /// data file is put back to `old` and the record dropped, so a failed
    /// write has changed nothing.
    ///
    /// With `stop` set, stops — as `SIGKILL` would — after `stop` bytes of
    /// the changed region reached the data file: the state a killed writer
    /// leaves, for tests of recovery.
    pub fn write_until(
        &mut self,
        data: &File,
        meta: &FileInfo,
        data_path: &Path,
        old: &[u8],
        new: &[u8],
        stop: Option<usize>,
    ) -> Result<()> {
        let p = common_prefix(old, new);
        let s = if old.len() == new.len() {
            common_suffix(&old[p..], &new[p..])
        } else {
            0
        };
        let (new_mid, old_mid) = (&new[p..new.len() - s], &old[p..old.len() - s]);
        let header = Header {
            seq: self.seq,
            dev: meta.dev,
            ino: meta.ino,
            prefix: p as u64,
            suffix: s as u64,
            old_len: old.len() as u64,
            new_len: new.len() as u64,
            prefix_crc: crc32fast::hash(&new[..p]),
            suffix_crc: crc32fast::hash(&new[new.len() - s..]),
            body_crc: {
                let mut h = crc32fast::Hasher::new();
                h.update(new_mid);
                h.update(old_mid);
                h.finalize()
            },
        };
        self.seq = self.seq.wrapping_add(1);
        let mut record = std::mem::take(&mut self.buf);
        record.clear();
        record.extend_from_slice(&header.encode());
        record.extend_from_slice(new_mid);
        record.extend_from_slice(old_mid);

        // Space first: a write that would run out of it fails here, before
        // anything is committed.
        if record.len() as u64 > self.size {
            reserve(&self.file, 0, record.len() as u64, false)
                .at(Operation::Reserve, &self.path)?;
            self.size = record.len() as u64;
        }
        if new.len() > old.len() {
            reserve(data, old.len() as u64, (new.len() - old.len()) as u64, true)
                .at(Operation::Reserve, data_path)?;
        }
        let written = self.file.write_all_at(&record, 0);
        self.buf = record;
        if let Err(e) = written {
            // A record cut short fails its CRC: nothing is committed. Make
            // sure of it, since its header may be whole.
            let _ = self.invalidate();
            return Err(Error::io(Operation::Journal, &self.path, e));
        }
        // The record is whole: from here a crash is repaired by replay.
        if let Some(k) = stop {
            let k = k.min(new_mid.len());
            return data
                .write_all_at(&new_mid[..k], p as u64)
                .at(Operation::Write, data_path);
        }
        let applied =
            data.write_all_at(new_mid, p as u64)
                .and_then(|()| match new.len() < old.len() {
                    true => data.set_len(new.len() as u64),
                    false => Ok(()),
                });
        if let Err(e) = applied {
            // Undo: the old bytes go back where they were (no new space
            // needed), and only then is the record dropped.
            let undone = data
                .write_all_at(old_mid, p as u64)
                .and_then(|()| data.set_len(old.len() as u64));
            if undone.is_ok() {
                self.invalidate()?;
            }
            return Err(Error::io(Operation::Write, data_path, e));
        }
        self.invalidate()
    }
}

/// Reserves `len` bytes at `offset` of `file`, so that writing them cannot
/// fail for want of space. `keep_size`: without changing the file's size.
/// Where the file system or platform cannot reserve, nothing is done (a
/// failed write is then undone from the record).
fn reserve(file: &File, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
    crate::sys::reserve(file, offset, len, keep_size)
}

/// `pread` until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            seq: 7,
            dev: 1,
            ino: 2,
            prefix: 3,
            suffix: 0,
            old_len: 5,
            new_len: 6,
            prefix_crc: 9,
            suffix_crc: 10,
            body_crc: 11,
        }
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let buf = header().encode();
        assert_eq!(Header::decode(&buf), Some(header()));
        for i in [0, 9, 20, 33, 41, 57, 65, 73, 77] {
            let mut torn = buf;
            torn[i] ^= 0x40;
            assert_eq!(Header::decode(&torn), None, "flipped byte {i}");
        }
        assert_eq!(Header::decode(&[0u8; HEADER_LEN]), None);
        assert_eq!(Header::decode(&buf[..30]), None);
        let mut bad = header();
        bad.prefix = 100; // longer than either document
        assert_eq!(Header::decode(&bad.encode()), None);
    }

    /// The journal a writer of the change `old` → `new` leaves when it is
    /// killed just before invalidating its record (and its directory).
    fn killed_before_invalidation(old: &[u8], new: &[u8]) -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let data_path = dir.path().join("d");
        std::fs::write(&data_path, old).unwrap();
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&data_path)
            .unwrap();
        let meta = FileInfo::of_file(&data).unwrap();
        let mut j = Journal::create(&dir.path().join("j"), &meta).unwrap();
        j.write_until(&data, &meta, &data_path, old, new, None)
            .unwrap();
        assert_eq!(std::fs::read(&data_path).unwrap(), new);
        assert!(
            j.record().unwrap().is_none(),
            "a complete write leaves no valid record"
        );
        // The invalidation overwrote only the magic: put it back.
        j.file.write_all_at(MAGIC, 0).unwrap();
        (dir, j)
    }

    /// A record of the change `old` → `new`, as write_until makes it.
    fn record_of(old: &[u8], new: &[u8]) -> Record {
        let (_dir, mut j) = killed_before_invalidation(old, new);
        j.record().unwrap().expect("record")
    }

    #[test]
    fn only_torn_states_of_the_recorded_write_are_replayed() {
        let cases: [(&[u8], &[u8]); 4] = [
            (
                b"{\"n\": 41, \"pad\": \"xxxx\"}\n",
                b"{\"n\": 42, \"pad\": \"xxxx\"}\n",
            ),
            (b"{\"n\": 99}\n", b"{\"n\": 100}\n"),
            (b"{\"n\": 100, \"tail\": 123456}\n", b"{\"n\": 99}\n"),
            (b"[1,2,3,4,5,6,7,8]\n", b"[9,9,9,9,9,9,9,9]\n"),
        ];
        for (old, new) in cases {
            let rec = record_of(old, new);
            assert_eq!(rec.classify(old), State::NotStarted);
            assert_eq!(rec.classify(new), State::Complete);
            // Every state a write cut short after k bytes can leave.
            let p = common_prefix(old, new);
            for k in 1..rec.new_mid().len() {
                let mut torn = old.to_vec();
                let end = p + k;
                if torn.len() < end {
                    torn.resize(end, 0);
                }
                torn[p..end].copy_from_slice(&new[p..end]);
                if torn == old || torn == new {
                    continue;
                }
                assert_eq!(
                    rec.classify(&torn),
                    State::Torn,
                    "{old:?} -> {new:?} cut at {k}"
                );
                assert_eq!(rec.repaired(&torn), new);
            }
            // A full write not yet truncated (the new document is shorter).
            if new.len() < old.len() {
                let mut untruncated = new.to_vec();
                untruncated.extend_from_slice(&old[new.len()..]);
                assert_eq!(rec.classify(&untruncated), State::Torn);
            }
            // What anyone else writes stands.
            for other in [&b"{\"n\": 7}\n"[..], b"", b"{}", &old[..old.len() - 1]] {
                assert_eq!(rec.classify(other), State::Foreign, "{other:?}");
            }
        }
    }

    #[test]
    fn a_record_cut_short_is_not_valid() {
        let (dir, mut j) = killed_before_invalidation(b"{\"a\": 1}\n", b"{\"a\": 22222}\n");
        assert!(j.record().unwrap().is_some());
        let len = std::fs::metadata(dir.path().join("j")).unwrap().len();
        j.file.set_len(len - 2).unwrap();
        assert!(j.record().unwrap().is_none());
    }
}
