//! Interrupting a wait: the [`Interrupt`] token a caller hands to a lock so
//! that another thread can end its wait, and waking a thread blocked in
//! `flock(2)` — which only a signal can do.
//!
//! # The signal
//!
//! A blocking `flock(2)` returns only when the lock is granted or when a
//! signal handler runs in the blocked thread (`EINTR`, if the handler was
//! installed without `SA_RESTART`). jlock-core waits in `flock(2)` on a
//! helper thread of its own ([`spawn`]); to end that wait it sends the
//! thread one private real-time signal, [`Interrupt::signal`] = `SIGRTMAX - 1`,
//! with `pthread_kill(3)` (to that thread only, never to the process).
//!
//! Why `SIGRTMAX - 1`: the real-time signals have no meaning of their own;
//! glibc keeps the lowest ones (below `SIGRTMIN`) for itself, and programs
//! and libraries that use one conventionally count up from `SIGRTMIN`
//! (`SIGRTMIN + n`); `SIGRTMAX` itself is the other end people reach for.
//! `SIGRTMAX - 1` is the least likely to be someone else's.
//!
//! Its handler is installed once per process, and ONLY if the signal's
//! disposition is still the default (`SIG_DFL`): a handler the host program
//! installed is never replaced. The handler does nothing (it is
//! async-signal-safe trivially); it exists so that delivering the signal
//! interrupts the system call instead of killing the process. Before every
//! `pthread_kill` the disposition is checked again to still be ours: if the
//! host replaced it meanwhile, no signal is sent.
//!
//! Two consequences for the host process. Once the handler is installed,
//! `SIGRTMAX - 1` sent to the whole process (`kill -s RTMAX-1 PID`) no
//! longer ends it: it runs the no-op handler. And a host that blocks the
//! signal (to take it with `sigwait(3)` or a `signalfd(2)`) is respected:
//! a helper thread started by a thread that blocks it keeps it blocked, so
//! the signal is never delivered to (and swallowed by) a thread of ours —
//! such a wait cannot be cut short, as below.
//!
//! When the handler is not ours (the host had its own, or replaced ours),
//! a wait cannot be cut short: the helper thread stays blocked in
//! `flock(2)` until the lock is free, then lets it go at once — jlock-core's
//! behaviour before this module existed — and the caller's wait still ends
//! on time (or on interrupt) with the right error.
//!
//! # The race
//!
//! The signal may land just before the helper thread enters `flock(2)`
//! (after it last looked at its cancel flag): the handler runs, and the
//! thread then blocks anyway. So the canceller sets the flag and sends the
//! signal again and again, with a short back-off (50 µs doubling to 5 ms),
//! until the thread says it has left (it looks at the flag after every
//! `EINTR`), for at most [`CANCEL_PATIENCE`]; past that it gives up as in
//! the fallback above.
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A token that ends a wait for a lock from another thread (a Ctrl-C
/// handler, say).
///
/// Give it to the lock before waiting — [`LockFile::interrupt`],
/// [`LockSet::interrupt`], [`Semaphore::interrupt`],
/// [`StoreBuilder::interrupt`] — and call [`Interrupt::interrupt`] from
/// anywhere: the wait ends with [`Error::Interrupted`], holding no lock and
/// leaving no waiter queued in the kernel. A token stays interrupted (every
/// later wait with it ends at once) until [`Interrupt::reset`]. Clones share
/// one state; the token is `Send + Sync`.
///
/// ```
/// use std::time::Duration;
/// use jlock_core::{Error, Interrupt, LockFile, LockMode, Wait};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// let mut holder = LockFile::open(&path)?;
/// let _held = holder.lock(LockMode::Exclusive, Wait::Block)?;
///
/// let token = Interrupt::new();
/// let waiter = {
///     let (path, token) = (path.clone(), token.clone());
///     std::thread::spawn(move || {
///         let mut lock = LockFile::open(&path)?;
///         lock.interrupt(&token);
///         lock.lock(LockMode::Exclusive, Wait::Block).map(|_| ())
///     })
/// };
/// std::thread::sleep(Duration::from_millis(10));
/// token.interrupt();
/// assert!(matches!(waiter.join().unwrap(), Err(Error::Interrupted { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`LockFile::interrupt`]: crate::LockFile::interrupt
/// [`LockSet::interrupt`]: crate::LockSet::interrupt
/// [`Semaphore::interrupt`]: crate::Semaphore::interrupt
/// [`StoreBuilder::interrupt`]: crate::StoreBuilder::interrupt
/// [`Error::Interrupted`]: crate::Error::Interrupted
#[derive(Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

/// Callbacks run when a token is interrupted: each wakes one waiter.
type Wakers = Vec<(u64, Box<dyn Fn() + Send>)>;

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    next_id: AtomicU64,
    wakers: Mutex<Wakers>,
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupt")
            .field("interrupted", &self.is_interrupted())
            .finish()
    }
}

impl Interrupt {
    /// A token not interrupted yet.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Ends every wait made with this token (now, or later until
    /// [`Interrupt::reset`]).
    pub fn interrupt(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        let wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (_, wake) in wakers.iter() {
            wake();
        }
    }

    /// Whether [`Interrupt::interrupt`] was called (since the last reset).
    pub fn is_interrupted(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Makes the token usable again for new waits.
    pub fn reset(&self) {
        self.inner.fired.store(false, Ordering::SeqCst);
    }

    /// Runs `wake` when the token is interrupted, until the returned
    /// registration is dropped. If it is interrupted already, `wake` runs
    /// now too (so a waiter registered late is never left asleep).
    pub(crate) fn on_interrupt(&self, wake: impl Fn() + Send + 'static) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut wakers = self
                .inner
                .wakers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            wakers.push((id, Box::new(wake)));
            if self.is_interrupted() {
                if let Some((_, w)) = wakers.last() {
                    w();
                }
            }
        }
        Registration {
            inner: Arc::clone(&self.inner),
            id,
        }
    }
}

/// A waker registered with [`Interrupt::on_interrupt`]; removed on drop.
pub(crate) struct Registration {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut wakers = self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        wakers.retain(|(id, _)| *id != self.id);
    }
}

/// How long a canceller keeps signalling a helper thread before giving up
/// on it (and leaving it to end when the lock frees, as in the fallback).
pub(crate) const CANCEL_PATIENCE: Duration = Duration::from_secs(2);

/// What a helper thread's body looks at: whether it is asked to stop.
pub(crate) struct Cancel {
    requested: AtomicBool,
    left: AtomicBool,
}

impl Cancel {
    /// Whether the thread is asked to stop: look after every `EINTR`.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// A helper thread that [`Helper::cancel`] can wake from `flock(2)`.
pub(crate) struct Helper {
    handle: Option<JoinHandle<()>>,
    cancel: Arc<Cancel>,
    /// Whether the signal may be sent to it: the handler is ours, and the
    /// thread that started it did not block the signal (a host that blocks
    /// it everywhere to take it with `sigwait`/`signalfd` must not have it
    /// delivered to, and swallowed by, a thread of ours).
    wakeable: bool,
}

/// Starts `body` on a thread of its own named `name`, with the wake-up
/// signal unblocked in it (and its handler installed, if it can be ours).
pub(crate) fn spawn(name: &str, body: impl FnOnce(&Cancel) + Send + 'static) -> io::Result<Helper> {
    let cancel = Arc::new(Cancel {
        requested: AtomicBool::new(false),
        left: AtomicBool::new(false),
    });
    let ours = !imp::blocked_here() && handler_installed();
    let theirs = Arc::clone(&cancel);
    let handle = thread::Builder::new().name(name.into()).spawn(move || {
        if ours {
            imp::unblock();
        }
        body(&theirs);
        theirs.left.store(true, Ordering::SeqCst);
    })?;
    Ok(Helper {
        handle: Some(handle),
        cancel,
        wakeable: ours,
    })
}

impl Helper {
    /// Asks the thread to stop and wakes it from `flock(2)`; returns once
    /// it has left its body (true), or false if it cannot be woken (the
    /// signal's handler is not ours, or it did not answer within
    /// [`CANCEL_PATIENCE`]): then it is left to end by itself.
    pub(crate) fn cancel(mut self) -> bool {
        self.cancel.requested.store(true, Ordering::SeqCst);
        let Some(handle) = self.handle.take() else {
            return false;
        };
        if !self.wakeable {
            return false;
        }
        let give_up = Instant::now() + CANCEL_PATIENCE;
        let mut pause = Duration::from_micros(50);
        loop {
            if self.cancel.left.load(Ordering::SeqCst) {
                // It has finished its body: joining waits only for its exit.
                let _ = handle.join();
                return true;
            }
            if Instant::now() >= give_up || !imp::still_ours() {
                return false;
            }
            // The thread is not joined, so its id is still valid (a thread
            // that has exited but not been joined can still be named).
            imp::wake(&handle);
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Lets the thread run to its end on its own (it has its answer).
    pub(crate) fn detach(mut self) {
        self.handle = None;
    }
}

/// Whether the wake-up signal's handler is ours: installed now if the
/// signal's disposition is the default, once per process.
pub(crate) fn handler_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(imp::install) && imp::still_ours()
}

impl Interrupt {
    /// The signal jlock-core sends a helper thread to wake it from
    /// `flock(2)`: `SIGRTMAX - 1` on Linux, with a no-op handler installed
    /// only if its disposition was the default; `None` on platforms where
    /// no signal is used (there, a timed-out or interrupted wait leaves its
    /// helper thread queued until the lock frees).
    pub fn signal() -> Option<i32> {
        imp::signal()
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::unix::thread::JoinHandleExt;
    use std::ptr;
    use std::thread::JoinHandle;

    pub(super) fn signal() -> Option<i32> {
        Some(libc::SIGRTMAX() - 1)
    }

    extern "C" fn on_signal(_: libc::c_int) {}

    fn our_handler() -> libc::sighandler_t {
        on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t
    }

    /// The signal's current disposition.
    fn current(sig: libc::c_int) -> Option<libc::sighandler_t> {
        // SAFETY: sigaction with a null new action only reads the
        // disposition into `old`, a zeroed sigaction we own.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
                return None;
            }
            Some(old.sa_sigaction)
        }
    }

    /// Installs the no-op handler (without `SA_RESTART`) if the signal's
    /// disposition is `SIG_DFL`; whether the handler is ours afterwards.
    pub(super) fn install() -> bool {
        let Some(sig) = signal() else { return false };
        match current(sig) {
            Some(h) if h == our_handler() => return true,
            Some(libc::SIG_DFL) => {}
            _ => return false,
        }
        // SAFETY: `action` is fully initialised (zeroed, then an empty
        // mask and our handler, a function that does nothing and so is
        // async-signal-safe); no SA_RESTART, so a blocked flock(2) returns
        // EINTR when it runs.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_sigaction = our_handler();
            action.sa_flags = 0;
            libc::sigaction(sig, &action, ptr::null_mut()) == 0
        }
    }

    /// Whether the signal's handler is (still) ours.
    pub(super) fn still_ours() -> bool {
        signal().and_then(current) == Some(our_handler())
    }

    /// Whether the calling thread blocks the signal.
    pub(super) fn blocked_here() -> bool {
        let Some(sig) = signal() else { return true };
        // SAFETY: reading this thread's mask into a sigset we own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), &mut set) != 0 {
                return true;
            }
            libc::sigismember(&set, sig) == 1
        }
    }

    /// Unblocks the signal in the calling thread (it inherits its creator's
    /// mask, which may block it).
    pub(super) fn unblock() {
        let Some(sig) = signal() else { return };
        // SAFETY: a sigset we own, initialised by sigemptyset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
        }
    }

    /// Sends the signal to the thread of `handle`.
    pub(super) fn wake(handle: &JoinHandle<()>) {
        let Some(sig) = signal() else { return };
        // SAFETY: the thread is not joined nor detached (we hold its
        // handle), so its pthread_t is valid even if it has exited.
        unsafe {
            libc::pthread_kill(handle.as_pthread_t(), sig);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::thread::JoinHandle;

    pub(super) fn signal() -> Option<i32> {
        None
    }
    pub(super) fn install() -> bool {
        false
    }
    pub(super) fn still_ours() -> bool {
        false
    }
    pub(super) fn unblock() {}
    pub(super) fn blocked_here() -> bool {
        true
    }
    pub(super) fn wake(_: &JoinHandle<()>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_blocked_in_flock_is_woken_and_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.lock");
        let holder = std::fs::File::create(&path).unwrap();
        fs4::FileExt::lock(&holder).unwrap();
        let second = std::fs::File::open(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let helper = spawn("test-wait", move |cancel| {
            let got = loop {
                if cancel.requested() {
                    break "cancelled";
                }
                match fs4::FileExt::lock(&second) {
                    Ok(()) => break "locked",
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break "error",
                }
            };
            let _ = tx.send(got);
        })
        .unwrap();
        // Wait until it is queued in the kernel.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !crate::holders(&path).unwrap().iter().any(|h| h.waiting) {
            assert!(Instant::now() < deadline, "never queued");
            thread::yield_now();
        }
        assert!(helper.cancel(), "the helper was not woken");
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok("cancelled"));
        assert!(!crate::holders(&path).unwrap().iter().any(|h| h.waiting));
    }

    #[test]
    fn a_token_wakes_a_waker_registered_before_or_after() {
        let token = Interrupt::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let t1 = tx.clone();
        let _r1 = token.on_interrupt(move || {
            let _ = t1.send(1);
        });
        token.interrupt();
        let _r2 = token.on_interrupt(move || {
            let _ = tx.send(2);
        });
        let mut got: Vec<i32> = rx.try_iter().collect();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert!(token.is_interrupted());
        token.reset();
        assert!(!token.is_interrupted());
    }
}
