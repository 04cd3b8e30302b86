//! Safety in shared directories: in a world-writable directory with the
//! sticky bit (like `/tmp`), anyone can plant a symbolic link where jlock is
//! about to open or create a file. There jlock never follows a link owned by
//! another user, never creates a file through a dangling link, and opens
//! what it creates with `O_NOFOLLOW`, so a link swapped in after the check
//! makes the open fail rather than redirect it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};

/// How a path that passed [`check`] is to be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    /// Follow symlinks as usual: not a shared directory, or a link we trust.
    Follow,
    /// Add `O_NOFOLLOW`: a shared directory, and the path is not a symlink.
    NoFollow,
}

/// True if `dir` is world-writable with the sticky bit set.
fn is_shared(dir: &Path) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.mode() & 0o1002 == 0o1002)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn unsafe_path(path: &Path, reason: &str) -> Error {
    Error::UnsafePath {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Checks `path` before it is opened, `creating` if it may be created.
pub(crate) fn check(path: &Path, creating: bool) -> Result<Open> {
    let dir = parent(path);
    if !is_shared(dir) {
        return Ok(Open::Follow);
    }
    let link = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => m,
        Ok(_) => return Ok(Open::NoFollow),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Open::NoFollow),
        Err(_) => return Ok(Open::NoFollow), // the open will report it
    };
    check_link(path, &link, dir)?;
    if creating && fs::metadata(path).is_err() {
        return Err(unsafe_path(
            path,
            "is a dangling symlink in a shared directory; refusing to create a file through it",
        ));
    }
    Ok(Open::Follow)
}

/// Refuses a symlink in a shared directory that neither this user nor the
/// directory's owner made (the rule of Linux's `protected_symlinks`).
pub(crate) fn check_link(path: &Path, link: &fs::Metadata, dir: &Path) -> Result<()> {
    if !is_shared(dir) {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let dir_owner = fs::metadata(dir).map(|m| m.uid()).unwrap_or(u32::MAX);
    if link.uid() != me && link.uid() != dir_owner {
        return Err(unsafe_path(
            path,
            &format!(
                "is a symlink owned by another user (uid {}) in a shared directory; refusing to follow it",
                link.uid()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_directories_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::os::unix::fs::symlink("nowhere", &p).unwrap();
        assert_eq!(check(&p, true).unwrap(), Open::Follow);
    }

    #[test]
    fn shared_directory_refuses_dangling_link_and_uses_nofollow() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        let p = dir.path().join("dangling");
        std::os::unix::fs::symlink("nowhere", &p).unwrap();
        let err = check(&p, true).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
        assert_eq!(check(&p, false).unwrap(), Open::Follow);
        assert_eq!(
            check(&dir.path().join("new"), true).unwrap(),
            Open::NoFollow
        );
        fs::write(dir.path().join("real"), "1").unwrap();
        let own = dir.path().join("own");
        std::os::unix::fs::symlink("real", &own).unwrap();
        assert_eq!(check(&own, true).unwrap(), Open::Follow);
    }
}
