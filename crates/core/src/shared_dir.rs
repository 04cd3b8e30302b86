//! Who is trusted in a shared directory: in a world-writable directory (with
//! the sticky bit, like `/tmp`, or without it), anyone can plant a symbolic
//! link or a file where jlock is about to open or create one.
//!
//! The rules (docs/design.md, "Who is trusted in a shared directory"):
//! * a symlink in a shared directory is followed only if this user or the
//!   directory's owner made it (Linux's `protected_symlinks` rule) — for every
//!   component of a path, not only the last;
//! * no file is created through a dangling symlink in a shared directory;
//! * files jlock creates are opened with `O_NOFOLLOW`, so a link swapped in
//!   after a check makes the open fail rather than redirect it;
//! * a journal or temporary file not owned by the data file's owner (or,
//!   before the data file exists, by this user) is never trusted.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Operation, Result};

/// How a path that passed [`check`] is to be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    /// Follow symlinks as usual: not a shared directory, or a link we trust.
    Follow,
    /// Add `O_NOFOLLOW`: a shared directory, and the path is not a symlink.
    NoFollow,
}

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// True if `dir` is world-writable — with the sticky bit (like `/tmp`) or
/// without it, where anyone may plant (and also delete or rename) anything.
fn is_shared(dir: &Path) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.mode() & 0o002 != 0)
}

/// The directory a path's last component sits in (`.` for a bare name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks `path` before it is opened, `creating` if it may be created:
/// every directory on the way, then the last component.
pub(crate) fn check(path: &Path, creating: bool) -> Result<Open> {
    check_directories(path)?;
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
        return Err(Error::unsafe_path(
            path,
            "is a dangling symlink in a shared directory; refusing to create a file through it",
            Some(link.uid()),
        ));
    }
    Ok(Open::Follow)
}

/// Applies [`check_link`] to every symlink among the directories of `path`
/// (not its last component), resolving each as the kernel would.
fn check_directories(path: &Path) -> Result<()> {
    let Some(dirs) = path.parent() else {
        return Ok(());
    };
    if dirs.as_os_str().is_empty() {
        return Ok(());
    }
    let mut hops = 0;
    walk(dirs, &mut hops).map(drop)
}

/// Resolves the symlinks of `path` component by component, checking each
/// with [`check_link`]; returns the path with them resolved (components
/// that do not exist are kept as they are). `hops` counts links followed.
fn walk(path: &Path, hops: &mut u32) -> Result<PathBuf> {
    let mut cur = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {
                cur.push(comp.as_os_str())
            }
            Component::ParentDir => cur.push(".."),
            Component::Normal(name) => {
                let next = cur.join(name);
                match fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        let dir = if cur.as_os_str().is_empty() {
                            PathBuf::from(".")
                        } else {
                            cur.clone()
                        };
                        let target = follow(&next, &meta, &dir, hops, path)?;
                        cur = walk(&target, hops)?;
                    }
                    _ => cur = next,
                }
            }
        }
    }
    Ok(cur)
}

/// One link followed: counted against [`MAX_LINKS`] (an error naming
/// `whole`, the path being resolved), checked with [`check_link`], and its
/// target joined to `dir`, the link's directory.
fn follow(
    link: &Path,
    meta: &fs::Metadata,
    dir: &Path,
    hops: &mut u32,
    whole: &Path,
) -> Result<PathBuf> {
    *hops += 1;
    if *hops > MAX_LINKS {
        return Err(too_many_links(whole));
    }
    check_link(link, meta, dir)?;
    let target = fs::read_link(link).at(Operation::ResolveLink, link)?;
    Ok(dir.join(target))
}

/// The kernel's own limit on symlinks followed in one lookup (`ELOOP`).
const MAX_LINKS: u32 = 40;

fn too_many_links(path: &Path) -> Error {
    let loop_err = io::Error::other("too many levels of symbolic links");
    Error::io(Operation::ResolveLink, path, loop_err)
}

/// Follows symbolic links from `path` to the file they finally name, which
/// need not exist yet, checking every link on the way — in the directories
/// and in the last component — with [`check_link`]. Relative link targets
/// resolve against the link's directory. Gives up after 40 links, as the
/// kernel does. A dangling link in a shared directory is refused: an update
/// would create the file it names.
pub(crate) fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut hops = 0;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => walk(d, &mut hops)?,
        _ => PathBuf::new(),
    };
    let Some(name) = path.file_name() else {
        return Ok(path.to_path_buf());
    };
    let mut cur = dir.join(name);
    loop {
        match fs::symlink_metadata(&cur) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let dir = parent(&cur).to_path_buf();
                let next = follow(&cur, &meta, &dir, &mut hops, path)?;
                let next = match (next.parent(), next.file_name()) {
                    (Some(d), Some(n)) if !d.as_os_str().is_empty() => walk(d, &mut hops)?.join(n),
                    _ => next,
                };
                if fs::symlink_metadata(&next).is_err() {
                    // A dangling link: an update would create the file it
                    // names — refused in a shared directory.
                    check(&cur, true)?;
                }
                cur = next;
            }
            Ok(_) => return Ok(cur),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cur),
            Err(e) => return Err(Error::io(Operation::ResolveLink, &cur, e)),
        }
    }
}

/// Refuses a symlink in a shared directory that neither this user nor the
/// directory's owner made (the rule of Linux's `protected_symlinks`).
pub(crate) fn check_link(path: &Path, link: &fs::Metadata, dir: &Path) -> Result<()> {
    if !is_shared(dir) {
        return Ok(());
    }
    let dir_owner = fs::metadata(dir).map(|m| m.uid()).unwrap_or(u32::MAX);
    if link.uid() != euid() && link.uid() != dir_owner {
        let what = if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            "is a symlink to a directory"
        } else {
            "is a symlink"
        };
        return Err(Error::unsafe_path(
            path,
            format!(
                "{what} owned by another user (uid {}) in a shared directory; refusing to follow it",
                link.uid()
            ),
            Some(link.uid()),
        ));
    }
    Ok(())
}

/// Refuses a file that jlock keeps beside a data file (a journal, a
/// temporary file) when it was not made by `owner` — the data file's owner,
/// or this user if there is no data file yet — or is not a regular file.
/// `what` names the kind of file in the message.
pub(crate) fn check_owned(path: &Path, meta: &fs::Metadata, owner: u32, what: &str) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(Error::unsafe_path(
            path,
            format!(
                "the {what} is a symlink (owned by uid {}); jlock never follows one there",
                meta.uid()
            ),
            Some(meta.uid()),
        ));
    }
    if !meta.is_file() {
        return Err(Error::unsafe_path(
            path,
            format!(
                "the {what} is not a regular file (owned by uid {})",
                meta.uid()
            ),
            Some(meta.uid()),
        ));
    }
    if meta.uid() != owner {
        return Err(Error::unsafe_path(
            path,
            format!(
                "the {what} is owned by uid {}, not by the data file's owner (uid {owner}); \
                 refusing to trust it",
                meta.uid()
            ),
            Some(meta.uid()),
        ));
    }
    Ok(())
}

/// The owner the files beside `data` must have: the data file's owner, or
/// this user if it does not exist yet.
pub(crate) fn expected_owner(data: Option<&crate::file_info::FileInfo>) -> u32 {
    data.map_or_else(euid, |m| m.uid)
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

    #[test]
    fn links_are_resolved_through_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("../real/f.json", real.join("link.json")).unwrap();
        let got = resolve_links(&dir.path().join("sub/link.json")).unwrap();
        assert_eq!(
            fs::canonicalize(got.parent().unwrap()).unwrap(),
            fs::canonicalize(&real).unwrap()
        );
        assert_eq!(got.file_name().unwrap(), "f.json");
    }

    #[test]
    fn a_file_of_another_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".x.jlock-journal");
        fs::write(&p, "").unwrap();
        let meta = fs::symlink_metadata(&p).unwrap();
        check_owned(&p, &meta, meta.uid(), "journal").unwrap();
        let err = check_owned(&p, &meta, meta.uid() + 1, "journal").unwrap_err();
        assert!(
            matches!(err, Error::UnsafePath { owner: Some(_), .. }),
            "{err:?}"
        );
    }
}
