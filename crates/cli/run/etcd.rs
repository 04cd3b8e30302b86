//! `jlock run etcd://…`: a leased etcd lock (or semaphore slot) around a
//! command that is stopped when the lock is lost, or when jlock dies.
//!
//! jlock cannot hand an etcd lock to the command as it hands on a flock
//! descriptor: the lock lives as long as jlock keeps its lease alive. So
//! the command runs in a process group of its own, which jlock stops
//! (SIGTERM, then SIGKILL after [`KILL_GRACE`]) when the lock is lost, and
//! which gets SIGKILL from the kernel if jlock itself dies
//! (`PR_SET_PDEATHSIG`). Signals sent to jlock are passed on to the group.
//!
//! A guard process (`super::guard`), forked before the command, kills the command's
//! group (SIGKILL) on its own clock once the lease can no longer be known
//! to be alive — the send time of the last acknowledged keep-alive plus
//! the TTL, less [`jlock_etcd::safety_margin`] — and when jlock dies. It
//! does not depend on jlock running: a paused jlock cannot leave its
//! command running while a new holder has the lock.
//!
//! etcd's client runs on a thread of its own, so signals cannot be taken
//! with `sigtimedwait` as for files (any thread may receive them): an
//! async-signal-safe handler records them and wakes a `poll(2)` that
//! also watches the lock's loss descriptor.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jlock_etcd::{EtcdLock, LockMode, LockOptions};

use super::guard::{message, send, Guard, MSG_GROUP};
use super::{cmd_name, command, has_exited, signal, FORWARDED, KILL_GRACE};
use crate::args::RunArgs;
use crate::exit::status_code;
use crate::exit::{self, CliError};
use crate::output::Ui;

/// How long after taking the lock `run` opens the watch that tells it the lock's key
/// was deleted by hand (see [`LockOptions::watch_after`]): a deletion is noticed at
/// most this much later, and a shorter command costs no watch.
const KEY_WATCH_AFTER: Duration = Duration::from_millis(250);

/// Signals received (a bit per signal number), not yet passed on.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// Set by any forwarded signal: ends a wait for the lock.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The write end of the self-pipe that wakes the supervising `poll`.
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig != libc::SIGCHLD {
        if let Ok(bit) = u32::try_from(sig) {
            PENDING.fetch_or(1u32.wrapping_shl(bit), Ordering::SeqCst);
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking,
        // so a full pipe (wake-up already pending) just fails.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// The self-pipe's read end, after the handlers are installed.
struct Signals {
    wake: OwnedFd,
    _wake_w: OwnedFd,
}

impl Signals {
    /// Installs the handlers: before the etcd client starts its thread.
    fn install() -> std::io::Result<Signals> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned only here.
        let (r, w) = unsafe {
            (
                <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0]),
                <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]),
            )
        };
        WAKE.store(w.as_raw_fd(), Ordering::SeqCst);
        for sig in FORWARDED.iter().copied().chain([libc::SIGCHLD]) {
            // SAFETY: installing a handler that only touches atomics and write(2).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(Signals {
            wake: r,
            _wake_w: w,
        })
    }

    /// Empties the self-pipe.
    fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our non-blocking pipe.
        while unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
    }

    /// The signals received since the last call.
    fn take() -> Vec<libc::c_int> {
        let bits = PENDING.swap(0, Ordering::SeqCst);
        (1..32).filter(|s| bits & (1u32 << s) != 0).collect()
    }
}

/// `jlock run etcd://…`.
pub fn run(target: &jlock_etcd::Target, args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    if args.no_fork {
        return Err(CliError::Usage(format!(
            "-F cannot be used with {target}: an etcd lock cannot be handed to the command; \
             jlock must stay to keep its lease alive and stop the command if it is lost"
        )));
    }
    let signals = Signals::install().map_err(|source| CliError::Io {
        path: "signal handlers".into(),
        source,
    })?;
    let etcd = crate::target::connect(target, &args.etcd.connect_options())?;
    let wait = args.wait.wait();
    let description = describe(args);
    let opts = LockOptions::new()
        .mode(if args.shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        })
        .wait(wait)
        .ttl(args.ttl.unwrap_or(jlock_etcd::DEFAULT_TTL))
        .command(description)
        .interrupt(&INTERRUPTED)
        // A command done within this opens no watch of its key: LeaseGrant, Txn and
        // LeaseRevoke are then all `run` sends.
        .watch_after(KEY_WATCH_AFTER);
    let start = Instant::now();
    let shown = target.to_string();
    let verbose = ui.verbose && !ui.quiet;
    if verbose {
        ui.say(&format!("taking {shown}"));
    }
    let taken = match args.slots {
        Some(n) => etcd.semaphore(usize::from(n), &opts),
        None => etcd.lock(&opts),
    };
    let lock = match taken {
        Ok(l) => l,
        Err(e) if e.is_contention() => {
            if verbose {
                ui.say(&format!("{e}; not running the command"));
            }
            return Ok(args.conflict_exit_code);
        }
        Err(e @ jlock_etcd::Error::Lost { .. }) => {
            // The lease was lost while waiting (etcd unreachable, or jlock
            // paused): the command never ran, so this is not code 75.
            ui.say(&format!("{e} while waiting; not running the command"));
            return Ok(exit::UNAVAILABLE);
        }
        Err(jlock_etcd::Error::Interrupted { .. }) => {
            // Left the queue; exit as the signal would have made us.
            let sig = Signals::take().first().copied().unwrap_or(libc::SIGINT);
            return Ok(128u8.wrapping_add(sig as u8));
        }
        Err(e) => return Err(e.into()),
    };
    ui.got(&shown, start);
    if verbose {
        ui.say(&format!("holding {} (fence {})", lock.key(), lock.fence()));
    }
    let mut cmd = command(args);
    cmd.env("JLOCK_FENCE", lock.fence().to_string())
        .env("JLOCK_LOCK_KEY", lock.key())
        .env_remove("JLOCK_SLOT");
    if let Some(slot) = lock.slot() {
        cmd.env("JLOCK_SLOT", slot.to_string());
    }
    let outcome =
        supervise(&mut cmd, &lock, &signals, args.kill_after).map_err(|source| CliError::Spawn {
            program: cmd_name(args),
            source,
        });
    let name = target.name().to_string();
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = lock.release();
            return Err(e);
        }
    };
    let released = lock.release();
    match outcome {
        Ended::Lost(reason) => {
            ui.say(&format!(
                "the lock was lost while the command ran; it was stopped \
                 (SIGTERM to its process group, SIGKILL after {} s)",
                KILL_GRACE.as_secs()
            ));
            Err(jlock_etcd::Error::Lost { name, reason }.into())
        }
        Ended::TimedOut => Ok(exit::TIMED_OUT),
        Ended::Exited(status) => match released {
            // Lost after the command exited, but perhaps before it did:
            // it may have run without the lock, so say so.
            Err(e @ jlock_etcd::Error::Lost { .. }) => {
                ui.say(&format!(
                    "the command exited with {}, but the lock was lost meanwhile",
                    status_code(status)
                ));
                Err(e.into())
            }
            Err(e) => {
                ui.say(&format!(
                    "{e}; its lease expires within the TTL ({} s)",
                    lock_ttl_secs(args)
                ));
                Ok(status_code(status))
            }
            Ok(()) => Ok(status_code(status)),
        },
    }
}

fn lock_ttl_secs(args: &RunArgs) -> u64 {
    args.ttl.unwrap_or(jlock_etcd::DEFAULT_TTL).as_secs()
}

/// The command as recorded in the lock's value, for `status`.
fn describe(args: &RunArgs) -> String {
    match &args.shell_command {
        Some(script) => format!("sh -c {}", script.to_string_lossy()),
        None => args
            .argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Lost(jlock_etcd::LossReason),
}

/// Spawns `cmd` in a process group of its own, bound to jlock's life,
/// and waits for it, passing on signals and stopping it if the lock is
/// lost or `--kill-after` runs out.
fn supervise(
    cmd: &mut Command,
    lock: &EtcdLock,
    signals: &Signals,
    kill_after: Option<Duration>,
) -> std::io::Result<Ended> {
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // If jlock dies (even kill -9), the kernel kills the command:
            // nobody would keep the lease alive or stop it on a loss.
            // It fires when the spawning *thread* exits: this is the main
            // thread, which lives as long as jlock.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // jlock died between fork and prctl: the signal will not come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let guard = Guard::start()?;
    guard.follow(lock)?;
    let tell = guard.raw_fd();
    // SAFETY: getpid and write are async-signal-safe; `tell` stays open
    // (in `guard`) until after the spawn.
    unsafe {
        cmd.pre_exec(move || {
            // The command tells the guard its process group (its own pid,
            // which `process_group(0)` makes its group by the time it
            // execs) before it runs anything, so even a kill -9 of jlock
            // right after the spawn is covered.
            // The descriptor closes at exec (close-on-exec).
            if !send(tell, &message(MSG_GROUP, i64::from(libc::getpid()))) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let group = -pid;
    let mut deadline = kill_after.map(|d| Instant::now() + d);
    let mut stopping: Option<Ended> = None;
    loop {
        if has_exited(pid)? {
            if stopping.is_some() {
                // Whatever the command left in its group goes too.
                signal(group, libc::SIGKILL);
            }
            // Before the reap, while the group id cannot be reused.
            guard.stand_down();
            let status = child.wait()?;
            if stopping.is_none() && Instant::now() >= lock.alive_until() {
                // Past the lease's deadline the guard kills the command
                // (perhaps before the keep-alive task counted the loss):
                // it may have run without the lock.
                let why = lock.lost().unwrap_or(jlock_etcd::LossReason::NoRenewal);
                return Ok(Ended::Lost(why));
            }
            return Ok(stopping.unwrap_or(Ended::Exited(status)));
        }
        for sig in Signals::take() {
            signal(group, sig);
        }
        let now = Instant::now();
        if stopping.is_none() {
            let why = match lock.lost() {
                Some(reason) => Some(Ended::Lost(reason)),
                None if deadline.is_some_and(|d| now >= d) => Some(Ended::TimedOut),
                None => None,
            };
            if let Some(why) = why {
                // Ask (waking a stopped group so it can), insist later.
                signal(group, libc::SIGTERM);
                signal(group, libc::SIGCONT);
                stopping = Some(why);
                deadline = Some(now + KILL_GRACE);
            }
        } else if deadline.is_some_and(|d| now >= d) {
            signal(group, libc::SIGKILL);
            deadline = None;
        }
        let mut fds = [
            libc::pollfd {
                fd: signals.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: lock.loss_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Once lost, the loss descriptor stays readable: stop watching it.
        let nfds = if stopping.is_some() { 1 } else { 2 };
        let timeout = deadline.map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            // Round up, so the deadline has passed when poll returns.
            i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
        });
        // SAFETY: poll on descriptors that stay open for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if r < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
        signals.drain();
    }
}
