//! Atomic replacement of a file's contents: write a temporary file beside it,
//! give it the old file's permission bits, then `rename(2)` it over the old one.
//!
//! A reader — even one that takes no lock, like `cat` or `jq` — opens either the
//! old inode or the new one, so it sees a whole document, never a torn one.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, IoContext, Operation, Result};
use crate::file_info::FileInfo;
use crate::names::temp_name_of;
use crate::shared_dir;

/// What a file this process creates in a directory turns out as: learned
/// from the first temporary file, so later ones can be created right at once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Creation {
    /// The permission bits among `0o666` that survive the umask.
    allowed: u32,
    uid: u32,
    gid: u32,
}

/// Replaces the contents of `target` (a path with no symlink left to follow)
/// with `bytes`, atomically. `dir` is `target`'s directory, absolute. `old`
/// is the metadata of the file being replaced, if it exists; its permission
/// bits and owner carry over. `creation` caches what new files look like.
///
/// In the common case — the old file has the owner and mode this process
/// would give a new file anyway — the temporary file is created with that
/// mode directly: create, write, close, rename, as few system calls as the
/// job takes. Otherwise it is `fchown`ed and `fchmod`ed before it is written.
pub(crate) fn replace(
    target: &Path,
    dir: &Path,
    bytes: &[u8],
    old: Option<&FileInfo>,
    fsync: bool,
    creation: &mut Option<Creation>,
) -> Result<()> {
    let name = temp_name_of(target);
    let temp_path = dir.join(&name);
    let exact = match (old, *creation) {
        (None, _) => true, // a new file: 0666 less the umask, as any create
        (Some(old), Some(c)) => {
            old.uid == c.uid && old.gid == c.gid && old.mode & 0o7777 & !c.allowed == 0
        }
        (Some(_), None) => false,
    };
    let mode = match old {
        Some(old) if exact => old.mode & 0o7777,
        _ => 0o666,
    };
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&name)
        .suffix("")
        .rand_bytes(0)
        .permissions(Permissions::from_mode(mode));
    let mut temp = match builder.tempfile_in(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if in_use(&temp_path) {
                // Another writer's, live: the data file was replaced or
                // deleted under its lock (by something other than jlock).
                // Never share its name: take one of our own.
                builder.rand_bytes(8).tempfile_in(dir)
            } else {
                // Left by a writer killed between create and rename — if this
                // user or the data file's owner made it. Anyone else's is refused.
                let meta =
                    fs::symlink_metadata(&temp_path).at(Operation::RemoveStale, &temp_path)?;
                let owner = shared_dir::expected_owner(old);
                if meta.uid() != shared_dir::euid() && meta.uid() != owner {
                    shared_dir::check_owned(&temp_path, &meta, owner, "temporary file")?;
                }
                fs::remove_file(&temp_path).at(Operation::RemoveStale, &temp_path)?;
                builder.tempfile_in(dir)
            }
        }
        other => other,
    }
    .at(Operation::CreateTemp, &temp_path)?;
    // Locked while it is written: how another writer tells a live temporary
    // file from one left by a writer killed (see `in_use`).
    let _ = fs4::FileExt::try_lock(temp.as_file());

    // Owner and mode as the old file's, the bytes, and (fsync) the data on
    // disk: the same for a temporary file of either name.
    let fill = |temp: &mut tempfile::NamedTempFile| -> Result<Option<Creation>> {
        let made = match (old, exact) {
            (Some(old), false) => Some(
                copy_owner_and_mode(temp.as_file(), old)
                    .at(Operation::SetPermissions, &temp_path)?,
            ),
            _ => None,
        };
        temp.write_all(bytes).at(Operation::Write, &temp_path)?;
        if fsync {
            temp.as_file().sync_data().at(Operation::Sync, &temp_path)?;
        }
        Ok(made)
    };
    if let Some(made) = fill(&mut temp)? {
        *creation = Some(made);
    }
    // Rename while it is still open (and locked). If the rename fails,
    // dropping the file inside the error removes it.
    match temp.persist(target) {
        Ok(file) => drop(file),
        // Removed as stale by a writer that looked between our create and
        // our lock (only if two writers work at once, which the data file's
        // lock prevents among jlock writers): write it again under a name
        // of our own.
        Err(e) if e.error.kind() == io::ErrorKind::NotFound && e.file.path() == temp_path => {
            drop(e);
            let mut own = builder
                .rand_bytes(8)
                .tempfile_in(dir)
                .at(Operation::CreateTemp, &temp_path)?;
            fill(&mut own)?;
            own.persist(target)
                .map_err(|e| Error::io(Operation::Rename, target, e.error))?;
        }
        Err(e) => return Err(Error::io(Operation::Rename, target, e.error)),
    }
    if fsync {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .at(Operation::Sync, dir)?;
    }
    Ok(())
}

/// Whether the temporary file at `path` is being written by a live writer,
/// which holds a lock on it until its rename.
fn in_use(path: &Path) -> bool {
    let Ok(file) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    matches!(
        fs4::FileExt::try_lock(&file),
        Err(fs4::TryLockError::WouldBlock)
    )
}

/// Gives `file` the owner and mode of `old`; returns what the file was
/// created as, for [`Creation`].
fn copy_owner_and_mode(file: &File, old: &FileInfo) -> io::Result<Creation> {
    let new = file.metadata()?;
    let created = Creation {
        allowed: new.mode() & 0o666,
        uid: new.uid(),
        gid: new.gid(),
    };
    if new.uid() != old.uid || new.gid() != old.gid {
        // Only root (or a member of the group) may give a file away; others
        // keep their own ownership, as any editor's "save" would.
        match std::os::unix::fs::fchown(file, Some(old.uid), Some(old.gid)) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            other => other?,
        }
    }
    // fchmod is not subject to the umask, so the bits carry over exactly.
    file.set_permissions(Permissions::from_mode(old.mode & 0o7777))?;
    Ok(created)
}
