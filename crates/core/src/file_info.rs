//! What jlock needs to know of a data file — its identity, size, owner and
//! mode — read (by `sys`) with `statx(2)` asking for no timestamps.
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
        crate::sys::info_of_file(file)
    }

    /// The information of `path` itself (a symlink is not followed).
    pub fn of_path(path: &Path) -> io::Result<FileInfo> {
        crate::sys::info_of_path(path, false)
    }

    /// The information of the file `path` names, following a symlink.
    pub fn of_path_followed(path: &Path) -> io::Result<FileInfo> {
        crate::sys::info_of_path(path, true)
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
}

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
