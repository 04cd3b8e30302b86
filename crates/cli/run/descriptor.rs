//! `jlock run FD` and `jlock run -u FD`: flock(1)'s descriptor form. A number
//! with no command names a descriptor jlock inherited from the shell (`exec
//! 9>lock`, or `( … ) 9>lock`); jlock locks (or unlocks) that open file
//! description and returns. The lock belongs to the description, which the
//! shell keeps open, so it outlives jlock — until `jlock run -u 9`, `exec
//! 9>&-`, or the last process holding the description exits.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use jlock_core::Wait;
use rustix::fs::{flock, FlockOperation};

use crate::args::RunArgs;
use crate::exit::{CliError, OK};
use crate::output::Ui;

/// `CliError::Descriptor`'s word for a descriptor that is not open.
pub const NOT_OPEN: &str = "is not open";

/// A descriptor number: `LOCKFILE` given alone, all digits, as flock(1) reads it.
pub fn parse(arg: &std::path::Path) -> Option<Result<i32, CliError>> {
    let s = arg.to_str()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        s.parse::<i32>()
            .map_err(|_| CliError::Usage(format!("{s} is not a descriptor number (too large)"))),
    )
}

/// Locks (or with `-u` unlocks) descriptor `fd` as `args` say; returns the
/// exit code: 0, or `-E CODE` (1) when the lock is held (`-n`) or the wait
/// (`-w`) ran out.
pub fn run(fd: i32, args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    refuse_options(args)?;
    let borrowed = borrow(fd)?;
    let shown = format!("descriptor {fd}");
    if args.unlock {
        flock(borrowed, FlockOperation::Unlock).map_err(|e| locking(fd, e))?;
        return Ok(OK);
    }
    let (blocking, nonblocking) = if args.shared {
        (
            FlockOperation::LockShared,
            FlockOperation::NonBlockingLockShared,
        )
    } else {
        (
            FlockOperation::LockExclusive,
            FlockOperation::NonBlockingLockExclusive,
        )
    };
    let start = Instant::now();
    let verbose = ui.verbose && !ui.quiet;
    let got = match flock(borrowed, nonblocking) {
        Ok(()) => true,
        Err(rustix::io::Errno::WOULDBLOCK) => match args.wait.wait() {
            Wait::NoWait => false,
            wait => {
                // As for a lock file: with -v, or for -w on a terminal.
                if ui.reports_waits(wait) {
                    ui.say(&format!("waiting for {shown}"));
                }
                match wait {
                    Wait::Timeout(limit) => lock_until(borrowed, blocking, limit, fd)?,
                    _ => {
                        lock_blocking(borrowed, blocking, fd)?;
                        true
                    }
                }
            }
        },
        Err(e) => return Err(locking(fd, e)),
    };
    if !got {
        if verbose {
            ui.say(&format!("failed to get {shown}: it is held"));
        }
        return Ok(args.conflict_exit_code);
    }
    ui.got(&shown, start);
    Ok(OK)
}

/// The options of `run` that mean nothing without a command, refused with
/// the reason.
fn refuse_options(args: &RunArgs) -> Result<(), CliError> {
    let mut given = Vec::new();
    if args.slots.is_some() {
        given.push("--slots");
    }
    if args.fair {
        given.push("--fair");
    }
    if args.kill_after.is_some() {
        given.push("--kill-after");
    }
    if args.close {
        given.push("-o/--close");
    }
    if args.no_fork {
        given.push("-F/--no-fork");
    }
    #[cfg(feature = "etcd")]
    {
        if args.ttl.is_some() {
            given.push("--ttl");
        }
        if args.etcd.any() {
            given.push("--connect-timeout/--cacert/--cert/--key");
        }
    }
    if given.is_empty() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} apply only to a command run under a lock: `jlock run FD` (a number, no command) locks descriptor FD \
         and returns, running nothing",
        given.join(", ")
    )))
}

/// Descriptor `fd`, checked to be open.
fn borrow(fd: i32) -> Result<BorrowedFd<'static>, CliError> {
    // SAFETY: fcntl(F_GETFD) only asks the kernel about the number; on a
    // number that is not open it fails with EBADF and changes nothing.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(CliError::Descriptor {
            fd,
            what: NOT_OPEN,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` is open (checked just above) and is a descriptor this
    // process inherited: jlock never closes a descriptor it did not open, so
    // it stays open for the rest of the process, as 'static claims.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

fn locking(fd: i32, e: rustix::io::Errno) -> CliError {
    CliError::Descriptor {
        fd,
        what: "cannot be locked",
        source: io::Error::from(e),
    }
}

/// `flock(2)`, waiting as long as it takes (resumed after a signal).
fn lock_blocking(fd: BorrowedFd<'_>, op: FlockOperation, n: i32) -> Result<(), CliError> {
    loop {
        match flock(fd, op) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(locking(n, e)),
        }
    }
}

/// Does nothing: SIGALRM is caught only so that it interrupts `flock(2)`.
extern "C" fn on_alarm(_: libc::c_int) {}

/// Waits in the kernel's queue for the lock, as `flock -w` does: a blocking
/// `flock(2)` interrupted by SIGALRM at the deadline. The description is the
/// shell's, so the wait cannot be moved to a second one (as `LockFile`'s
/// helper thread does): it must be this call that gets the lock, or none.
/// The timer fires again every 10 ms after the deadline, so a signal that
/// came just before `flock(2)` began blocking cannot leave it waiting.
/// Returns whether the lock was got.
fn lock_until(
    fd: BorrowedFd<'_>,
    op: FlockOperation,
    limit: Duration,
    n: i32,
) -> Result<bool, CliError> {
    let deadline = Instant::now() + limit;
    let timer = Alarm::start(limit).map_err(|source| CliError::Descriptor {
        fd: n,
        what: "cannot be waited for (timer)",
        source,
    })?;
    let got = loop {
        match flock(fd, op) {
            Ok(()) => break Ok(true),
            Err(rustix::io::Errno::INTR) if Instant::now() >= deadline => break Ok(false),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => break Err(locking(n, e)),
        }
    };
    drop(timer);
    got
}

/// An armed `ITIMER_REAL` whose SIGALRM interrupts system calls; disarmed
/// when dropped.
struct Alarm;

impl Alarm {
    fn start(after: Duration) -> io::Result<Alarm> {
        let tv = |d: Duration| libc::timeval {
            tv_sec: d.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(d.subsec_micros()),
        };
        // SAFETY: a zeroed sigaction is valid; the handler does nothing
        // (async-signal-safe); no SA_RESTART, so flock(2) returns EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            // A caller's blocked SIGALRM would never interrupt the wait.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            let timer = libc::itimerval {
                it_value: tv(after.max(Duration::from_micros(1))),
                it_interval: tv(Duration::from_millis(10)),
            };
            if libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Alarm)
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        // SAFETY: a zero itimerval disarms the timer.
        unsafe {
            let off: libc::itimerval = std::mem::zeroed();
            libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut());
        }
    }
}
