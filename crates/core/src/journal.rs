//! The redo journal of [`Durability::Journal`](crate::Durability::Journal):
//! the fast mode that writes the data file in place, made crash-safe by
//! writing each new document to a journal file first.
//!
//! The journal is `.<data file name>.jlock-journal` beside the data file. It
//! holds one record: a 64-byte header and the document.
//!
//! ```text
//! 0   magic "JLOCKJ01"
//! 8   seq        u64 LE   one more than the record it replaced
//! 16  dev, ino   u64 LE   the data file the record belongs to
//! 32  len        u64 LE   document length in bytes
//! 40  body_crc   u32 LE   CRC-32 of the document
//! 44  head_crc   u32 LE   CRC-32 of bytes 0..44
//! 48  zero
//! 64  the document
//! ```
//!
//! A header that fails its CRC, or a body that fails its CRC, is a record a
//! writer was killed while writing — and a writer touches the data file only
//! after its record is whole. See docs/design.md for the recovery rules.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes before the document in a record.
pub(crate) const HEADER_LEN: usize = 64;
const MAGIC: &[u8; 8] = b"JLOCKJ01";

/// A record's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u64,
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub body_crc: u32,
}

impl Header {
    /// Writes this header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode_into(&self, out: &mut [u8]) {
        out[..HEADER_LEN].fill(0);
        out[0..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.dev.to_le_bytes());
        out[24..32].copy_from_slice(&self.ino.to_le_bytes());
        out[32..40].copy_from_slice(&self.len.to_le_bytes());
        out[40..44].copy_from_slice(&self.body_crc.to_le_bytes());
        let head_crc = crc32fast::hash(&out[0..44]);
        out[44..48].copy_from_slice(&head_crc.to_le_bytes());
    }

    /// Parses a header; `None` if it is absent, cleared or torn.
    pub fn decode(buf: &[u8]) -> Option<Header> {
        if buf.len() < HEADER_LEN || &buf[0..8] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().unwrap_or([0; 4]));
        if crc32fast::hash(&buf[0..44]) != u32_at(44) {
            return None;
        }
        Some(Header {
            seq: u64_at(8),
            dev: u64_at(16),
            ino: u64_at(24),
            len: u64_at(32),
            body_crc: u32_at(40),
        })
    }

    /// True if `body` is the document this header describes.
    pub fn matches(&self, body: &[u8]) -> bool {
        body.len() as u64 == self.len && crc32fast::hash(body) == self.body_crc
    }
}

/// The journal path of a data file: `.<name>.jlock-journal` beside it.
pub(crate) fn journal_path(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".jlock-journal");
    target.with_file_name(name)
}

/// An open journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
}

impl Journal {
    /// Opens the journal if it exists.
    pub fn open(path: &Path) -> io::Result<Option<Journal>> {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => Ok(Some(Journal { file })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the journal, creating it with `mode` if missing.
    pub fn create(path: &Path, mode: u32) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        Ok(Journal { file })
    }

    /// The current record's header, if there is a whole one.
    pub fn header(&self) -> io::Result<Option<Header>> {
        let mut buf = [0u8; HEADER_LEN];
        let n = read_full_at(&self.file, &mut buf, 0)?;
        Ok(Header::decode(&buf[..n]))
    }

    /// The current record's document, if it is whole.
    pub fn body(&self, header: &Header) -> io::Result<Option<Vec<u8>>> {
        let Ok(len) = usize::try_from(header.len) else {
            return Ok(None);
        };
        let mut body = vec![0u8; len];
        let n = read_full_at(&self.file, &mut body, HEADER_LEN as u64)?;
        Ok((n == len && header.matches(&body)).then_some(body))
    }

    /// Writes a record — header and document, already laid out in `record`
    /// — with one `pwrite(2)`.
    pub fn write(&self, record: &[u8]) -> io::Result<()> {
        self.file.write_all_at(record, 0)
    }

    /// Marks the journal empty, so no record will be replayed.
    pub fn clear(&self) -> io::Result<()> {
        self.file.write_all_at(&[0u8; HEADER_LEN], 0)
    }
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
            len: 5,
            body_crc: crc32fast::hash(b"12345"),
        }
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let mut buf = [0u8; HEADER_LEN];
        header().encode_into(&mut buf);
        assert_eq!(Header::decode(&buf), Some(header()));
        for i in [0, 9, 20, 33, 41, 45] {
            let mut torn = buf;
            torn[i] ^= 0x40;
            assert_eq!(Header::decode(&torn), None, "flipped byte {i}");
        }
        assert_eq!(Header::decode(&[0u8; HEADER_LEN]), None);
        assert_eq!(Header::decode(&buf[..30]), None);
    }

    #[test]
    fn body_must_match_length_and_crc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let j = Journal::create(&path, 0o600).unwrap();
        let mut record = vec![0u8; HEADER_LEN];
        record.extend_from_slice(b"12345");
        header().encode_into(&mut record);
        j.write(&record).unwrap();
        let h = j.header().unwrap().unwrap();
        assert_eq!(j.body(&h).unwrap().as_deref(), Some(&b"12345"[..]));
        // A torn body: the writer died after the header.
        j.file.write_all_at(b"12", HEADER_LEN as u64 + 3).unwrap();
        assert_eq!(j.body(&h).unwrap(), None);
        j.clear().unwrap();
        assert_eq!(j.header().unwrap(), None);
    }
}
