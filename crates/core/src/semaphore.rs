//! A counting semaphore across processes: N lock files, of which a holder
//! takes any one that is free — at most N holders at once.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::claim::Claim;
use crate::error::{Error, Result};
use crate::lock::{LockFile, LockGuard, LockMode, Wait};
use crate::names;

/// At most `n` holders at once, across processes (like `sem -j N`).
///
/// The slots are the lock files `<base>.slot0` … `<base>.slot<n-1>`; a
/// holder takes an exclusive lock on one of them. Every process must use the
/// same `base` and `n`. As with [`LockFile`], the kernel frees a slot when
/// its holder dies.
///
/// ```
/// use jlock_core::{Semaphore, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let base = dir.path().join("heavy-builds");
/// let mut a = Semaphore::open(&base, 2)?;
/// let mut b = Semaphore::open(&base, 2)?;
/// let mut c = Semaphore::open(&base, 2)?;
/// let _first = a.acquire(Wait::Block)?;
/// let _second = b.acquire(Wait::Block)?;
/// assert!(c.acquire(Wait::NoWait).is_err()); // both slots taken
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    base: PathBuf,
    slots: Vec<LockFile>,
    next: usize,
    interrupt: Option<crate::Interrupt>,
    fair: bool,
}

impl Semaphore {
    /// Opens (creating if needed) the `n` slot lock files of `base`.
    pub fn open<P: AsRef<Path>>(base: P, n: usize) -> Result<Semaphore> {
        let base = base.as_ref().to_path_buf();
        let slots = (0..n.max(1))
            .map(|i| LockFile::open(names::slot_of(&base, i)))
            .collect::<Result<Vec<_>>>()?;
        // Start the search at a different slot in each process, so that
        // concurrent acquirers do not all contend for slot 0 first.
        let next = std::process::id() as usize % slots.len();
        Ok(Semaphore {
            base,
            slots,
            next,
            interrupt: None,
            fair: false,
        })
    }

    /// Lets `token` end this semaphore's waits from another thread: the
    /// wait fails with [`Error::Interrupted`] (naming `<base>.slot*`),
    /// holding no slot. See [`crate::Interrupt`].
    pub fn interrupt(&mut self, token: &crate::Interrupt) -> &mut Semaphore {
        for slot in &mut self.slots {
            slot.interrupt(token);
        }
        self.interrupt = Some(token.clone());
        self
    }

    /// Makes this semaphore's waits first come, first served among fair
    /// waiters, as [`LockFile::fair`] does for a lock: a waiter takes a
    /// slot once fewer than N fair waiters that came before it are still
    /// waiting or holding. The queue is `<base>.queue/`; between two counts
    /// a waiter watches it with inotify (it polls where there is none).
    pub fn fair(&mut self, yes: bool) -> &mut Semaphore {
        self.fair = yes;
        self
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Slot `i`'s lock file of the semaphore named after `base`:
    /// `<base>.slot<i>`.
    pub fn slot_path(base: &Path, i: usize) -> PathBuf {
        names::slot_of(base, i)
    }

    /// The slots' lock files.
    pub fn slot_paths(&self) -> Vec<PathBuf> {
        self.slots.iter().map(|s| s.path().to_path_buf()).collect()
    }

    /// Takes a free slot, waiting as `wait` says.
    ///
    /// Waiting polls every slot with a short back-off (0.5 ms, doubling up
    /// to 20 ms): `flock(2)` can block on one file, not on any of N.
    /// Errors are those of [`LockFile::lock`], naming `<base>.slot*`.
    pub fn acquire(&mut self, wait: Wait) -> Result<SemaphoreGuard<'_>> {
        self.acquire_with(wait, || {})
    }

    /// Takes a free slot if there is one; [`Error::LockConflict`] if every
    /// slot is taken (as `acquire(Wait::NoWait)`, and as
    /// [`LockFile::try_lock_exclusive`]).
    pub fn try_acquire(&mut self) -> Result<SemaphoreGuard<'_>> {
        self.acquire(Wait::NoWait)
    }

    /// As [`Semaphore::acquire`], but calls `on_wait` once, before waiting,
    /// if every slot is taken and `wait` allows waiting.
    pub fn acquire_with(
        &mut self,
        wait: Wait,
        on_wait: impl FnOnce(),
    ) -> Result<SemaphoreGuard<'_>> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(500);
        let mut on_wait = Some(on_wait);
        let mut ticket = None;
        if self.fair {
            if self
                .interrupt
                .as_ref()
                .is_some_and(crate::Interrupt::is_interrupted)
            {
                return Err(Error::Interrupted {
                    path: names::slots_pattern(&self.base),
                });
            }
            ticket = Some(crate::fair::take_turn(
                &self.base,
                LockMode::Exclusive,
                Some(self.slots.len()),
                wait,
                start,
                self.interrupt.as_ref(),
                &mut on_wait,
            )?);
        }
        // The pauses between two rounds end early on an interrupt.
        // (`_awake` keeps the channel open, so that a pause is a pause even
        // with no token.)
        let (wake, woken) = mpsc::channel::<()>();
        let _awake = wake.clone();
        let _registered = self.interrupt.as_ref().map(|token| {
            token.on_interrupt(move || {
                let _ = wake.send(());
            })
        });
        let pattern = names::slots_pattern(&self.base);
        let sleep = |pause: Duration| match woken.recv_timeout(pause) {
            Ok(()) => Err(Error::Interrupted {
                path: pattern.clone(),
            }),
            Err(_) => Ok(()),
        };
        loop {
            if let Some((i, claim)) = self.try_any()? {
                let guard = self.slots[i].guard(LockMode::Exclusive, claim);
                return Ok(SemaphoreGuard {
                    guard,
                    slot: i,
                    ticket,
                });
            }
            if wait != Wait::NoWait {
                if let Some(f) = on_wait.take() {
                    f();
                }
            }
            let waited = start.elapsed();
            match wait {
                Wait::NoWait => {
                    return Err(Error::LockConflict {
                        path: pattern.clone(),
                    })
                }
                Wait::Timeout(limit) if waited >= limit => {
                    return Err(Error::LockTimeout {
                        path: pattern.clone(),
                        waited,
                    })
                }
                Wait::Timeout(limit) => sleep(pause.min(limit - waited))?,
                _ => sleep(pause)?,
            }
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The index of a slot this call locked, if any was free, with the
    /// claim on its name.
    fn try_any(&mut self) -> Result<Option<(usize, Option<Claim>)>> {
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            // As a lock: checked to be the file its path names, and claimed.
            match self.slots[i].acquire(LockMode::Exclusive, Wait::NoWait, || {}) {
                Ok(claim) => {
                    self.next = (i + 1) % n;
                    return Ok(Some((i, claim)));
                }
                Err(Error::LockConflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// The path of slot `i` of `base`; `usize::MAX` gives the pattern
/// `<base>.slot*` for messages.
/// A held slot of a [`Semaphore`]; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    // Dropped in this order: the slot, then the place in the fair queue.
    guard: LockGuard<'a>,
    slot: usize,
    ticket: Option<crate::fair::Ticket>,
}

impl SemaphoreGuard<'_> {
    /// Which slot is held, from 0.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The slot's lock file.
    pub fn lock_file(&self) -> &LockFile {
        self.guard.lock_file()
    }

    /// Turns the slot into descriptors of its own, to hand on to child
    /// processes: see [`LockGuard::into_fds`].
    pub fn into_fds(self) -> Result<Vec<std::os::fd::OwnedFd>> {
        let mut fds = self.guard.into_fds()?;
        if let Some(ticket) = self.ticket {
            fds.push(ticket.into_fd()?);
        }
        Ok(fds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_holders_and_a_freed_slot_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("s");
        let mut sems: Vec<Semaphore> = (0..3).map(|_| Semaphore::open(&base, 2).unwrap()).collect();
        let (first, rest) = sems.split_at_mut(1);
        let (second, third) = rest.split_at_mut(1);
        let g1 = first[0].acquire(Wait::NoWait).unwrap();
        let g2 = second[0].acquire(Wait::NoWait).unwrap();
        assert_ne!(g1.slot(), g2.slot());
        let err = third[0]
            .acquire(Wait::Timeout(Duration::from_millis(30)))
            .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
        assert!(err.to_string().contains("s.slot*"), "{err}");
        let err = third[0].try_acquire().unwrap_err();
        assert!(matches!(err, Error::LockConflict { .. }), "{err:?}");
        let freed = g1.slot();
        drop(g1);
        assert_eq!(third[0].try_acquire().unwrap().slot(), freed);
        drop(g2);
    }

    #[test]
    fn an_interrupt_ends_a_wait_for_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("i");
        let mut a = Semaphore::open(&base, 1).unwrap();
        let _held = a.acquire(Wait::NoWait).unwrap();
        let token = crate::Interrupt::new();
        let (b2, t) = (base.clone(), token.clone());
        let (started_tx, started) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut b = Semaphore::open(&b2, 1).unwrap();
            b.interrupt(&t);
            b.acquire_with(Wait::Block, || {
                let _ = started_tx.send(());
            })
            .map(|g| g.slot())
        });
        started.recv_timeout(Duration::from_secs(20)).unwrap();
        token.interrupt();
        let got = waiter.join().unwrap();
        assert!(matches!(got, Err(Error::Interrupted { .. })), "{got:?}");
    }
}
