//! The command line: clap definitions of every subcommand and its options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jlock_core::{Durability, Wait};

use crate::exit::EXIT_CODES_HELP;
use crate::target::Target;

/// Coordinate processes through files: flock(2) locks and a crash-safe shared JSON file.
#[derive(Debug, Parser)]
#[command(name = "jlock", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// Print no messages of jlock's own (the exit code tells).
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say whom a lock wait is for, and how long it took.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// clap's message for an argument the subcommand does not take, made useful:
/// its tip "to pass '-u' as a value, use '-- -u'" misleads where the flag
/// simply does not exist here. Instead it says which subcommands have the
/// flag and what it does there, or — for `update` given its command without
/// `--` — to put `--` before the command. Other errors are left as they are.
pub fn explain_usage_error(err: &clap::Error, text: String) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return text;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return text;
    };
    let cmd = <Cli as clap::CommandFactory>::command();
    // The subcommand: the first argument that names one.
    let sub_name = std::env::args_os()
        .skip(1)
        .filter_map(|a| a.into_string().ok())
        .find(|a| cmd.get_subcommands().any(|s| s.get_name() == a));
    let Some(sub_name) = sub_name else {
        return text;
    };
    let tip = if !arg.starts_with('-') {
        if sub_name == "update" {
            format!(
                "put `--` before the command: jlock update FILE -- {arg} ARGS… \
                 (everything after `--` is the command's)"
            )
        } else {
            return text;
        }
    } else {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(f, _)| f);
        // Which subcommands have it, grouped by what it does there.
        let mut uses: Vec<(String, Vec<String>)> = Vec::new();
        for s in cmd
            .get_subcommands()
            .filter(|s| s.get_name() != sub_name && !s.is_hide_set())
        {
            let Some(a) = s.get_arguments().find(|a| flag_matches(a, flag)) else {
                continue;
            };
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let help = help
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('.');
            let name = format!("`jlock {}`", s.get_name());
            match uses.iter_mut().find(|(h, _)| h == help) {
                Some((_, names)) => names.push(name),
                None => uses.push((help.to_string(), vec![name])),
            }
        }
        if uses.is_empty() {
            format!("`jlock {sub_name} --help` lists its options")
        } else {
            let uses: Vec<String> = uses
                .into_iter()
                .map(|(help, names)| format!("{} ({help})", names.join(", ")))
                .collect();
            format!(
                "`jlock {sub_name}` has no {flag}; it is an option of {}",
                uses.join("; of ")
            )
        }
    };
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("tip: to pass") {
            out.push_str(&format!("  tip: {tip}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !out.contains(&tip) {
        // No tip of clap's to replace: put ours after the first line.
        if let Some((first, rest)) = out.split_once('\n') {
            out = format!("{first}\n\n  tip: {tip}\n{rest}");
        }
    }
    out
}

/// Whether the option `arg` is spelled `flag` (`-u`, `--unlock`, or an alias).
fn flag_matches(arg: &clap::Arg, flag: &str) -> bool {
    if let Some(long) = flag.strip_prefix("--") {
        arg.get_long_and_visible_aliases()
            .is_some_and(|names| names.contains(&long))
            || arg
                .get_all_aliases()
                .is_some_and(|names| names.contains(&long))
    } else if let Some(short) = flag.strip_prefix('-') {
        let mut chars = short.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                arg.get_short() == Some(c)
                    || arg
                        .get_short_and_visible_aliases()
                        .is_some_and(|names| names.contains(&c))
                    || arg
                        .get_all_short_aliases()
                        .is_some_and(|names| names.contains(&c))
            }
            _ => false,
        }
    } else {
        false
    }
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
    /// The command and its arguments (none with FD).
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

const REV_HELP: &str = "\
Examples:
  rev=$(jlock rev db.json)
  n=$(jlock get db.json .n)                          # read, think ...
  jlock set --if-rev \"$rev\" db.json .n $((n * 2))    # ... write back, only if unchanged
  [ $? -eq 4 ] && echo 'someone changed db.json meanwhile; nothing was written'

The revision is an opaque token derived from the document's bytes: it changes whenever
they change, and a missing document has the revision of an empty one (so --if-rev with
it means \"only if it does not exist yet\"). Every write command (set, del, incr, update,
patch) takes --if-rev TOKEN: applied only if the document is still at TOKEN when the
write takes the lock, else nothing is written and jlock exits 4. The same on etcd://.";

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

const PATCH_HELP: &str = "\
Examples:
  jlock patch db.json ops.json
  echo '[{\"op\": \"test\", \"path\": \"/v\", \"value\": 3},
        {\"op\": \"replace\", \"path\": \"/v\", \"value\": 4}]' | jlock patch db.json
  echo '{\"owner\": \"ci\", \"tmp\": null}' | jlock patch --merge db.json

Every operation applies, in order, under the lock, or none does: a failed test
exits 4, an operation whose path does not exist 65, a patch that is not one 64 —
each naming the operation's index — and the file is left as it was. As with set,
only the values the patch changes are rewritten; the rest of the file keeps its bytes,
and new numbers keep the patch's spelling.";

const RUN_HELP: &str = "\
Examples:
  # A cron job that must never overlap with itself: skip this run if the last still runs.
  jlock run -n /tmp/backup.lock -- rsync -a /srv/ /backup/

  # Wait up to 30 s for the build lock, then give up with exit code 75.
  jlock run -w 30 -E 75 build.lock -c 'make && make install'

  # At most 2 heavy builds at once on this machine.
  jlock run --slots 2 /tmp/heavy-build -- make -j8

  # One host at a time, cluster-wide (built with --features etcd).
  jlock run -n etcd://10.0.0.1:2379,10.0.0.2:2379/nightly -- ./backup.sh

The command inherits the lock, so it stays held until the command (and anything it
started that kept the descriptor) exits, even if jlock itself is killed (-o: not so).
SIGINT, SIGTERM and SIGHUP sent to jlock are passed on to the command, and the lock
is held until the command has exited. With --slots, the command gets JLOCK_SLOT=i.
An exclusive holder gets JLOCK_FENCE, a number that grows with each exclusive
`jlock run` of that lock file (kept in the file, if it is empty or holds only that).

On an etcd:// lock the command gets JLOCK_FENCE and JLOCK_LOCK_KEY and runs in a
process group of its own: if the lock is lost (its lease of --ttl SECS expired or was
revoked, its key deleted), the group gets SIGTERM, SIGKILL 5 s later, and jlock exits 75;
if jlock dies, the kernel kills the command. An unreachable cluster: exit 69, within
--connect-timeout, the command never started. -F is refused there.

The descriptor form of flock(1): a number and no command locks that descriptor,
inherited from the shell, and returns (0; 1 or -E CODE if held or timed out; 74 if
FD is not open); -u FD unlocks it. With a command (or `--`), the number is a file name.
  ( jlock run -n 9 || exit 1; critical work ) 9>/var/lock/mylock
  exec 9>mylock; jlock run 9; critical work; jlock run -u 9

flock(1)'s spellings work too: -e, --nb, --nonblocking, --timeout, and the
self-locking idiom of its man page:
  [ \"${FLOCKER}\" != \"$0\" ] && exec env FLOCKER=\"$0\" jlock run -en \"$0\" \"$0\" \"$@\" || :";

const GET_HELP: &str = "\
Examples:
  jlock get db.json                 # the whole document
  jlock get db.json .jobs[0].name   # jq-style path
  jlock get -r db.json /owner       # JSON Pointer; a string printed without quotes

  jlock get -c db.json .jobs        # on one line (like jq -c)
  jlock get -e db.json .ready && deploy     # exit 1 if null or false (like jq -e)
  jlock get --default 0 db.json .count      # 0 if db.json or .count is missing (or null)

A missing value prints null, as in jq. A missing FILE is an error (exit 66) and creates
nothing; --default VALUE prints VALUE instead. get creates no file: with no lock file
beside FILE it reads under a lock on FILE itself, which every jlock writer also takes.";

const SET_HELP: &str = "\
Examples:
  jlock set db.json .owner '\"ann\"'           # VALUE is JSON ...
  jlock set db.json .owner ann --string      # ... or, with --string, taken verbatim
  jlock set db.json .limits.cpu 2            # creates .limits if missing";

const DEL_HELP: &str = "\
Examples:
  jlock del db.json .limits.cpu
  jlock del db.json /jobs/0";

const INCR_HELP: &str = "\
Examples:
  # Eight background jobs, one counter, no lost update:
  for i in $(seq 8); do (for j in $(seq 100); do jlock incr hits.json >/dev/null; done) & done; wait
  cat hits.json        # 800

  jlock incr db.json .deploys             # a counter inside a document
  jlock incr db.json .budget --by -2.5   # exact decimals: ten --by 0.1 from 0 give 1

Numbers add exactly, in base 10, never through floating point: integers of any size
stay integers, and decimals need no rounding (0.1 + 0.2 gives 0.3).

With -q the new value is not printed. If it cannot be printed (stdout closed or full),
jlock exits 3: the update was applied, and running the command again would apply it twice.";

const UPDATE_HELP: &str = "\
Examples:
  jlock update db.json -- jq '.n += 1'
  jlock update db.json -- jq --arg u \"$USER\" '.owners += [$u] | .owners |= unique'

CMD reads the document on stdin while jlock holds the exclusive lock. If CMD exits 0
and prints one JSON document, it replaces the file atomically; otherwise the file is
left as it was and jlock exits non-zero (with CMD's own code if CMD failed).

On an etcd:// target there is no lock: the new document is written only if nobody
changed it meanwhile (compare-and-swap), and otherwise CMD runs again on the newer
document. CMD MAY THEREFORE RUN MORE THAN ONCE: it must only compute the new document,
with no other side effects.";

const DEMO_HELP: &str = "\
Examples:
  jlock demo                          # the whole lesson, with a summary table
  jlock demo tickets --no-lock        # watch one ticket being sold ten times
  jlock demo counter -p 8 --ops 1000  # lost updates, then exact counting
  jlock demo --json | jq '.demos[] | {demo, lock, correct}'

Each demo runs real child processes (this binary, re-executed), released together
by a barrier, in a temporary directory that is removed afterwards (--keep DIR keeps it).";

const BENCH_HELP: &str = "\
Examples:
  jlock bench                                  # the full matrix, on this directory's file system
  jlock bench --procs 1,4 --sizes counter,1m   # a smaller matrix
  jlock bench --dir /mnt/nfs --svg bench.svg   # another file system, and a chart
  jlock bench --json | jq '.results[] | select(.procs == 1)'

One op = take the lock, read the JSON counter, add 1, write it back, unlock. Every
measurement checks that the final count is exact (exit 65 if one is not).";

const STATUS_HELP: &str = "\
Examples:
  jlock status build.lock        # free, or held by whom (pid, command, since when)
  jlock status db.json           # a data file: size, last change, journal, and its lock
  jlock status --json build.lock
  if jlock -q status build.lock; then echo free; fi

Exit 0 if the lock is free (a --slots lock: a slot is free), 1 if it is held; -q prints
nothing. A lock file that does not exist is free (\"no lock file yet\"; \"exists\": false
in the JSON) and is not created. Read from the kernel's lock table (/proc/locks), as
lslocks does; for etcd://NAME, from its queue keys.";

const COMPLETIONS_HELP: &str = "\
Examples:
  jlock completions bash > ~/.local/share/bash-completion/completions/jlock
  jlock completions zsh > ~/.zfunc/_jlock
  jlock completions fish > ~/.config/fish/completions/jlock.fish";
