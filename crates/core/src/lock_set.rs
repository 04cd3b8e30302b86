//! Several locks taken together: all of them or none, in one canonical order (by device and inode) so that holders naming the same locks in different orders cannot deadlock, within one deadline for the whole set.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::claim::Claim;
use crate::error::{Error, Result};
use crate::lock::{LockFile, LockGuard, LockMode, Wait};

/// Lock files taken and released together.
///
/// Every process that takes a set takes its locks in the same order — that
/// of the files' device and inode numbers, whatever order and whatever
/// names (a symlink, `./x` and `x`) it was given them in — so two sets that
/// share locks cannot each hold one the other waits for: no deadlock. One
/// file named twice is locked once.
///
/// ```
/// use jlock_core::{LockMode, LockSet, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (dir.path().join("a.lock"), dir.path().join("b.lock"));
/// let mut set = LockSet::open([&b, &a])?;
/// let held = set.lock(LockMode::Exclusive, Wait::Block)?;
/// // Another set naming one of them cannot get it, and holds nothing.
/// let mut other = LockSet::open([&a])?;
/// assert!(other.lock(LockMode::Exclusive, Wait::NoWait).unwrap_err().is_lock_contention());
/// drop(held);
/// assert!(other.lock(LockMode::Exclusive, Wait::NoWait).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LockSet {
    /// In canonical order, one per file.
    files: Vec<LockFile>,
    /// Each file's device and inode when the set was ordered.
    ids: Vec<(u64, u64)>,
    /// Each file's place in the list the set was opened with (the first
    /// place, for a file named twice).
    named: Vec<usize>,
}

impl LockSet {
    /// Opens (creating if needed) every lock file in `paths`, as
    /// [`LockFile::open`] does, and puts them in the canonical order.
    pub fn open<I, P>(paths: I) -> Result<LockSet>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut files = Vec::new();
        for path in paths {
            files.push(LockFile::open(path.as_ref())?);
        }
        let mut set = LockSet {
            named: (0..files.len()).collect(),
            files,
            ids: Vec::new(),
        };
        set.order()?;
        Ok(set)
    }

    /// Puts the files in the order of the inodes they have open now, one
    /// per inode.
    fn order(&mut self) -> Result<()> {
        let mut files = Vec::with_capacity(self.files.len());
        for (lock, named) in self.files.drain(..).zip(self.named.drain(..)) {
            files.push(((lock.file_id()?, named), lock));
        }
        // By inode, and for one inode named twice, its first place first:
        // the one `dedup` keeps.
        files.sort_by_key(|(key, _)| *key);
        files.dedup_by_key(|((id, _), _)| *id);
        let (keys, locks): (Vec<_>, Vec<_>) = files.into_iter().unzip();
        (self.ids, self.named) = keys.into_iter().unzip();
        self.files = locks;
        Ok(())
    }

    /// Lets `token` end this set's waits from another thread, as
    /// [`LockFile::interrupt`] does for each of its locks: the wait fails
    /// with [`Error::Interrupted`], holding none of them.
    pub fn interrupt(&mut self, token: &crate::Interrupt) -> &mut LockSet {
        for file in &mut self.files {
            file.interrupt(token);
        }
        self
    }

    /// The lock files, in the order they are taken.
    pub fn lock_files(&self) -> impl Iterator<Item = &LockFile> {
        self.files.iter()
    }

    /// Takes every lock in `mode`, in the canonical order, waiting as `wait`
    /// says for the whole set: [`Wait::Timeout`] is one deadline for all of
    /// them. On a conflict or a time-out every lock taken so far is released
    /// and the error names the lock that was held: all or none.
    pub fn lock(&mut self, mode: LockMode, wait: Wait) -> Result<LockSetGuard<'_>> {
        self.lock_with(mode, wait, |_| {})
    }

    /// [`LockSet::lock`], calling `on_wait` with a lock's path when its
    /// first attempt finds it held and the set is about to wait for it.
    pub fn lock_with(
        &mut self,
        mode: LockMode,
        wait: Wait,
        mut on_wait: impl FnMut(&Path),
    ) -> Result<LockSetGuard<'_>> {
        let start = Instant::now();
        let claims = loop {
            match self.one_pass(mode, wait, start, &mut on_wait)? {
                Some(claims) => break claims,
                // A lock file was replaced while the set waited: its lock
                // is now on an inode that sorts elsewhere. Nothing is held;
                // order again, and start over within the same deadline.
                None => self.order()?,
            }
        };
        let guards = self
            .files
            .iter_mut()
            .zip(claims)
            .map(|(lock, claim)| lock.guard(mode, claim))
            .collect();
        Ok(LockSetGuard {
            guards,
            named: self.named.clone(),
        })
    }

    /// Takes the locks in order: `Some` with every one held (and each
    /// exclusive lock's claim), or `None` with none held if a lock, once
    /// taken, is on another inode than the one the set was ordered by (its
    /// file was deleted or replaced, and [`LockFile`] took the new one):
    /// keeping it would break the order every holder relies on.
    fn one_pass(
        &mut self,
        mode: LockMode,
        wait: Wait,
        start: Instant,
        on_wait: &mut impl FnMut(&Path),
    ) -> Result<Option<Vec<Option<Claim>>>> {
        let mut held: Vec<Option<Claim>> = Vec::with_capacity(self.files.len());
        for i in 0..self.files.len() {
            let this = match wait {
                Wait::Timeout(limit) => match limit.checked_sub(start.elapsed()) {
                    Some(left) if !left.is_zero() => Wait::Timeout(left),
                    _ => Wait::NoWait,
                },
                other => other,
            };
            let path = self.files[i].path().to_path_buf();
            let taken = self.files[i].acquire(mode, this, || on_wait(&path));
            let failed = match taken {
                Ok(claim) => {
                    held.push(claim);
                    match self.files[i].file_id() {
                        Ok(id) if id == self.ids[i] => continue,
                        Ok(_) => None,
                        Err(e) => Some(e),
                    }
                }
                // The deadline is the set's: a lock reached after it ran
                // out is a time-out of the set, not a conflict.
                Err(Error::LockConflict { path }) if matches!(wait, Wait::Timeout(_)) => {
                    Some(timed_out(path, start.elapsed()))
                }
                Err(Error::LockTimeout { path, .. }) => Some(timed_out(path, start.elapsed())),
                Err(e) => Some(e),
            };
            // Every lock taken so far is released before anything else.
            for (lock, claim) in self.files.iter_mut().zip(held) {
                drop(lock.guard(mode, claim));
            }
            return match failed {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        Ok(Some(held))
    }
}

fn timed_out(path: std::path::PathBuf, waited: Duration) -> Error {
    Error::LockTimeout { path, waited }
}

/// Every lock of a [`LockSet`], held; dropping it releases them all.
#[derive(Debug)]
pub struct LockSetGuard<'a> {
    guards: Vec<LockGuard<'a>>,
    /// Each guard's place in the list the set was opened with.
    named: Vec<usize>,
}

impl<'a> LockSetGuard<'a> {
    /// The locks held, in the order they were taken.
    pub fn guards_mut(&mut self) -> &mut [LockGuard<'a>] {
        &mut self.guards
    }

    /// Where, in [`LockSetGuard::guards_mut`], the lock of the file named
    /// first when the set was opened is (the one whose fence a holder of
    /// the set hands on, say).
    pub fn first_named(&self) -> Option<usize> {
        self.named.iter().position(|n| *n == 0)
    }

    /// Every lock's descriptors ([`LockGuard::into_fds`]), to hand on to a
    /// child process that is to hold the whole set.
    pub fn into_fds(self) -> Result<Vec<OwnedFd>> {
        let mut fds = Vec::new();
        for g in self.guards {
            fds.extend(g.into_fds()?);
        }
        Ok(fds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_named_twice_is_locked_once_and_the_order_is_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "").unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("link-to-a")).unwrap();
        let one = LockSet::open([&b, &a, &dir.path().join("link-to-a")]).unwrap();
        let two = LockSet::open([&a, &b]).unwrap();
        assert_eq!(one.files.len(), 2);
        let ids = |s: &LockSet| -> Vec<(u64, u64)> {
            s.files.iter().map(|l| l.file_id().unwrap()).collect()
        };
        assert_eq!(ids(&one), ids(&two));
        let mut one = one;
        let mut held = one.lock(LockMode::Exclusive, Wait::NoWait).unwrap();
        // The file named first is b, wherever it sorts.
        let first = held.first_named().unwrap();
        assert_eq!(held.guards_mut()[first].lock_file().path(), b);
    }

    #[test]
    fn a_conflict_releases_what_was_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut only_b = LockSet::open([&b]).unwrap();
        let held_b = only_b.lock(LockMode::Exclusive, Wait::NoWait).unwrap();
        let mut both = LockSet::open([&a, &b]).unwrap();
        let err = both
            .lock(
                LockMode::Exclusive,
                Wait::Timeout(Duration::from_millis(50)),
            )
            .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
        // a was taken before b (or after): either way it is free again.
        let mut only_a = LockSet::open([&a]).unwrap();
        assert!(only_a.lock(LockMode::Exclusive, Wait::NoWait).is_ok());
        drop(held_b);
    }
}
