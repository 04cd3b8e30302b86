//! `jlock run FILE`: the flock(2) supervisor — the lock (or one of N slots)
//! handed on to the command as `flock(1)` hands it, signals passed on,
//! `--kill-after` enforced, the lock held until the command has exited.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use jlock_core::{LockFile, LockMode, LockSet, Semaphore};

use super::{cmd_name, command, has_exited, signal, FORWARDED, KILL_GRACE};
use crate::args::RunArgs;
use crate::exit::{self, status_code, CliError};
use crate::output::Ui;

/// Runs the command under the flock(2) lock (or slot) `lock_file` and
/// returns the exit code to leave with.
pub fn run(lock_file: &Path, args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    let Prepared {
        mode,
        wait,
        mut cmd,
        start,
        report,
        verbose,
    } = prepare(args, ui)?;
    let spawn_err = |source| CliError::Spawn {
        program: cmd_name(args),
        source,
    };
    // Unless -o, the lock is handed on to the command (`into_fds`): it is
    // held as long as the command, or anything it started that kept the
    // descriptor, runs; jlock never unlocks it explicitly, as flock(1) does
    // not. With -o the guard stays here and goes when jlock exits.
    let outcome = match args.slots {
        Some(n) => {
            let mut sem = Semaphore::open(lock_file, usize::from(n))?;
            sem.fair(args.fair);
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
            lock.fair(args.fair);
            let shown = lock_file.display().to_string();
            let path = lock_file.to_path_buf();
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
    if args.fair {
        // The place in the queue went with the lock to the command (and
        // lives in `cmd`'s hook until here): now that nothing holds it, its
        // file is removed rather than left for the next waiter to sweep.
        drop(cmd);
        let _ = jlock_core::fair::sweep(lock_file);
    }
    Ok(outcome.exit_code())
}

/// Runs the command holding every lock of `locks` (`jlock run A B C --
/// CMD`): all taken in the canonical order within the one `-w` deadline, or
/// none (exit 1 or `-E`). `-s` makes them all shared. The command gets
/// `JLOCK_FENCE`, the first lock's fence, as it would with that lock alone
/// (every lock's fence advances).
pub fn run_set(locks: &[std::path::PathBuf], args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    if args.fair {
        return Err(CliError::Usage(
            "--fair takes one LOCKFILE: a fair wait for several locks at once is not offered \
             (each lock's queue would be joined in turn, which is not first come, first served)"
                .into(),
        ));
    }
    if args.slots.is_some() {
        return Err(CliError::Usage(
            "--slots takes one LOCKFILE: several locks at once are each one lock".into(),
        ));
    }
    let Prepared {
        mode,
        wait,
        mut cmd,
        start,
        report,
        verbose,
    } = prepare(args, ui)?;
    let spawn_err = |source| CliError::Spawn {
        program: cmd_name(args),
        source,
    };
    let shown = locks
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut set = LockSet::open(locks)?;
    let mut held = match set.lock_with(mode, wait, |path| {
        if report {
            ui.waiting_for(&path.display().to_string(), &[path.to_path_buf()])
        }
    }) {
        Ok(g) => g,
        Err(e) if e.is_lock_contention() => {
            return Ok(conflict(ui, verbose, &shown, &e, args.conflict_exit_code))
        }
        Err(e) => return Err(e.into()),
    };
    ui.got(&shown, start);
    // Each lock's fence advances; the command is given the first-named one's.
    let first = held.first_named();
    for (i, g) in held.guards_mut().iter_mut().enumerate() {
        if let (Some(fence), true) = (g.advance_fence()?, Some(i) == first) {
            cmd.env("JLOCK_FENCE", fence.to_string());
        }
    }
    let _kept = if args.close {
        Some(held)
    } else {
        pass_on(held.into_fds()?, &mut cmd);
        None
    };
    Ok(supervise(&mut cmd, args).map_err(spawn_err)?.exit_code())
}

/// What both supervisors of lock files start from.
struct Prepared {
    mode: LockMode,
    wait: jlock_core::Wait,
    cmd: Command,
    start: Instant,
    /// Whether to say whom a wait is for.
    report: bool,
    /// Whether to say that the lock was not got.
    verbose: bool,
}

/// Refuses the etcd options, and builds the command: a caller's own `jlock
/// run` must not pass its token or slot down to a command that holds
/// neither.
fn prepare(args: &RunArgs, ui: &Ui) -> Result<Prepared, CliError> {
    #[cfg(feature = "etcd")]
    if args.ttl.is_some() {
        return Err(CliError::Usage(
            "--ttl applies to etcd:// locks only".into(),
        ));
    }
    #[cfg(feature = "etcd")]
    args.etcd.refuse_for_files()?;
    let wait = args.wait.wait();
    let mut cmd = command(args);
    cmd.env_remove("JLOCK_FENCE")
        .env_remove("JLOCK_SLOT")
        .env_remove("JLOCK_LOCK_KEY");
    Ok(Prepared {
        mode: if args.shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        },
        wait,
        cmd,
        start: Instant::now(),
        report: ui.reports_waits(wait),
        verbose: ui.verbose && !ui.quiet,
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

enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

impl Outcome {
    /// The code `jlock run` exits with: the command's (128+S if a signal
    /// killed it), or 124 if `--kill-after` stopped it.
    fn exit_code(self) -> u8 {
        match self {
            Outcome::Exited(status) => status_code(status),
            Outcome::TimedOut => exit::TIMED_OUT,
        }
    }
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
