//! `jlock run`: run a command while holding a lock (or one of N slots), the
//! `flock(1)` job. This module picks the supervisor for the target — a
//! flock(2) lock ([`local`]) or, with the `etcd` feature, a leased etcd lock
//! (`etcd`) — and holds what both share: the command line, the signals
//! passed on, and the child's state.

mod descriptor;
#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "etcd")]
mod guard;
mod local;

use std::process::Command;
use std::time::Duration;

use crate::args::RunArgs;
use crate::exit::CliError;
use crate::output::Ui;
use crate::target::Target;

pub use descriptor::NOT_OPEN;

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

/// Runs the command under the lock its target names and returns the exit
/// code to leave with.
pub fn run(args: &RunArgs, ui: &Ui) -> Result<u8, CliError> {
    let no_command = args.argv.is_empty() && args.shell_command.is_none();
    // A number is a descriptor only with no command: with one it is a path.
    let fd = match &args.lock_file {
        Target::File(path) if no_command => descriptor::parse(path).transpose()?,
        _ => None,
    };
    match (no_command, fd) {
        // flock(1)'s descriptor form: a number alone.
        (true, Some(fd)) => return descriptor::run(fd, args, ui),
        (true, None) if args.unlock => {
            return Err(CliError::Usage(format!(
                "-u unlocks a descriptor the shell holds: `jlock run -u FD` with FD a number \
                 (as in `exec 9>lock; jlock run 9; …; jlock run -u 9`), not {}",
                args.lock_file.display()
            )))
        }
        (true, None) => {
            return Err(CliError::Usage(format!(
                "`jlock run {0}` needs a command: `jlock run {0} -- CMD ARGS…` or \
                 `jlock run {0} -c 'SHELL CMD'` (a number alone, `jlock run 9`, locks \
                 descriptor 9 and returns)",
                args.lock_file.display()
            )))
        }
        (false, _) if args.unlock => {
            return Err(CliError::Usage(
                "-u unlocks a descriptor and runs nothing: `jlock run -u FD`, without a command"
                    .into(),
            ))
        }
        (false, _) => {}
    }
    match &args.lock_file {
        Target::File(path) => local::run(path, args, ui),
        #[cfg(feature = "etcd")]
        Target::Etcd(target) => etcd::run(target, args, ui),
    }
}

/// The command to run, as `run`'s arguments give it (`-c SCRIPT`: `/bin/sh -c`).
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

/// The program `command` runs, for messages.
fn cmd_name(args: &RunArgs) -> std::ffi::OsString {
    match &args.shell_command {
        Some(_) => "/bin/sh".into(),
        None => args.argv[0].clone(),
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
