//! `jlock run`: run a command while holding a lock (or one of N slots), the
//! `flock(1)` job — passing on the signals jlock gets, and holding the lock
//! until the command has exited.

use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use jlock_core::{LockFile, LockMode, Semaphore};

use crate::args::RunArgs;
use crate::exit::{self, CliError};
use crate::output::Ui;

/// How long a command stopped by `--kill-after` gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The signals passed on to the command.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Runs the command under the lock and returns the exit code to leave with.
pub fn run(args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let wait = args.wait.wait();
    let mut cmd = command(args);
    let spawn_err = |source| CliError::Spawn {
        program: cmd_name(args),
        source,
    };
    let start = Instant::now();
    let report = ui.reports_waits(wait);
    // Both arms leave the locked descriptor open until this process exits:
    // like flock(1), jlock does not unlock explicitly, so the lock goes when
    // the last descriptor closes — a daemon the command left running with
    // the descriptor keeps it.
    let outcome = match args.slots {
        Some(n) => {
            let mut sem = Semaphore::open(&args.lock_file, usize::from(n))?;
            let shown = format!("{}.slot*", args.lock_file.display());
            let paths = sem.slot_paths();
            let held = match sem.acquire_with(wait, || {
                if report {
                    ui.waiting_for(&shown, &paths)
                }
            }) {
                Ok(g) => g,
                Err(e) if e.is_lock_contention() => return Ok(args.conflict_exit_code),
                Err(e) => return Err(e.into()),
            };
            ui.got(&shown, start);
            cmd.env("JLOCK_SLOT", held.slot().to_string());
            let out = supervise(&mut cmd, held.lock_file(), args).map_err(spawn_err)?;
            std::mem::forget(held);
            out
        }
        None => {
            let mut lock = LockFile::open(&args.lock_file)?;
            let shown = args.lock_file.display().to_string();
            let path = args.lock_file.clone();
            let guard = match lock.lock_with(mode, wait, || {
                if report {
                    ui.waiting_for(&shown, &[path])
                }
            }) {
                Ok(g) => g,
                // Silent, as flock(1) is: a cron job skipped because the last
                // run is still going should not send mail.
                Err(e) if e.is_lock_contention() => return Ok(args.conflict_exit_code),
                Err(e) => return Err(e.into()),
            };
            ui.got(&shown, start);
            let out = supervise(&mut cmd, guard.lock_file(), args).map_err(spawn_err)?;
            std::mem::forget(guard);
            out
        }
    };
    Ok(match outcome {
        Outcome::Exited(status) => status_code(status),
        Outcome::TimedOut => exit::TIMED_OUT,
    })
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

/// Spawns `cmd` holding `lock` and waits for it, passing on signals and
/// enforcing `--kill-after`.
///
/// The forwarded signals and SIGCHLD are blocked before the spawn (the child
/// gets jlock's original mask back before it execs) and then taken with
/// `sigtimedwait`, so no signal handler runs and none is lost. A signal sent by a process
/// (`kill`, a supervisor) is passed on; one the terminal sent (Ctrl-C) went
/// to the command's process group already and is not sent twice.
fn supervise(cmd: &mut Command, lock: &LockFile, args: &RunArgs) -> std::io::Result<Outcome> {
    if !args.close {
        // The command inherits the locked descriptor, so the lock is held for
        // as long as it runs — even if jlock itself is killed.
        inherit_fd(lock.as_raw_fd())?;
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
    let mut deadline = args.kill_after.map(|d| Instant::now() + d);
    let mut timed_out = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(if timed_out {
                Outcome::TimedOut
            } else {
                Outcome::Exited(status)
            });
        }
        match next_signal(&set, deadline)? {
            None => {
                // The deadline passed: ask, then insist.
                let sig = if timed_out {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                signal(pid, sig);
                timed_out = true;
                deadline = (sig == libc::SIGTERM).then(|| Instant::now() + KILL_GRACE);
            }
            Some((libc::SIGCHLD, _)) => {}
            Some((sig, code)) => {
                // si_code <= 0: sent by a process (SI_USER, SI_QUEUE, …).
                if code <= 0 {
                    signal(pid, sig);
                }
            }
        }
    }
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid. It cannot have been reaped
    // and reused: we reap it only through `try_wait` in the loop.
    unsafe {
        libc::kill(pid, sig);
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

/// Clears `FD_CLOEXEC` so a spawned program keeps the descriptor.
fn inherit_fd(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
