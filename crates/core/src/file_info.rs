//! What jlock needs to know of a data file — its identity, size, owner and
//! mode — read with `statx(2)` asking for no timestamps.
//!
//! Why not `fstat`: since Linux 6.13 (multigrain timestamps) a query of a
//! file's times marks them as seen, and the next write to the file must
//! then update them at fine grain, dirtying the inode on every write. A
//! journal-mode update reads the data file's size before writing to it, so
//! asking for the times too would make every update pay for that: measured
//! here, it halved the journal mode's rate.

use std::fs::File;
use std::io;
use std::path::Path;

/// A file's identity, size, owner and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileInfo {
    /// The device the file is on (`st_dev`).
    pub dev: u64,
    /// Its inode number.
    pub ino: u64,
    /// Its size in bytes.
    pub len: u64,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// Its type and permission bits (`st_mode`).
    pub mode: u32,
    /// How many names (hard links) it has.
    pub nlink: u64,
}

impl FileInfo {
    /// The information of an open file.
    pub fn of_file(file: &File) -> io::Result<FileInfo> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{statx, AtFlags};
            Ok(FileInfo::from_statx(statx(
                file,
                "",
                AtFlags::EMPTY_PATH,
                MASK,
            )?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(FileInfo::from_metadata(&file.metadata()?))
        }
    }

    /// The information of `path` itself (a symlink is not followed).
    pub fn of_path(path: &Path) -> io::Result<FileInfo> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{statx, AtFlags, CWD};
            Ok(FileInfo::from_statx(statx(
                CWD,
                path,
                AtFlags::SYMLINK_NOFOLLOW,
                MASK,
            )?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(FileInfo::from_metadata(&std::fs::symlink_metadata(path)?))
        }
    }

    /// The information of the file `path` names, following a symlink.
    pub fn of_path_followed(path: &Path) -> io::Result<FileInfo> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{statx, AtFlags, CWD};
            Ok(FileInfo::from_statx(statx(
                CWD,
                path,
                AtFlags::empty(),
                MASK,
            )?))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(FileInfo::from_metadata(&std::fs::metadata(path)?))
        }
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }

    #[cfg(target_os = "linux")]
    fn from_statx(s: rustix::fs::Statx) -> FileInfo {
        FileInfo {
            dev: rustix::fs::makedev(s.stx_dev_major, s.stx_dev_minor),
            ino: s.stx_ino,
            len: s.stx_size,
            uid: s.stx_uid,
            gid: s.stx_gid,
            mode: u32::from(s.stx_mode),
            nlink: u64::from(s.stx_nlink),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn from_metadata(m: &std::fs::Metadata) -> FileInfo {
        use std::os::unix::fs::MetadataExt;
        FileInfo {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
            nlink: m.nlink(),
        }
    }
}

/// Everything [`FileInfo`] holds, and no timestamp.
#[cfg(target_os = "linux")]
const MASK: rustix::fs::StatxFlags = rustix::fs::StatxFlags::TYPE
    .union(rustix::fs::StatxFlags::MODE)
    .union(rustix::fs::StatxFlags::UID)
    .union(rustix::fs::StatxFlags::GID)
    .union(rustix::fs::StatxFlags::INO)
    .union(rustix::fs::StatxFlags::SIZE)
    .union(rustix::fs::StatxFlags::NLINK);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn agrees_with_std() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "12345").unwrap();
        let m = std::fs::metadata(&p).unwrap();
        let want = FileInfo {
            dev: m.dev(),
            ino: m.ino(),
            len: 5,
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
            nlink: 1,
        };
        assert_eq!(FileInfo::of_path(&p).unwrap(), want);
        assert_eq!(FileInfo::of_file(&File::open(&p).unwrap()).unwrap(), want);
        assert!(want.is_file());
        assert!(!FileInfo::of_path(dir.path()).unwrap().is_file());
    }
}
