//! A lock's status, whatever holds it: a backend lists who holds the lock and who waits (its holder listing); this module says what state that is, and what a status shows beside it — a semaphore's slots, the document.
//!
//! The file backend's listing is the kernel's lock table ([`holders`]), read
//! by [`Status::of_file`]; jlock-etcd builds the same [`Status`] from its
//! queue keys. A front end renders a `Status` the same way for both.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Operation, Result};
use crate::holders::{holders, Holder};
use crate::lock::{LockMode, Wait};
use crate::semaphore::Semaphore;
use crate::store::Store;

/// What a lock's holders make of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds it.
    Free,
    /// One or more shared holders hold it.
    Shared,
    /// An exclusive holder holds it.
    Exclusive,
}

impl LockState {
    /// `free`, `shared` or `exclusive`.
    pub fn name(self) -> &'static str {
        match self {
            LockState::Free => "free",
            LockState::Shared => LockMode::Shared.name(),
            LockState::Exclusive => LockMode::Exclusive.name(),
        }
    }
}

/// Who holds one lock and who waits for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queue {
    /// The holders.
    pub holders: Vec<Holder>,
    /// The waiters, in the order the backend lists them (etcd: the order
    /// they will be served).
    pub waiters: Vec<Holder>,
}

impl Queue {
    /// A backend's holder listing, split into holders and waiters
    /// ([`Holder::waiting`]), each in the listing's order.
    pub fn from_listing(listing: impl IntoIterator<Item = Holder>) -> Queue {
        let (waiters, holders) = listing.into_iter().partition(|h| h.waiting);
        Queue { holders, waiters }
    }

    /// Free, or held in the first holder's mode.
    pub fn state(&self) -> LockState {
        match self.holders.first().map(|h| h.mode) {
            None => LockState::Free,
            Some(LockMode::Shared) => LockState::Shared,
            Some(LockMode::Exclusive) => LockState::Exclusive,
        }
    }
}

/// A semaphore's slots (`run --slots N`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Slots {
    /// How many slots there are.
    pub count: usize,
    /// Who holds a slot (with [`Holder::slot`] where the backend knows
    /// which), and who waits for one.
    pub queue: Queue,
    /// For each slot, its lock file, where slots are files.
    pub files: Vec<PathBuf>,
}

impl Slots {
    /// How many slots are held.
    pub fn held(&self) -> usize {
        let mut slots: Vec<usize> = self.queue.holders.iter().filter_map(|h| h.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        // A backend that does not say which slot a holder has: one each.
        let unplaced = self
            .queue
            .holders
            .iter()
            .filter(|h| h.slot.is_none())
            .count();
        (slots.len() + unplaced).min(self.count)
    }

    /// True if every slot is held: a new holder would wait.
    pub fn is_full(&self) -> bool {
        self.held() >= self.count
    }
}

/// The document beside a lock: a data file, or an etcd key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentInfo {
    /// The data file, where the document is one.
    pub path: Option<PathBuf>,
    /// False if there is no document yet (it reads as `null`).
    pub exists: bool,
    /// Its size.
    pub bytes: u64,
    /// When it last changed, where the backend records that.
    pub modified: Option<SystemTime>,
    /// Its revision, where the backend keeps one (etcd's mod revision).
    pub revision: Option<i64>,
    /// Whether a journal record awaits replay, in words (files).
    pub journal: Option<&'static str>,
}

impl DocumentInfo {
    /// A document that is not a file: whether it `exists`, its size and its
    /// revision.
    pub fn new(exists: bool, bytes: u64, revision: Option<i64>) -> DocumentInfo {
        DocumentInfo {
            exists,
            bytes,
            revision,
            ..DocumentInfo::default()
        }
    }
}

/// Everything `jlock status` shows about one target, whatever holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The target, as the user named it (a path, an `etcd://` URL).
    pub target: String,
    /// The lock file, where the lock is one.
    pub lock_file: Option<PathBuf>,
    /// False if the lock has never been made here: no lock file (or slot
    /// files, or etcd keys). Such a lock is free.
    pub exists: bool,
    /// The lock (`run`, and the data commands' lock).
    pub lock: Queue,
    /// The semaphore of the same name, where the backend keeps one beside
    /// each lock (etcd; `count` 0 if it has no holder or waiter), or where
    /// the target is one (files: `PATH.slot0`, …).
    pub slots: Option<Slots>,
    /// The document of the same name, where there is one to show.
    pub document: Option<DocumentInfo>,
    /// The fair queue (`--fair`, [`crate::LockFile::fair`]): its live
    /// waiters and holders, in arrival order (files only; empty if none).
    pub fair: Vec<crate::fair::FairWaiter>,
}

impl Status {
    /// True if a new holder would get it now: the lock has no holder (or,
    /// for a semaphore with no lock, a slot is free).
    pub fn is_free(&self) -> bool {
        let lock_unused = self.lock.holders.is_empty() && self.lock.waiters.is_empty();
        match &self.slots {
            Some(s) if s.count > 0 && lock_unused => !s.is_full(),
            _ => self.lock.holders.is_empty(),
        }
    }

    /// The status of `path` on this machine, from the kernel's lock table: a
    /// lock file; a data file (one whose `FILE.lock` exists, or given
    /// `lock_file`), with its size, last change and journal; or the base
    /// name of a `--slots` lock (`PATH.slot0`, … exist), with each slot's
    /// holder. Nothing is created. A file that does not exist is free; a
    /// directory that does not exist is an error.
    pub fn of_file(path: &Path, lock_file: Option<&Path>) -> Result<Status> {
        let sidecar = Store::builder(path).default_lock_path();
        let data = lock_file.is_some() || sidecar.exists();
        let lock_path = match (lock_file, data) {
            (Some(l), _) => l.to_path_buf(),
            (None, true) => sidecar,
            (None, false) => path.to_path_buf(),
        };
        let target = path.display().to_string();
        if !data && !path.exists() && Semaphore::slot_path(path, 0).exists() {
            return slots_of_files(path, target);
        }
        let lock = Queue::from_listing(holders(&lock_path)?);
        let exists = lock_path.exists();
        let fair = crate::fair::waiters(&lock_path)?;
        let document = data
            .then(|| document_of_file(path, &lock_path))
            .transpose()?;
        Ok(Status {
            target,
            lock_file: Some(lock_path),
            exists,
            lock,
            slots: None,
            document,
            fair,
        })
    }
}

/// The status of a `run --slots` lock: its slot files `PATH.slot0`, … and
/// who holds each.
fn slots_of_files(path: &Path, target: String) -> Result<Status> {
    let mut slots = Slots::default();
    // Slot files are made 0..N by `run --slots N` (N ≤ 65535).
    for i in 0..=usize::from(u16::MAX) {
        let file = Semaphore::slot_path(path, i);
        if !file.exists() {
            break;
        }
        for mut h in holders(&file)? {
            h.slot = Some(i);
            match h.waiting {
                true => slots.queue.waiters.push(h),
                false => slots.queue.holders.push(h),
            }
        }
        slots.files.push(file);
    }
    slots.count = slots.files.len();
    let fair = crate::fair::waiters(path)?;
    Ok(Status {
        target,
        lock_file: None,
        exists: true,
        lock: Queue::default(),
        slots: Some(slots),
        document: None,
        fair,
    })
}

/// Size, last change and journal state of a data file.
fn document_of_file(path: &Path, lock_path: &Path) -> Result<DocumentInfo> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(DocumentInfo {
                path: Some(path.to_path_buf()),
                journal: Some("none"),
                ..DocumentInfo::default()
            })
        }
        Err(e) => return Err(Error::io(Operation::Stat, path, e)),
    };
    Ok(DocumentInfo {
        path: Some(path.to_path_buf()),
        exists: true,
        bytes: meta.len(),
        modified: meta.modified().ok(),
        revision: None,
        journal: Some(journal_state(path, lock_path)?),
    })
}

/// Whether a journal record awaits replay, in words.
fn journal_state(path: &Path, lock_path: &Path) -> Result<&'static str> {
    if !lock_path.exists() {
        // Opening a store would create the lock file; a status creates nothing.
        return Ok("unknown: no lock file yet");
    }
    let unreadable = "unknown: this user may not open the lock file or the data file";
    let denied = |e: &Error| matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied);
    let store = match Store::builder(path)
        .lock_path(lock_path)
        .wait(Wait::NoWait)
        .open()
    {
        Ok(store) => store,
        // Another user's lock file (0600, say): its holders are still
        // listed, from the kernel's table; only this is unknown.
        Err(e) if denied(&e) => return Ok(unreadable),
        Err(e) => return Err(e),
    };
    // Looking needs the shared lock; a status must not wait for it.
    Ok(match store.replay_pending() {
        Ok(true) => "awaiting replay (a writer was killed; the next one repairs the file)",
        Ok(false) => "nothing to replay",
        Err(Error::LockConflict { .. }) => "unknown while the lock is held exclusively",
        Err(e) if denied(&e) => unreadable,
        Err(e) => return Err(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32, mode: LockMode, waiting: bool) -> Holder {
        Holder::new(pid, mode, waiting, String::new())
    }

    #[test]
    fn the_state_follows_the_listing() {
        assert_eq!(Queue::from_listing([]).state(), LockState::Free);
        let q = Queue::from_listing([
            holder(1, LockMode::Exclusive, true),
            holder(2, LockMode::Shared, false),
            holder(3, LockMode::Shared, false),
        ]);
        assert_eq!(q.state(), LockState::Shared);
        assert_eq!((q.holders.len(), q.waiters[0].pid), (2, 1));
        let only_waiting = Status {
            lock: Queue::from_listing([holder(1, LockMode::Exclusive, true)]),
            ..Status::default()
        };
        assert!(only_waiting.is_free());
    }

    #[test]
    fn slots_are_full_when_every_slot_is_held() {
        let mut a = holder(1, LockMode::Exclusive, false);
        a.slot = Some(0);
        let mut s = Slots {
            count: 2,
            queue: Queue::from_listing([a.clone()]),
            files: Vec::new(),
        };
        let status = |s: &Slots| Status {
            slots: Some(s.clone()),
            ..Status::default()
        };
        assert!((s.held(), s.is_full(), status(&s).is_free()) == (1, false, true));
        a.slot = Some(1);
        s.queue.holders.push(a);
        assert!((s.held(), s.is_full(), status(&s).is_free()) == (2, true, false));
    }
}
