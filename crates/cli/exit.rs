//! Exit codes, and the CLI's error type that maps every failure to one.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// Success.
pub const OK: u8 = 0;
/// `incr`: the update was applied, but its new value could not be printed
/// (stdout closed or full). Do not retry: that would apply it twice.
pub const APPLIED_UNPRINTED: u8 = 3;
/// The lock is held (`-n`) or the wait timed out (`-w`); `run -E` changes it.
/// Also `get -e`'s answer for a null or false value, as `jq -e`'s.
pub const CONFLICT: u8 = 1;
/// `status`: the lock is held (a semaphore: every slot); 0 means free.
pub const HELD: u8 = 1;
/// The document is not the one the write was made for: `--if-rev` found
/// another revision, or a `patch` `test` operation another value; nothing
/// was written.
pub const PRECONDITION: u8 = 4;
/// Bad command line: unknown option, bad path syntax, a VALUE that is not JSON.
pub const USAGE: u8 = 64;
/// Bad data: invalid JSON in the file or from an `update` command, a wrong
/// type at the path, an overflow.
pub const DATA: u8 = 65;
/// `get`: FILE does not exist (EX_NOINPUT); nothing was created.
pub const NO_INPUT: u8 = 66;
/// etcd:// targets: no endpoint answered within `--connect-timeout`, or etcd
/// failed a request (EX_UNAVAILABLE). The command of `run` never started.
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub const UNAVAILABLE: u8 = 69;
/// An internal error that should not happen.
pub const SOFTWARE: u8 = 70;
/// An I/O error: a file or directory that cannot be opened, read or written.
pub const IO: u8 = 74;
/// `run etcd://…`: the lock was lost while the command ran (lease revoked or
/// expired, key deleted, no keep-alive acknowledged within the TTL); the
/// command was stopped (EX_TEMPFAIL).
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub const LOCK_LOST: u8 = 75;
/// Refused: a symlink in a shared directory that could redirect the file, or
/// an edit of a data file this user may not write.
pub const NO_PERMISSION: u8 = 77;
/// `run --kill-after`: the command ran out of time and was stopped.
pub const TIMED_OUT: u8 = 124;
/// The command of `run`/`update` was found but could not be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The command of `run`/`update` was not found.
pub const NOT_FOUND: u8 = 127;

/// The exit-code table shown by `jlock --help`; README.md has the same table.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    lock conflict (-n) or timeout (-w); run -E CODE picks another;
       status: the lock is held (every slot of a --slots lock), 0: free;
       get -e: the value is null or false (as jq -e);
       pop -n / pop -w: the queue is (still) empty; wait -w: timed out
  3    incr: applied, but the new value could not be printed (do not retry);
       pop: the element was taken, but could not be printed
  4    --if-rev: the document is at another revision; patch: a test operation
       failed. Nothing was written
  64   usage: bad option, bad path syntax, VALUE or --by that is not JSON,
       a PATCH that is not a JSON Patch
  65   bad data: invalid JSON in FILE or printed by an update command,
       a wrong type at PATH (e.g. incr on a string), integer overflow,
       a patch operation whose path does not exist
  66   get: FILE (or etcd:// key) does not exist (nothing is created; --default
       VALUE prints VALUE instead)
  69   etcd:// unreachable within --connect-timeout, or an etcd request failed
       (run: CMD did not start)
  74   I/O error: a file or directory that cannot be opened, read or written;
       run FD: descriptor FD is not open
  75   run etcd://: the lock was lost while CMD ran (lease expired or revoked,
       key deleted); CMD was stopped (SIGTERM to its group, SIGKILL 5 s later)
  77   refused: a symlink in a world-writable directory (like /tmp) planted by another
       user (last component or a directory on the way), a dangling one a file
       would be created through, or a journal or temporary file not owned by
       the data file's owner; or an edit of a data file this user may not
       write (or, in a sticky directory, may not replace)
  124  run --kill-after: CMD ran out of time and was stopped
  126  run/update: CMD cannot be executed;  127: CMD not found
  N    run/update: CMD's own exit code; 128+S if CMD was killed by signal S

Files are left exactly as they were whenever jlock exits non-zero, except with 3
(the increment was applied) and with the exit code of a command run by
`jlock run`, which may have done anything.";

/// Everything that can make the CLI fail.
#[derive(Debug)]
pub enum CliError {
    /// From the library.
    Core(jlock_core::Error),
    /// A bad argument that clap could not catch.
    Usage(String),
    /// The child command could not be started.
    Spawn {
        /// The program.
        program: OsString,
        /// Why.
        source: std::io::Error,
    },
    /// The `update` command failed; exit with its code.
    ChildFailed {
        /// The program.
        program: OsString,
        /// The code to exit with (128+signal if it was killed).
        code: u8,
    },
    /// The `update` command printed something that is not one JSON document.
    BadOutput {
        /// The data file that was not changed.
        file: PathBuf,
        /// The program.
        program: OsString,
        /// What is wrong with its output.
        reason: String,
    },
    /// An I/O error on a file or stream of jlock's own (not the library's).
    Io {
        /// The file, or a name for the stream (`stdout`).
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// `incr` applied its update but could not print the new value.
    Unprinted {
        /// The data file.
        file: PathBuf,
        /// Why printing failed.
        source: std::io::Error,
    },
    /// An I/O error talking to the child.
    ChildIo {
        /// The program.
        program: OsString,
        /// What failed.
        source: std::io::Error,
    },
    /// `get`: the data file (or etcd key) does not exist.
    NoSuchFile {
        /// The data file, or etcd target, as given.
        path: PathBuf,
        /// What is missing: "file", or "key" on etcd.
        noun: &'static str,
    },
    /// `run FD`: the descriptor is not open (or cannot be locked).
    Descriptor {
        /// The descriptor number.
        fd: i32,
        /// What is wrong with it (`run::descriptor::NOT_OPEN`, …).
        what: &'static str,
        /// What failed.
        source: std::io::Error,
    },
    /// From the etcd backend.
    #[cfg(feature = "etcd")]
    Etcd(jlock_etcd::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        use jlock_core::Error as E;
        match self {
            CliError::Core(e) if e.is_lock_contention() => CONFLICT,
            CliError::Core(e) if e.is_precondition() => PRECONDITION,
            CliError::Core(e) if e.is_bad_data() => DATA,
            CliError::Core(e) if e.is_usage() => USAGE,
            CliError::Core(E::UnsafePath { .. } | E::NotWritable { .. }) => NO_PERMISSION,
            CliError::Core(E::Io { .. }) => IO,
            CliError::Core(_) => SOFTWARE,
            CliError::Usage(_) => USAGE,
            CliError::Spawn { source, .. } => spawn_code(source),
            CliError::ChildFailed { code, .. } => *code,
            CliError::BadOutput { .. } => DATA,
            CliError::ChildIo { .. } => IO,
            CliError::Io { .. } => IO,
            CliError::Unprinted { .. } => APPLIED_UNPRINTED,
            CliError::NoSuchFile { .. } => NO_INPUT,
            CliError::Descriptor { .. } => IO,
            #[cfg(feature = "etcd")]
            CliError::Etcd(e) => etcd_code(e),
        }
    }
}

/// The exit code for an etcd error.
#[cfg(feature = "etcd")]
fn etcd_code(e: &jlock_etcd::Error) -> u8 {
    use jlock_etcd::Error as E;
    match e {
        E::BadTarget { .. } | E::InvalidArgument(_) | E::NotSupported(_) => USAGE,
        E::Unreachable { .. } | E::Engine { .. } => UNAVAILABLE,
        E::Busy { .. } | E::TimedOut { .. } => CONFLICT,
        E::Lost { .. } => LOCK_LOST,
        // Too large for one etcd request: the new document is refused as bad data.
        E::TooLarge { .. } | E::Rejected { .. } => DATA,
        _ => SOFTWARE,
    }
}

/// The shell's convention: 127 for a command not found, 126 for one that
/// cannot be executed.
pub fn spawn_code(err: &std::io::Error) -> u8 {
    if err.kind() == std::io::ErrorKind::NotFound {
        NOT_FOUND
    } else {
        CANNOT_EXECUTE
    }
}

impl CliError {
    /// A hint for the user, for errors where the next step is not obvious.
    pub fn hint(&self) -> Option<String> {
        use jlock_core::Error as E;
        match self {
            CliError::Core(E::LockConflict { path } | E::LockTimeout { path, .. }) => {
                Some(format!(
                    "`jlock status {}` shows who holds it; -w SECS waits for it",
                    path.display()
                ))
            }
            CliError::Core(E::Io {
                op: jlock_core::Operation::OpenLock,
                source,
                ..
            }) if source.kind() == std::io::ErrorKind::NotFound => {
                Some("the lock file's directory must exist".into())
            }
            CliError::Core(E::Io {
                op: jlock_core::Operation::OpenLock,
                source,
                ..
            }) if source.raw_os_error() == Some(libc::ENAMETOOLONG) => Some(
                "a file name may have at most 255 bytes: name a shorter lock file \
                 with --lock-file (data commands), or shorten the name"
                    .into(),
            ),
            CliError::Core(E::Json {
                error: jlock_json::Error::InvalidJson { .. },
                path: Some(_),
            }) => Some("fix the file by hand; jlock never writes invalid JSON".into()),
            CliError::Core(E::UnsafePath {
                path,
                owner: Some(uid),
                ..
            }) => Some(format!(
                "{} belongs to {}; if you did not put it there, someone else did: \
                 remove it (or use a private directory)",
                path.display(),
                user_name(*uid)
            )),
            CliError::Core(E::UnsafePath { .. }) => {
                Some("use a private directory, or remove the symlink".into())
            }
            CliError::Unprinted { .. } => Some(
                "the update is in the file; running the command again would apply it twice".into(),
            ),
            CliError::NoSuchFile { .. } => Some(
                "--default VALUE prints VALUE instead; set, incr, update (the writers) create it"
                    .into(),
            ),
            CliError::Descriptor { fd, what, .. } if *what == crate::run::NOT_OPEN => {
                Some(format!(
                    "open it first, in the shell: `exec {fd}>FILE` (or `( jlock run {fd}; … ) {fd}>FILE`)"
                ))
            }
            CliError::Core(E::Json {
                error: jlock_json::Error::BadPath { .. },
                ..
            }) => Some("paths look like .a.b[0] (jq) or /a/b/0 (JSON Pointer)".into()),
            #[cfg(feature = "etcd")]
            CliError::Etcd(jlock_etcd::Error::Unreachable { endpoints, .. }) => Some(format!(
                "is etcd running there? `etcdctl --endpoints={endpoints} endpoint health`; \
                 --connect-timeout SECS waits longer"
            )),
            #[cfg(feature = "etcd")]
            CliError::Etcd(jlock_etcd::Error::Busy { .. } | jlock_etcd::Error::TimedOut { .. }) => {
                Some("`jlock status etcd://…/NAME` shows who holds it; -w SECS waits for it".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Core(e) => write!(f, "{e}"),
            CliError::Usage(msg) => f.write_str(msg),
            CliError::Spawn { program, source } => {
                write!(f, "{}: cannot run: {source}", program.to_string_lossy())
            }
            CliError::ChildFailed { program, code } => write!(
                f,
                "{} failed (exit {code}); nothing was written",
                program.to_string_lossy()
            ),
            CliError::BadOutput {
                file,
                program,
                reason,
            } => write!(
                f,
                "{}: not updated: {} {reason}",
                file.display(),
                program.to_string_lossy()
            ),
            CliError::ChildIo { program, source } => {
                write!(f, "{}: {source}", program.to_string_lossy())
            }
            CliError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CliError::Unprinted { file, source } => write!(
                f,
                "{}: applied, but could not print the new value: {source}",
                file.display()
            ),
            CliError::NoSuchFile { path, noun } => write!(f, "{}: no such {noun}", path.display()),
            CliError::Descriptor { fd, what, source } => {
                write!(f, "descriptor {fd} {what}: {source}")
            }
            #[cfg(feature = "etcd")]
            CliError::Etcd(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "etcd")]
impl From<jlock_etcd::Error> for CliError {
    fn from(e: jlock_etcd::Error) -> CliError {
        CliError::Etcd(e)
    }
}

impl From<jlock_core::Error> for CliError {
    fn from(e: jlock_core::Error) -> CliError {
        CliError::Core(e)
    }
}

impl From<jlock_json::Error> for CliError {
    fn from(e: jlock_json::Error) -> CliError {
        CliError::Core(e.into())
    }
}

/// `uid N (name)`, with the name from /etc/passwd when it has one.
fn user_name(uid: u32) -> String {
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        });
    match name {
        Some(n) => format!("uid {uid} ({n})"),
        None => format!("uid {uid}"),
    }
}

/// The exit code a shell would report for `status`: the code, or 128+signal.
pub fn status_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        (None, None) => SOFTWARE,
    }
}
