//! The names of the files jlock keeps for a data file or a lock: the sidecar
//! lock `<data>.lock`, the journal `.<name>.jlock-journal` and the temporary
//! file `.<name>.jlock-tmp` beside the data file, and a semaphore's slots
//! `<base>.slot<i>`. One module, so every part of jlock agrees on them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The default lock file of a data file: `<data file>.lock` beside it.
pub(crate) fn lock_of(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// `.<name><suffix>` beside `target`: the hidden files jlock keeps there.
fn hidden_beside(target: &Path, suffix: &str) -> OsString {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(suffix);
    name
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
        assert_eq!(
            slot_of(Path::new("/tmp/heavy"), 3),
            Path::new("/tmp/heavy.slot3")
        );
    }
}
