//! Atomic replacement of a file's contents: write a temporary file beside it,
//! give it the old file's permission bits, then `rename(2)` it over the old one.
//!
//! A reader — even one that takes no lock, like `cat` or `jq` — opens either the
//! old inode or the new one, so it sees a whole document, never a torn one.

use std::ffi::OsString;
use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::durability::Durability;
use crate::error::{Error, Operation, Result};
use crate::shared_dir;

/// Follows symbolic links from `path` to the file they finally name, which
/// need not exist yet. Relative link targets resolve against the link's
/// directory. Gives up after 40 links, as the kernel does (`ELOOP`).
pub(crate) fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&cur) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let dir = match cur.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                shared_dir::check_link(&cur, &meta, &dir)?;
                let target =
                    fs::read_link(&cur).map_err(|e| Error::io(Operation::ResolveLink, &cur, e))?;
                let next = if target.is_relative() {
                    dir.join(target)
                } else {
                    target
                };
                if fs::symlink_metadata(&next).is_err() {
                    // A dangling link: an update would create the file it
                    // names — refused in a shared directory.
                    shared_dir::check(&cur, true)?;
                }
                cur = next;
            }
            Ok(_) => return Ok(cur),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cur),
            Err(e) => return Err(Error::io(Operation::ResolveLink, &cur, e)),
        }
    }
    let loop_err = io::Error::other("too many levels of symbolic links");
    Err(Error::io(Operation::ResolveLink, path, loop_err))
}

/// The name of the temporary file that replaces `target`.
///
/// The name is fixed, not random: only the holder of the exclusive lock
/// writes, so one name suffices, and a file of that name found at creation is
/// the remains of a writer that crashed — removed, never accumulated.
fn temp_name(target: &Path) -> OsString {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".jlock-tmp");
    name
}

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
    old: Option<&Metadata>,
    durability: Durability,
    creation: &mut Option<Creation>,
) -> Result<()> {
    let name = temp_name(target);
    let temp_path = dir.join(&name);
    let exact = match (old, *creation) {
        (None, _) => true, // a new file: 0666 less the umask, as any create
        (Some(old), Some(c)) => {
            old.uid() == c.uid && old.gid() == c.gid && old.mode() & 0o7777 & !c.allowed == 0
        }
        (Some(_), None) => false,
    };
    let mode = match old {
        Some(old) if exact => old.mode() & 0o7777,
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
            // Left by a writer killed between create and rename.
            fs::remove_file(&temp_path)
                .map_err(|e| Error::io(Operation::RemoveStale, &temp_path, e))?;
            builder.tempfile_in(dir)
        }
        other => other,
    }
    .map_err(|e| Error::io(Operation::CreateTemp, &temp_path, e))?;

    if let (Some(old), false) = (old, exact) {
        *creation = Some(
            copy_owner_and_mode(temp.as_file(), old)
                .map_err(|e| Error::io(Operation::SetPermissions, &temp_path, e))?,
        );
    }
    temp.write_all(bytes)
        .map_err(|e| Error::io(Operation::Write, &temp_path, e))?;
    if durability == Durability::Fsync {
        temp.as_file()
            .sync_data()
            .map_err(|e| Error::io(Operation::Sync, &temp_path, e))?;
    }
    // Close, then rename. If the rename fails, dropping the TempPath inside
    // the error removes the temporary file.
    temp.into_temp_path()
        .persist(target)
        .map_err(|e| Error::io(Operation::Rename, target, e.error))?;
    if durability == Durability::Fsync {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(Operation::Sync, dir, e))?;
    }
    Ok(())
}

/// Gives `file` the owner and mode of `old`; returns what the file was
/// created as, for [`Creation`].
fn copy_owner_and_mode(file: &File, old: &Metadata) -> io::Result<Creation> {
    let new = file.metadata()?;
    let created = Creation {
        allowed: new.mode() & 0o666,
        uid: new.uid(),
        gid: new.gid(),
    };
    if new.uid() != old.uid() || new.gid() != old.gid() {
        // Only root (or a member of the group) may give a file away; others
        // keep their own ownership, as any editor's "save" would.
        match std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            other => other?,
        }
    }
    // fchmod is not subject to the umask, so the bits carry over exactly.
    file.set_permissions(Permissions::from_mode(old.mode() & 0o7777))?;
    Ok(created)
}
