//! The names of the files jlock keeps for a data file or a lock: the sidecar
//! lock `<data>.lock`, the journal `.<name>.jlock-journal` and the temporary
//! file `.<name>.jlock-tmp` beside the data file, and a semaphore's slots
//! `<base>.slot<i>`. One module, so every part of jlock agrees on them —
//! and on how a hidden name too long for a directory entry is shortened.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The default lock file of a data file: `<data file>.lock` beside it.
pub(crate) fn lock_of(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// The longest file name a directory entry may have (`NAME_MAX` on Linux
/// and the BSDs, for every common file system).
pub(crate) const NAME_MAX: usize = 255;

/// `.<name><suffix>` beside `target`: the hidden files jlock keeps there.
/// When that would be longer than [`NAME_MAX`], the name is cut and a hash
/// of the whole name put in its place (`.<start of name>~<hash><suffix>`),
/// so every process derives the same name, and it fits.
fn hidden_beside(target: &Path, suffix: &str) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let file = target.file_name().unwrap_or_default().as_bytes();
    let mut name = Vec::with_capacity(1 + file.len() + suffix.len());
    name.push(b'.');
    if 1 + file.len() + suffix.len() <= NAME_MAX {
        name.extend_from_slice(file);
    } else {
        let hash = format!("~{:016x}", fnv1a(file, FNV_BASIS));
        let keep = NAME_MAX - 1 - hash.len() - suffix.len();
        name.extend_from_slice(&file[..keep]);
        name.extend_from_slice(hash.as_bytes());
    }
    name.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(name)
}

/// FNV-1a's 64-bit offset basis: the usual start of [`fnv1a`].
pub(crate) const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a from `seed` (usually [`FNV_BASIS`]): a hash every jlock
/// build computes alike, for names derived from names.
pub(crate) fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The journal of the data file `target` (symlinks resolved).
pub(crate) fn journal_of(target: &Path) -> PathBuf {
    target.with_file_name(hidden_beside(target, ".jlock-journal"))
}

/// The file name (no directory) of the temporary file that replaces `target`.
pub(crate) fn temp_name_of(target: &Path) -> OsString {
    hidden_beside(target, ".jlock-tmp")
}

/// Slot `i` of the semaphore whose lock files are named after `base`.
pub(crate) fn slot_of(base: &Path, i: usize) -> PathBuf {
    let mut name = base.as_os_str().to_os_string();
    name.push(format!(".slot{i}"));
    PathBuf::from(name)
}

/// All slots of the semaphore named after `base`, for messages: `<base>.slot*`.
pub(crate) fn slots_pattern(base: &Path) -> PathBuf {
    let mut name = base.as_os_str().to_os_string();
    name.push(".slot*");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let data = Path::new("/srv/db.json");
        assert_eq!(lock_of(data), Path::new("/srv/db.json.lock"));
        assert_eq!(journal_of(data), Path::new("/srv/.db.json.jlock-journal"));
        assert_eq!(temp_name_of(data), ".db.json.jlock-tmp");
        // Too long with the prefix and suffix: cut, hashed, and still unique.
        let long = "n".repeat(250);
        for name in [long.clone(), format!("{long}x"), "m".repeat(255)] {
            let data = Path::new("/srv").join(&name);
            for derived in [journal_of(&data), data.with_file_name(temp_name_of(&data))] {
                let n = derived.file_name().unwrap().len();
                assert!(n <= NAME_MAX, "{n}");
            }
        }
        assert_ne!(
            journal_of(&Path::new("/srv").join(&long)),
            journal_of(&Path::new("/srv").join(format!("{long}x")))
        );
        assert_eq!(
            slot_of(Path::new("/tmp/heavy"), 3),
            Path::new("/tmp/heavy.slot3")
        );
    }
}
