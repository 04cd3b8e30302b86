//! The command line: clap definitions of every subcommand and its options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jlock_core::{Durability, Wait};

use crate::exit::EXIT_CODES_HELP;
use crate::help::*;
use crate::target::Target;

/// Coordinate processes through files: flock(2) locks and a crash-safe shared JSON file.
#[derive(Debug, Parser)]
#[command(name = "jlock", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// -q and -v, which every subcommand takes.
    #[command(flatten)]
    pub globals: Globals,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options of jlock's own, before or after the subcommand.
#[derive(Debug, Args)]
pub struct Globals {
    /// Print no messages of jlock's own (the exit code tells).
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say whom a lock wait is for, and how long it took.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command while holding a lock (like flock(1)).
    #[command(
        after_help = RUN_HELP,
        override_usage = "jlock run [OPTIONS] <LOCKFILE> -- <CMD> [ARGS]...\n       \
                          jlock run [OPTIONS] <LOCKFILE> -c <SHELL_CMD>\n       \
                          jlock run [-s|-x] [-n|-w SECS] [-E CODE] <FD>\n       \
                          jlock run -u <FD>"
    )]
    Run(RunArgs),
    /// Print the value at PATH (the whole document by default).
    #[command(after_help = GET_HELP)]
    Get(GetArgs),
    /// Set the value at PATH, creating missing objects and arrays on the way.
    #[command(after_help = SET_HELP)]
    Set(SetArgs),
    /// Delete the value at PATH (no change if it is not there).
    #[command(after_help = DEL_HELP)]
    Del(DelArgs),
    /// Add to the number at PATH (0 if missing) and print the new value.
    #[command(after_help = INCR_HELP)]
    Incr(IncrArgs),
    /// Rewrite the document with a command: it reads the document on stdin and prints the new one.
    #[command(after_help = UPDATE_HELP)]
    Update(UpdateArgs),
    /// Apply a JSON Patch (RFC 6902) or, with --merge, a Merge Patch (RFC 7396): all or nothing.
    #[command(after_help = PATCH_HELP)]
    Patch(PatchArgs),
    /// Print the document's revision, for a later write with --if-rev (a compare-and-set).
    #[command(after_help = REV_HELP)]
    Rev(RevArgs),
    /// Append each VALUE to the array at PATH (a work queue), in one update.
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
    /// Remove and print the array's first element, waiting for one (without polling).
    #[command(
        after_help = POP_HELP,
        mut_arg("nonblock", |a| a.help(
            "Fail at once (exit 1) if the array is empty or the lock is held"
        )),
        mut_arg("wait", |a| a.help(
            "Wait at most SECS seconds for an element (and the lock; fractions allowed; 0 is -n), \
             then fail (exit 1)"
        )),
    )]
    Pop(PopArgs),
    /// Wait until the value at PATH equals VALUE (or, with --change, changes), without polling.
    #[command(after_help = WAIT_HELP)]
    Wait(WaitForArgs),
    /// Print the value at PATH now and after every change, one JSON line each, until killed.
    #[command(after_help = WATCH_HELP)]
    Watch(WatchArgs),
    /// Tell whether a lock is free or held, by whom and since when.
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// Show, with real processes and real numbers, why a lock is needed and what it costs.
    #[command(after_help = DEMO_HELP)]
    Demo(DemoArgs),
    /// Measure what sharing data through a file costs here, against a pipe and flock(1) + sh.
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), made from the same definitions as --help.
    #[command(
        after_help = "Examples:\n  jlock man | man -l -\n  jlock man run | man -l -           # the page jlock(1) refers to as jlock-run(1)\n  jlock man > ~/.local/share/man/man1/jlock.1\n  jlock man incr > ~/.local/share/man/man1/jlock-incr.1\n\n`just install` installs jlock(1) and every subcommand's page (and the completions)."
    )]
    Man {
        /// The page of this subcommand (jlock-SUBCOMMAND(1)) instead of jlock(1).
        subcommand: Option<String>,
    },
}

#[cfg(feature = "lab")]
pub use jlock_lab::{bench::BenchArgs, demo::DemoArgs};

/// `demo` in a build without the lab: whatever it is given, it says which
/// feature to build with.
#[cfg(not(feature = "lab"))]
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<OsString>,
}

/// `bench` in a build without the lab (see [`DemoArgs`]).
#[cfg(not(feature = "lab"))]
pub type BenchArgs = DemoArgs;

/// Options of `jlock status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A lock file, or a data file (one whose FILE.lock exists, or given --lock-file),
    /// or an etcd://HOST:PORT[,HOST:PORT…]/NAME (with the `etcd` feature).
    #[arg(value_name = "LOCKFILE|DATAFILE", value_parser = target_parser())]
    pub path: Target,
    /// The data file's lock file, if not DATAFILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// How to reach an etcd:// or etcds:// target.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// How long to wait for the lock, shared by every subcommand.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Fail at once if the lock is held (exit 1).
    // --nb and --nonblocking: flock(1)'s spellings.
    #[arg(
        short = 'n',
        long = "nonblock",
        visible_alias = "no-wait",
        aliases = ["nb", "nonblocking"],
        conflicts_with = "wait"
    )]
    pub nonblock: bool,
    /// Wait at most SECS seconds for the lock (fractions allowed; 0 is -n), then fail (exit 1).
    #[arg(short = 'w', long = "wait", visible_alias = "timeout", value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
}

impl WaitArgs {
    /// The wait policy these options ask for.
    pub fn wait(&self) -> Wait {
        match self.wait {
            _ if self.nonblock => Wait::NoWait,
            Some(d) if d.is_zero() => Wait::NoWait,
            Some(d) => Wait::Timeout(d),
            None => Wait::Block,
        }
    }
}

/// Parses SECS: seconds, fractions allowed.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a valid number of seconds"))
}

/// Options of the subcommands that work on a JSON data file.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The JSON data file.
    #[arg(value_name = "FILE", value_parser = target_parser())]
    pub file: Target,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Lock this file instead of FILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// Flush each update to disk (fsync of file and directory): survives power loss.
    #[arg(long, conflicts_with = "durability")]
    pub durable: bool,
    /// How each update is made durable: rename (default: survives any process crash),
    /// fsync (also power loss) or journal (in place, fastest; readers without a lock may
    /// see a half-written file).
    #[arg(long, value_name = "MODE", value_parser = ["rename", "fsync", "journal"])]
    pub durability: Option<String>,
    /// Restyle the whole document on one line (by default an update rewrites only
    /// the values it changes and keeps every other byte of the file).
    #[arg(long, conflicts_with = "pretty")]
    pub compact: bool,
    /// Restyle the whole document, indented two spaces a level.
    #[arg(long)]
    pub pretty: bool,
    /// Write only if the document is still at revision TOKEN (what `jlock rev` printed):
    /// else write nothing and exit 4.
    #[arg(long, value_name = "TOKEN")]
    pub if_rev: Option<jlock_core::Revision>,
    /// How to reach an etcd:// or etcds:// target.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// How to reach an etcd cluster: the options every command taking a target shares.
#[cfg(feature = "etcd")]
#[derive(Args, Debug, Clone, Default)]
pub struct EtcdArgs {
    /// etcd targets: give up (exit 69; `run` does not start CMD) if no endpoint
    /// answers within SECS; a member that does not answer a request within SECS
    /// is left for the next one [default: 3].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub connect_timeout: Option<Duration>,
    /// etcds:// targets: the CA certificate (PEM) that signed the servers'.
    #[cfg(feature = "etcd-tls")]
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// etcds:// targets: this client's certificate (PEM), for a cluster that
    /// checks clients (`--client-cert-auth`); with --key.
    #[cfg(feature = "etcd-tls")]
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// etcds:// targets: the key (PEM) of --cert.
    #[cfg(feature = "etcd-tls")]
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

#[cfg(feature = "etcd")]
impl EtcdArgs {
    /// True if any of these options was given.
    pub fn any(&self) -> bool {
        #[cfg(feature = "etcd-tls")]
        if self.cacert.is_some() || self.cert.is_some() || self.key.is_some() {
            return true;
        }
        self.connect_timeout.is_some()
    }

    /// Refuses these options for a local file, where they would mean nothing.
    pub fn refuse_for_files(&self) -> Result<(), crate::exit::CliError> {
        if self.any() {
            return Err(crate::exit::CliError::Usage(
                "--connect-timeout, --cacert, --cert and --key apply to etcd:// targets only"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The TLS files given (none unless built with `etcd-tls`).
    /// How to connect as these options say (`--connect-timeout`, default
    /// [`jlock_etcd::DEFAULT_CONNECT_TIMEOUT`]; TLS files for `etcds://`).
    pub fn connect_options(&self) -> jlock_etcd::ConnectOptions {
        jlock_etcd::ConnectOptions {
            connect_timeout: self
                .connect_timeout
                .unwrap_or(jlock_etcd::DEFAULT_CONNECT_TIMEOUT),
            tls: self.tls_files(),
            ..jlock_etcd::ConnectOptions::default()
        }
    }

    /// The TLS files these options name.
    pub fn tls_files(&self) -> jlock_etcd::TlsFiles {
        #[cfg(feature = "etcd-tls")]
        return jlock_etcd::TlsFiles {
            ca: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        };
        #[cfg(not(feature = "etcd-tls"))]
        jlock_etcd::TlsFiles::default()
    }
}

impl StoreArgs {
    /// How updates write the document: `--compact`, `--pretty`, or (by
    /// default) only what changed.
    pub fn style(&self) -> jlock_json::Style {
        use jlock_json::Style;
        match (self.compact, self.pretty) {
            (true, _) => Style::Compact,
            (_, true) => Style::Pretty,
            _ => Style::Preserve,
        }
    }

    /// The durability `--durable` and `--durability` ask for, merged once here.
    pub fn durability(&self) -> Durability {
        match (self.durable, self.durability.as_deref()) {
            (true, _) => Durability::Fsync,
            (false, Some(mode)) => mode.parse().unwrap_or_default(),
            (false, None) => Durability::default(),
        }
    }
}

/// The parser of FILE / LOCKFILE arguments: a path, or an `etcd://` target.
pub fn target_parser() -> impl clap::builder::TypedValueParser<Value = Target> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().try_map(|s| Target::parse(&s))
}

/// `jlock run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The lock file (created if missing; a directory works too), or an
    /// etcd://HOST:PORT[,HOST:PORT…]/NAME lock (with the `etcd` feature); or FD, a
    /// descriptor number with no command: lock that open descriptor and return (flock FD).
    #[arg(value_name = "LOCKFILE|FD", value_parser = target_parser())]
    pub lock_file: Target,
    /// Unlock descriptor FD (flock -u): `jlock run -u 9`.
    #[arg(short = 'u', long = "unlock")]
    pub unlock: bool,
    /// Take a shared lock: any number of shared holders run at once.
    #[arg(short = 's', long = "shared", conflicts_with = "exclusive")]
    pub shared: bool,
    /// Take the exclusive lock (the default).
    #[arg(short = 'x', short_alias = 'e', long = "exclusive")]
    pub exclusive: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Exit with CODE instead of 1 when the lock is held (-n) or the wait times out (-w).
    #[arg(
        short = 'E',
        long = "conflict-exit-code",
        value_name = "CODE",
        default_value_t = 1
    )]
    pub conflict_exit_code: u8,
    /// Let at most N commands run at once: LOCKFILE names N slot files, LOCKFILE.slot0 …
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "shared")]
    pub slots: Option<u16>,
    /// First come, first served: get the lock (or a slot) after every --fair
    /// waiter that started waiting before; a queue in LOCKFILE.queue/. A no-op
    /// for etcd:// (already FIFO); refused with several locks.
    #[arg(long)]
    pub fair: bool,
    /// Do not pass the lock to the command (flock -o): it is freed if jlock dies first.
    #[arg(short = 'o', long = "close")]
    pub close: bool,
    /// Do not fork: jlock becomes the command (exec), which holds the lock (flock -F).
    #[arg(short = 'F', long = "no-fork", conflicts_with_all = ["close", "kill_after"])]
    pub no_fork: bool,
    /// Stop the command and its process group after SECS: SIGTERM, then SIGKILL
    /// 5 s later; exit 124.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub kill_after: Option<Duration>,
    /// etcd:// locks: the lease's time to live; a holder that cannot renew it
    /// for SECS loses the lock [default: 10].
    #[cfg(feature = "etcd")]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub ttl: Option<Duration>,
    /// How to reach an etcd:// or etcds:// lock.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Run this string with /bin/sh -c.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SHELL_CMD",
        conflicts_with = "argv"
    )]
    pub shell_command: Option<OsString>,
    /// The command and its arguments (none with FD). `LOCKFILE… -- CMD`: with `--`,
    /// every path before it is a lock, all taken (in one order, so two commands
    /// cannot deadlock) or none.
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub argv: Vec<OsString>,
}

/// `jlock get`: it only reads, so it takes no option of the writers'
/// (`--durable`, `--durability`, `--pretty`); its `-c`/`--compact` is the
/// output's, as jq's.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The JSON data file (a missing one is an error, exit 66, unless --default).
    #[arg(value_name = "FILE", value_parser = target_parser())]
    pub file: Target,
    /// A JSON Pointer (/a/0) or jq-style path (.a[0]); the whole document if left out.
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Lock this file instead of FILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// Print a string without quotes (like jq -r).
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// Print the value on one line (like jq -c).
    #[arg(short = 'c', long)]
    pub compact: bool,
    /// Exit 1 if the value printed is null or false, 0 otherwise (like jq -e).
    #[arg(short = 'e', long = "exit-status")]
    pub exit_status: bool,
    /// Print VALUE (JSON) instead if FILE does not exist, or PATH is missing or null
    /// (false is a value, and is printed).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub default: Option<String>,
    /// How to reach an etcd:// or etcds:// target.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// `jlock set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where to set: a JSON Pointer (/a/0) or jq-style path (.a[0]); "." is the whole document.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The new value, as JSON (42, "text", [1,2], {"a":1}).
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,
    /// Store VALUE as a string, verbatim, instead of parsing it as JSON.
    #[arg(long)]
    pub string: bool,
}

/// `jlock del`.
#[derive(Debug, Args)]
pub struct DelArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to delete: a JSON Pointer (/a/0) or jq-style path (.a[0]).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `jlock incr`.
#[derive(Debug, Args)]
pub struct IncrArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The number to change; the whole document (a bare counter) if left out.
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// Add N instead of 1 (negative to subtract; decimals add exactly, in base 10).
    #[arg(
        long,
        value_name = "N",
        default_value = "1",
        allow_hyphen_values = true
    )]
    pub by: String,
}

/// `jlock update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The filter command and its arguments, after `--`.
    #[arg(value_name = "CMD", last = true, required = true)]
    pub argv: Vec<OsString>,
}

/// `jlock rev`.
#[derive(Debug, Args)]
pub struct RevArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `jlock patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The patch: a file, or - (the default) for stdin.
    #[arg(value_name = "PATCH")]
    pub patch: Option<PathBuf>,
    /// PATCH is an RFC 7396 Merge Patch (an object whose members replace the
    /// document's, null removing one), not an RFC 6902 JSON Patch.
    #[arg(long)]
    pub merge: bool,
}

/// `jlock push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The array (a queue): a JSON Pointer (/a/0) or jq-style path (.a[0]); a missing
    /// or null value there becomes [] first.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The values to append, in order, as JSON (42, "text", {"job": 1}).
    #[arg(value_name = "VALUE", required = true, allow_hyphen_values = true)]
    pub values: Vec<String>,
    /// Append each VALUE as a string, verbatim, instead of parsing it as JSON.
    #[arg(long)]
    pub string: bool,
}

/// `jlock pop`.
#[derive(Debug, Args)]
pub struct PopArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The array (a queue): a JSON Pointer (/a/0) or jq-style path (.a[0]).
    #[arg(value_name = "PATH")]
    pub path: String,
    /// In the same update, append the element to the array at OTHER_PATH (an
    /// in-progress list): remove it from there when done (`jlock del`), and a
    /// crashed worker's element is still there to push back.
    #[arg(long, value_name = "OTHER_PATH")]
    pub to: Option<String>,
    /// Print a string without quotes (like jq -r).
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// Print the element on one line (like jq -c).
    #[arg(short = 'c', long = "compact-output")]
    pub compact_output: bool,
}

/// `jlock wait`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("until_what").required(true).args(["until", "change"])))]
pub struct WaitForArgs {
    /// The JSON data file.
    #[arg(value_name = "FILE", value_parser = target_parser())]
    pub file: Target,
    /// The value to watch: a JSON Pointer (/a/0) or jq-style path (.a[0]); the whole
    /// document if left out.
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// Return (exit 0) once the value at PATH equals VALUE (JSON; numbers by value,
    /// 1.0 equals 1; a missing value counts as null).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Return once the value at PATH differs from what it was when jlock started.
    #[arg(long)]
    pub change: bool,
    /// Give up after SECS seconds (fractions allowed): exit 1.
    #[arg(short = 'w', long = "wait", visible_alias = "timeout", value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
    /// Lock this file instead of FILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// How to reach an etcd:// or etcds:// target.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// `jlock watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The JSON data file.
    #[arg(value_name = "FILE", value_parser = target_parser())]
    pub file: Target,
    /// The value to watch; the whole document if left out.
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// Write RFC 7464 JSON text sequences (each value after an ASCII RS, 0x1E).
    #[arg(long)]
    pub json_seq: bool,
    /// Lock this file instead of FILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// How to reach an etcd:// or etcds:// target.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}
