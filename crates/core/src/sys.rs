//! The platform under jlock-core, one implementation per platform behind
//! one interface (in the style of tempfile's `imp`): what a file is
//! (`statx(2)` on Linux, asking for no timestamps; `fstat` elsewhere) and
//! reserving space (`fallocate(2)` on Linux; nothing elsewhere). The rest
//! of the crate reads the same on every platform. Linux-only features of
//! their own live in their own module: `holders` (`/proc/locks`), `claim`
//! (abstract sockets).

pub(crate) use imp::{info_of_file, info_of_path, reserve};

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    use rustix::fs::{statx, AtFlags, FallocateFlags, StatxFlags, CWD};

    use crate::file_info::FileInfo;

    /// Everything [`FileInfo`] holds, and no timestamp (see `file_info`).
    const MASK: StatxFlags = StatxFlags::TYPE
        .union(StatxFlags::MODE)
        .union(StatxFlags::UID)
        .union(StatxFlags::GID)
        .union(StatxFlags::INO)
        .union(StatxFlags::SIZE)
        .union(StatxFlags::NLINK);

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

    /// The information of an open file.
    pub(crate) fn info_of_file(file: &File) -> io::Result<FileInfo> {
        Ok(from_statx(statx(file, "", AtFlags::EMPTY_PATH, MASK)?))
    }

    /// The information of `path`, following a final symlink if `follow`.
    pub(crate) fn info_of_path(path: &Path, follow: bool) -> io::Result<FileInfo> {
        let flags = if follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        Ok(from_statx(statx(CWD, path, flags, MASK)?))
    }

    /// Reserves `len` bytes at `offset` of `file` (without changing its size
    /// if `keep_size`); a file system that cannot is left as it is.
    pub(crate) fn reserve(file: &File, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
        let flags = if keep_size {
            FallocateFlags::KEEP_SIZE
        } else {
            FallocateFlags::empty()
        };
        match rustix::fs::fallocate(file, flags, offset, len) {
            Ok(()) => Ok(()),
            Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::fs::{File, Metadata};
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::file_info::FileInfo;

    fn from_metadata(m: &Metadata) -> FileInfo {
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

    /// The information of an open file.
    pub(crate) fn info_of_file(file: &File) -> io::Result<FileInfo> {
        Ok(from_metadata(&file.metadata()?))
    }

    /// The information of `path`, following a final symlink if `follow`.
    pub(crate) fn info_of_path(path: &Path, follow: bool) -> io::Result<FileInfo> {
        let m = if follow {
            std::fs::metadata(path)?
        } else {
            std::fs::symlink_metadata(path)?
        };
        Ok(from_metadata(&m))
    }

    /// No space reservation here: a failed write is undone from the record.
    pub(crate) fn reserve(
        _file: &File,
        _offset: u64,
        _len: u64,
        _keep_size: bool,
    ) -> io::Result<()> {
        Ok(())
    }
}
