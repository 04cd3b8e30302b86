//! `jlock run`: run a command while holding a lock, the `flock(1)` job.

use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use jlock_core::{LockFile, LockMode};

use crate::args::RunArgs;
use crate::exit::{self, CliError};

/// Runs the command under the lock and returns the exit code to leave with.
pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    let mut lock = LockFile::open(&args.lock_file)?;
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let guard = match lock.lock(mode, args.wait.wait()) {
        Ok(guard) => guard,
        // Silent, as flock(1) is: a cron job skipped because the last run is
        // still going should not send mail.
        Err(e) if e.is_lock_contention() => return Ok(args.conflict_exit_code),
        Err(e) => return Err(e.into()),
    };
    // The command inherits the locked descriptor, so the lock is held for as
    // long as the command runs — even if jlock itself is killed.
    inherit_fd(guard.lock_file().as_raw_fd()).map_err(|source| CliError::Spawn {
        program: "fcntl".into(),
        source,
    })?;
    let mut cmd = match &args.shell_command {
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
    };
    let program = cmd.get_program().to_os_string();
    let status = cmd
        .status()
        .map_err(|source| CliError::Spawn { program, source })?;
    // Like flock(1), leave without an explicit unlock: the lock goes when the
    // last descriptor closes, so a daemon the command left running keeps it.
    std::mem::forget(guard);
    Ok(status_code(status))
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
