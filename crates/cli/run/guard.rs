//! The guard of `jlock run etcd://…`: a small process forked before the
//! command that kills the command's process group on its own clock when the
//! lease can no longer be known to be alive, and when jlock dies.

use std::os::fd::AsRawFd;
use std::time::Instant;

use jlock_etcd::EtcdLock;

/// A small process forked from jlock that kills the command's whole
/// process group (SIGKILL) on its own, whatever jlock is doing:
///
/// - when the lease can no longer be known to be alive: jlock tells it,
///   each time a keep-alive is acknowledged, the local instant until
///   which the lease is known alive ([`EtcdLock::alive_until`]: the send
///   time of that keep-alive plus the TTL etcd granted, less
///   [`jlock_etcd::safety_margin`]); the guard kills the group as soon as
///   that instant passes without a newer one, on `CLOCK_MONOTONIC`
///   (shared by every process). So a jlock that is paused (SIGSTOP, a
///   debugger, swapped out) or stuck cannot leave its command running
///   after the lease could have expired and a new holder come in;
/// - when jlock dies (PR_SET_PDEATHSIG reaches only the command's own
///   process, not what it started, e.g. the commands of `sh -c`): end of
///   file on the pipe.
///
/// It reads fixed-size messages ([`MSG`] bytes, so each `write` is atomic)
/// from a pipe only jlock and the command write to: the command's process
/// group id (written by the command itself, between fork and exec), the
/// deadlines, and a last one from jlock when it no longer needs the guard.
pub(super) struct Guard {
    tell: Option<std::fs::File>,
    /// `CLOCK_MONOTONIC` (ns) and [`Instant`] read together, to turn one
    /// into the other (`Instant` is `CLOCK_MONOTONIC` on Linux).
    clock: (i64, Instant),
}

/// Size of a message to the guard: a kind, then a value (native endian).
pub(super) const MSG: usize = 16;
/// The command's process group id.
pub(super) const MSG_GROUP: u64 = 1;
/// A new deadline, in `CLOCK_MONOTONIC` nanoseconds.
const MSG_DEADLINE: u64 = 2;
/// The command has exited and its group was dealt with: leave.
const MSG_STAND_DOWN: u64 = 3;

pub(super) fn message(kind: u64, value: i64) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[..8].copy_from_slice(&kind.to_ne_bytes());
    m[8..].copy_from_slice(&value.to_ne_bytes());
    m
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (async-signal-safe).
fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec; it cannot fail
    // for CLOCK_MONOTONIC with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// Writes one message whole (a pipe write of at most PIPE_BUF bytes is
/// atomic), retrying on EINTR. Async-signal-safe.
pub(super) fn send(fd: libc::c_int, m: &[u8; MSG]) -> bool {
    loop {
        // SAFETY: writing a local buffer to a descriptor the caller owns.
        let n = unsafe { libc::write(fd, m.as_ptr().cast(), MSG) };
        if n == MSG as isize {
            return true;
        }
        // SAFETY: reading this thread's errno.
        if n >= 0 || unsafe { *libc::__errno_location() } != libc::EINTR {
            return false;
        }
    }
}

impl Guard {
    pub(super) fn start() -> std::io::Result<Guard> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (r, w) = (fds[0], fds[1]);
        // The monotonic clock first: a deadline converted with it can
        // only come out earlier than the true one, never later.
        let clock = (monotonic_ns(), Instant::now());
        // SAFETY: the child of this fork (of a process with other
        // threads) calls only async-signal-safe functions: close,
        // sigaction, poll, read, clock_gettime, kill, _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let err = std::io::Error::last_os_error();
            // SAFETY: closing the descriptors just made.
            unsafe {
                libc::close(r);
                libc::close(w);
            }
            return Err(err);
        }
        if pid == 0 {
            // SAFETY: see above; this never returns.
            unsafe { guard_main(r, w) }
        }
        // SAFETY: the read end is the guard's; the write end is ours.
        unsafe { libc::close(r) };
        let tell = <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd;
        // SAFETY: `w` is open and owned by nothing else in this process.
        Ok(Guard {
            tell: Some(unsafe { tell(w) }),
            clock,
        })
    }

    /// The pipe's write end, for the command to tell the guard its
    /// process group itself (see [`supervise`]).
    pub(super) fn raw_fd(&self) -> libc::c_int {
        self.tell.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Has the lock tell the guard every new deadline of its lease, from
    /// now on (the first one at once, before the command is spawned).
    /// The hook owns a duplicate of the pipe's write end, so it never
    /// writes to a descriptor closed or reused meanwhile; it goes when
    /// the lock is released.
    pub(super) fn follow(&self, lock: &EtcdLock) -> std::io::Result<()> {
        let Some(tell) = &self.tell else {
            return Ok(());
        };
        let fd = tell.try_clone()?;
        let (mono0, at) = self.clock;
        lock.on_renewal(move |until: Instant| {
            let ns = match until.checked_duration_since(at) {
                Some(d) => mono0.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
                None => mono0.saturating_sub(
                    i64::try_from(at.duration_since(until).as_nanos()).unwrap_or(i64::MAX),
                ),
            };
            send(fd.as_raw_fd(), &message(MSG_DEADLINE, ns));
        });
        Ok(())
    }

    /// The command has exited (and its group was dealt with): the guard
    /// leaves without killing anything.
    pub(super) fn stand_down(&self) {
        if let Some(f) = self.tell.as_ref() {
            send(f.as_raw_fd(), &message(MSG_STAND_DOWN, 0));
        }
    }
}

/// The guard process (see [`Guard`]): no allocation, only raw system
/// calls, since it runs in the child of a fork of a threaded process.
///
/// # Safety
/// Only in the child of a `fork`, with `r`/`w` the guard pipe's ends.
unsafe fn guard_main(r: libc::c_int, w: libc::c_int) -> ! {
    libc::close(w);
    // Keep no terminal or pipe of jlock's callers open, and ignore the
    // signals sent to jlock's process group (a Ctrl-C reaches jlock,
    // which passes it on).
    for fd in 0..3 {
        libc::close(fd);
    }
    let mut ign: libc::sigaction = std::mem::zeroed();
    ign.sa_sigaction = libc::SIG_IGN;
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGPIPE,
    ] {
        libc::sigaction(sig, &ign, std::ptr::null_mut());
    }
    let mut dfl: libc::sigaction = std::mem::zeroed();
    dfl.sa_sigaction = libc::SIG_DFL;
    libc::sigaction(libc::SIGCHLD, &dfl, std::ptr::null_mut());
    let kill_group = |pgid: libc::pid_t| {
        if pgid > 0 {
            // SAFETY: kill(2) is async-signal-safe. The group cannot be
            // another's: its leader (the command) is reaped by jlock only
            // after it told us to stand down.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    };
    let mut pgid: libc::pid_t = 0;
    // No deadline until jlock tells one (it does before the spawn).
    let mut deadline = i64::MAX;
    let mut buf = [0u8; MSG * 32];
    let mut have = 0usize;
    loop {
        let now = monotonic_ns();
        if pgid > 0 && now >= deadline {
            // The lease may expire at the server from now on (less the
            // margin): the command must not run on.
            kill_group(pgid);
            libc::_exit(0);
        }
        let timeout = if pgid > 0 && deadline != i64::MAX {
            // Round up, so the deadline has passed when poll returns.
            let ms = (deadline - now).saturating_add(999_999) / 1_000_000;
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        } else {
            -1
        };
        let mut pfd = libc::pollfd {
            fd: r,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, timeout) <= 0 {
            continue; // timed out (checked above) or interrupted
        }
        let n = libc::read(r, buf.as_mut_ptr().add(have).cast(), buf.len() - have);
        if n < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            // jlock died (or the pipe broke): nobody keeps the lease
            // alive or stops the command any more. Before the command
            // started, there is nothing to kill (it has PR_SET_PDEATHSIG).
            kill_group(pgid);
            libc::_exit(0);
        }
        have += n as usize;
        let mut at = 0;
        while have - at >= MSG {
            let mut kind = [0u8; 8];
            let mut value = [0u8; 8];
            kind.copy_from_slice(&buf[at..at + 8]);
            value.copy_from_slice(&buf[at + 8..at + MSG]);
            let value = i64::from_ne_bytes(value);
            match u64::from_ne_bytes(kind) {
                MSG_GROUP => pgid = libc::pid_t::try_from(value).unwrap_or(0),
                MSG_DEADLINE => deadline = value,
                MSG_STAND_DOWN => libc::_exit(0),
                _ => {}
            }
            at += MSG;
        }
        buf.copy_within(at..have, 0);
        have -= at;
    }
}
