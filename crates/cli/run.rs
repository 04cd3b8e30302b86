//! `jlock run`: run a command while holding a lock (or one of N slots), the
//! `flock(1)` job — passing on the signals jlock gets, and holding the lock
//! until the command has exited.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use jlock_core::{LockFile, LockMode, Semaphore};

use crate::args::RunArgs;
use crate::document::Target;
use crate::exit::{self, CliError};
use crate::output::Ui;

/// How long a command stopped by `--kill-after` gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The signals passed on to the command.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Gives SIGCHLD its default disposition back, as `flock(1)` does.
///
/// A caller that ignores SIGCHLD (`trap '' CHLD` in a shell, then `exec
/// jlock …`) passes that on through `exec`; with it ignored, the kernel
/// reaps children itself and discards the signal, so jlock could not wait
/// for its command (or for an `update` filter). Called once at start-up,
/// before any thread exists, for every subcommand.
pub fn reset_sigchld() {
    // SAFETY: setting a signal's disposition to SIG_DFL, before any thread exists.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
}

/// Runs the command under the lock and returns the exit code to leave with.
pub fn run(args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    // One arm without the etcd feature.
    #[cfg_attr(not(feature = "etcd"), allow(clippy::infallible_destructuring_match))]
    let lock_file = match &args.lock_file {
        Target::File(path) => path,
        #[cfg(feature = "etcd")]
        Target::Etcd(target) => return etcd::run(target, args, ui),
    };
    #[cfg(feature = "etcd")]
    if args.ttl.is_some() {
        return Err(CliError::Usage(
            "--ttl applies to etcd:// locks only".into(),
        ));
    }
    #[cfg(feature = "etcd")]
    args.etcd.refuse_for_files()?;
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let wait = args.wait.wait();
    let mut cmd = command(args);
    // A caller's own jlock run must not pass its token or slot down to a
    // command that holds neither.
    cmd.env_remove("JLOCK_FENCE")
        .env_remove("JLOCK_SLOT")
        .env_remove("JLOCK_LOCK_KEY");
    let spawn_err = |source| CliError::Spawn {
        program: cmd_name(args),
        source,
    };
    let start = Instant::now();
    let report = ui.reports_waits(wait);
    let verbose = ui.verbose && !ui.quiet;
    // Unless -o, the lock is handed on to the command (`into_fds`): it is
    // held as long as the command, or anything it started that kept the
    // descriptor, runs; jlock never unlocks it explicitly, as flock(1) does
    // not. With -o the guard stays here and goes when jlock exits.
    let outcome = match args.slots {
        Some(n) => {
            let mut sem = Semaphore::open(lock_file, usize::from(n))?;
            let shown = format!("{}.slot*", lock_file.display());
            let paths = sem.slot_paths();
            let held = match sem.acquire_with(wait, || {
                if report {
                    ui.waiting_for(&shown, &paths)
                }
            }) {
                Ok(g) => g,
                Err(e) if e.is_lock_contention() => {
                    return Ok(conflict(ui, verbose, &shown, &e, args.conflict_exit_code))
                }
                Err(e) => return Err(e.into()),
            };
            ui.got(&shown, start);
            cmd.env("JLOCK_SLOT", held.slot().to_string());
            let _kept = if args.close {
                Some(held)
            } else {
                pass_on(held.into_fds()?, &mut cmd);
                None
            };
            supervise(&mut cmd, args).map_err(spawn_err)?
        }
        None => {
            let mut lock = LockFile::open(lock_file)?;
            let shown = lock_file.display().to_string();
            let path = lock_file.clone();
            let mut guard = match lock.lock_with(mode, wait, || {
                if report {
                    ui.waiting_for(&shown, &[path])
                }
            }) {
                Ok(g) => g,
                // Silent without -v, as flock(1) is: a cron job skipped
                // because the last run is still going should not send mail.
                Err(e) if e.is_lock_contention() => {
                    return Ok(conflict(ui, verbose, &shown, &e, args.conflict_exit_code))
                }
                Err(e) => return Err(e.into()),
            };
            ui.got(&shown, start);
            if let Some(fence) = guard.advance_fence()? {
                cmd.env("JLOCK_FENCE", fence.to_string());
            }
            let _kept = if args.close {
                Some(guard)
            } else {
                pass_on(guard.into_fds()?, &mut cmd);
                None
            };
            supervise(&mut cmd, args).map_err(spawn_err)?
        }
    };
    Ok(match outcome {
        Outcome::Exited(status) => status_code(status),
        Outcome::TimedOut => exit::TIMED_OUT,
    })
}

/// With `-v`, says that the lock was not got (as `flock --verbose` does);
/// returns the exit code for it.
fn conflict(ui: &Ui, verbose: bool, shown: &str, err: &jlock_core::Error, code: u8) -> u8 {
    if verbose {
        match err {
            jlock_core::Error::LockTimeout { waited, .. } => ui.say(&format!(
                "timed out after {:.3} s waiting for {shown}; not running the command",
                waited.as_secs_f64()
            )),
            _ => ui.say(&format!(
                "failed to get {shown}: it is held; not running the command"
            )),
        }
    }
    code
}

fn command(args: &RunArgs) -> Command {
    match &args.shell_command {
        Some(script) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(script);
            c
        }
        None => {
            let mut c = Command::new(&args.argv[0]);
            c.args(&args.argv[1..]);
            c
        }
    }
}

fn cmd_name(args: &RunArgs) -> std::ffi::OsString {
    match &args.shell_command {
        Some(_) => "/bin/sh".into(),
        None => args.argv[0].clone(),
    }
}

enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

/// Spawns `cmd` and waits for it, passing on signals and enforcing
/// `--kill-after`.
///
/// The forwarded signals and SIGCHLD are blocked before the spawn (the child
/// gets jlock's original mask back before it execs) and then taken with
/// `sigtimedwait`, so no signal handler runs and none is lost.
///
/// Without `--kill-after` the command shares jlock's process group: a signal
/// sent by a process (`kill`, a supervisor) is passed on to the command; one
/// the terminal sent (Ctrl-C) went to the whole group already and is not
/// sent twice.
///
/// With `--kill-after` the command gets a process group of its own, so that
/// everything it started can be stopped with it (as `timeout(1)` does). The
/// terminal's signals then reach jlock only, and jlock passes every one on
/// to the command's group. At the limit the group gets SIGTERM (and SIGCONT,
/// in case it is stopped), and SIGKILL once the command has exited or the
/// grace period has run out, whichever comes first — nothing the command
/// left behind keeps the lock. The command is observed with `waitid(WNOWAIT)`
/// and reaped only after that last SIGKILL, so its group id cannot have been
/// reused by then.
fn supervise(cmd: &mut Command, args: &RunArgs) -> std::io::Result<Outcome> {
    if args.no_fork {
        // -F: become the command. It has the lock's descriptor (`into_fds`),
        // SIGCHLD's default disposition and jlock's signal mask; nothing of
        // jlock is left to pass signals on or to time it.
        return Err(cmd.exec());
    }
    let own_group = args.kill_after.is_some();
    if own_group {
        cmd.process_group(0);
    }
    let mut set = sigset(&FORWARDED)?;
    // SAFETY: adding a valid signal number to an initialized set.
    unsafe { libc::sigaddset(&mut set, libc::SIGCHLD) };
    let mut old = sigset(&[])?;
    // SAFETY: blocking signals in this (single-threaded) process.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The child inherits the mask; give it back the one jlock started with.
    // SAFETY: pthread_sigmask is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            if libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    // Whom signals go to: the command, or its whole process group.
    let target = if own_group { -pid } else { pid };
    let mut deadline = args.kill_after.map(|d| Instant::now() + d);
    let mut timed_out = false;
    loop {
        if has_exited(pid)? {
            if timed_out && own_group {
                // Whatever the command left in its group goes too.
                signal(target, libc::SIGKILL);
            }
            let status = child.wait()?;
            return Ok(if timed_out {
                Outcome::TimedOut
            } else {
                Outcome::Exited(status)
            });
        }
        match next_signal(&set, deadline)? {
            None if !timed_out => {
                // The limit: ask (waking a stopped group so it can), then
                // insist after the grace period.
                signal(target, libc::SIGTERM);
                signal(target, libc::SIGCONT);
                timed_out = true;
                deadline = Some(Instant::now() + KILL_GRACE);
            }
            None => {
                signal(target, libc::SIGKILL);
                deadline = None;
            }
            Some((libc::SIGCHLD, _)) => {}
            Some((sig, code)) => {
                // si_code <= 0: sent by a process (SI_USER, SI_QUEUE, …).
                if own_group || code <= 0 {
                    signal(target, sig);
                }
            }
        }
    }
}

/// True once the child `pid` has exited, without reaping it (`WNOWAIT`):
/// while it is unreaped, its pid — and so its process group id — cannot be
/// given to another process.
fn has_exited(pid: libc::pid_t) -> std::io::Result<bool> {
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: waitid on our own child, writing into a zeroed siginfo.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            // SAFETY: waitid filled (or left zeroed) the siginfo; si_pid is
            // 0 when no child has changed state.
            return Ok(unsafe { info.assume_init().si_pid() } != 0);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Sends `sig` to `target`: our child's pid, or minus it for its process
/// group.
fn signal(target: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child or its group. Neither can have been
    // reused: the child is reaped only after the last signal is sent.
    unsafe {
        libc::kill(target, sig);
    }
}

fn sigset(signals: &[libc::c_int]) -> std::io::Result<libc::sigset_t> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initializes the set; sigaddset takes valid numbers.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        Ok(set.assume_init())
    }
}

/// Waits for a signal of `set` until `deadline`; `None` if the deadline passed.
fn next_signal(
    set: &libc::sigset_t,
    deadline: Option<Instant>,
) -> std::io::Result<Option<(libc::c_int, libc::c_int)>> {
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        });
        let tp = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: valid set, writable siginfo, timeout null or valid.
        let sig = unsafe { libc::sigtimedwait(set, info.as_mut_ptr(), tp) };
        if sig >= 0 {
            // SAFETY: sigtimedwait filled `info` for the returned signal.
            let code = unsafe { info.assume_init().si_code };
            return Ok(Some((sig, code)));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// The exit code a shell would report for `status`: the code, or 128+signal.
pub fn status_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        (None, None) => exit::SOFTWARE,
    }
}

/// Makes the lock's descriptors `fds` (the lock, and its claim on the name:
/// `LockGuard::into_fds`) inheritable by the processes `cmd` will spawn —
/// in the child only, after `fork`, so other threads spawning other
/// programs meanwhile do not leak them. `fds` live inside `cmd`'s hook, so
/// they stay open (and the lock held) for as long as `cmd` can spawn.
fn pass_on(fds: Vec<std::os::fd::OwnedFd>, cmd: &mut Command) {
    // SAFETY: the hook runs in the child between fork and exec and calls
    // only fcntl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                if libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(fd), libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Connects to an etcd target as `args` say (`--connect-timeout`, default
/// [`jlock_etcd::DEFAULT_CONNECT_TIMEOUT`]; TLS files for `etcds://`): the
/// one place the CLI starts etcd's client runtime, so local-file commands
/// never do.
#[cfg(feature = "etcd")]
pub fn etcd_connect(
    target: &jlock_etcd::Target,
    args: &crate::args::EtcdArgs,
) -> Result<jlock_etcd::Etcd, CliError> {
    let opts = jlock_etcd::ConnectOptions {
        connect_timeout: args
            .connect_timeout
            .unwrap_or(jlock_etcd::DEFAULT_CONNECT_TIMEOUT),
        tls: args.tls_files(),
        ..jlock_etcd::ConnectOptions::default()
    };
    Ok(jlock_etcd::Etcd::connect(target, &opts)?)
}

#[cfg(feature = "etcd")]
mod etcd {
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
    //! A [`Guard`] process, forked before the command, kills the command's
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

    use super::{cmd_name, command, has_exited, signal, status_code, FORWARDED, KILL_GRACE};
    use crate::args::RunArgs;
    use crate::exit::{self, CliError};
    use crate::output::Ui;

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
            while unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
                > 0
            {}
        }

        /// The signals received since the last call.
        fn take() -> Vec<libc::c_int> {
            let bits = PENDING.swap(0, Ordering::SeqCst);
            (1..32).filter(|s| bits & (1u32 << s) != 0).collect()
        }
    }

    /// `jlock run etcd://…`.
    pub(super) fn run(
        target: &jlock_etcd::Target,
        args: &RunArgs,
        ui: &Ui,
    ) -> Result<u8, CliError> {
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
        let etcd = super::etcd_connect(target, &args.etcd)?;
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
            .interrupt(&INTERRUPTED);
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
        let outcome = supervise(&mut cmd, &lock, &signals, args.kill_after).map_err(|source| {
            CliError::Spawn {
                program: cmd_name(args),
                source,
            }
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
    struct Guard {
        tell: Option<std::fs::File>,
        /// `CLOCK_MONOTONIC` (ns) and [`Instant`] read together, to turn one
        /// into the other (`Instant` is `CLOCK_MONOTONIC` on Linux).
        clock: (i64, Instant),
    }

    /// Size of a message to the guard: a kind, then a value (native endian).
    const MSG: usize = 16;
    /// The command's process group id.
    const MSG_GROUP: u64 = 1;
    /// A new deadline, in `CLOCK_MONOTONIC` nanoseconds.
    const MSG_DEADLINE: u64 = 2;
    /// The command has exited and its group was dealt with: leave.
    const MSG_STAND_DOWN: u64 = 3;

    fn message(kind: u64, value: i64) -> [u8; MSG] {
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
    fn send(fd: libc::c_int, m: &[u8; MSG]) -> bool {
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
        fn start() -> std::io::Result<Guard> {
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
        fn raw_fd(&self) -> libc::c_int {
            self.tell.as_ref().map_or(-1, AsRawFd::as_raw_fd)
        }

        /// Has the lock tell the guard every new deadline of its lease, from
        /// now on (the first one at once, before the command is spawned).
        /// The hook owns a duplicate of the pipe's write end, so it never
        /// writes to a descriptor closed or reused meanwhile; it goes when
        /// the lock is released.
        fn follow(&self, lock: &EtcdLock) -> std::io::Result<()> {
            let Some(tell) = &self.tell else {
                return Ok(());
            };
            let fd = tell.try_clone()?;
            let (mono0, at) = self.clock;
            lock.on_renewal(move |until: Instant| {
                let ns = match until.checked_duration_since(at) {
                    Some(d) => {
                        mono0.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                    }
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
        fn stand_down(&self) {
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
}
