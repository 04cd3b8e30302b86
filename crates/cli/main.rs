//! The `jlock` command: flock(1)-style locked commands and a JSON data file
//! shared safely between shell scripts.
// See `main` below for why std's start-up is skipped — only with glibc,
// which hands the arguments to std itself; musl does not.
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod args;
mod data;
mod document;
mod exit;
mod help;
mod output;
mod parse;
mod patch;
mod queue;
mod run;
mod status;
mod target;
mod usage;
mod wait;

use clap::CommandFactory;

use crate::args::{Cli, Command};

/// The process entry point, called straight from the C runtime.
///
/// One `jlock incr` in a shell loop is one short process, so start-up is a
/// large share of its cost. std's own start-up (`lang_start`) reads
/// `/proc/self/maps` to place a stack guard and installs signal handlers —
/// about 0.2 ms here, a tenth of the whole command. jlock skips it and does
/// the one part it needs: ignoring SIGPIPE, so a closed pipe is an error to
/// handle, not a silent death. (std gives spawned commands the default
/// SIGPIPE back.) Arguments still come from `std::env::args_os`, which glibc
/// hands to std independently of `main` (through `.init_array`); other C
/// libraries (musl) do not, so there jlock starts the ordinary way.
#[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    std::process::exit(run())
}

/// The ordinary entry point: under `cargo test` (where the harness supplies
/// its own, and this keeps `run` checked as live code) and on platforms
/// without glibc. std's start-up already ignores SIGPIPE.
#[cfg(any(test, not(all(target_os = "linux", target_env = "gnu"))))]
fn main() {
    std::process::exit(run())
}

fn run() -> i32 {
    run::reset_sigchld();
    // The lab's child processes (`jlock demo-child`, `jlock bench-child`)
    // parse their own arguments, outside the product's command line; every
    // other command goes straight to clap.
    #[cfg(feature = "lab")]
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "demo-child" || a == "bench-child")
    {
        if let Some(result) = jlock_lab::child_main(std::env::args_os()) {
            let ui = output::Ui::default();
            let code = lab(result, &ui).unwrap_or_else(|err| {
                ui.say(&err.to_string());
                err.exit_code()
            });
            return i32::from(code);
        }
    }
    let cli = match parse::command_line(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; real usage
            // errors exit with the documented usage code, and say `jlock:`
            // as every other message of jlock's does.
            if !e.use_stderr() {
                return i32::from(match e.print() {
                    Ok(()) => exit::OK,
                    Err(_) => exit::IO,
                });
            }
            let text = usage::explain_usage_error(&e, e.render().to_string());
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            output::to_stderr(&format!("jlock: {text}"));
            return i32::from(exit::USAGE);
        }
    };
    let ui = output::Ui {
        quiet: cli.globals.quiet,
        verbose: cli.globals.verbose,
    };
    let result = match &cli.command {
        Command::Run(a) => run::run(a, &ui),
        Command::Get(a) => data::get(a, &ui),
        Command::Set(a) => data::set(a, &ui),
        Command::Del(a) => data::del(a, &ui),
        Command::Incr(a) => data::incr(a, &ui),
        Command::Update(a) => data::update(a, &ui),
        Command::Patch(a) => patch::patch(a, &ui),
        Command::Rev(a) => data::rev(a, &ui),
        Command::Push(a) => queue::push(a, &ui),
        Command::Pop(a) => queue::pop(a, &ui),
        Command::Wait(a) => wait::wait(a, &ui),
        Command::Watch(a) => wait::watch(a, &ui),
        Command::Status(a) => status::status(a, &ui),
        #[cfg(feature = "lab")]
        Command::Demo(a) => lab(jlock_lab::demo::demo(a), &ui),
        #[cfg(feature = "lab")]
        Command::Bench(a) => lab(jlock_lab::bench::bench(a), &ui),
        #[cfg(not(feature = "lab"))]
        Command::Demo(_) | Command::Bench(_) => Err(exit::CliError::Usage(
            "this jlock was built without `demo` and `bench`: build it with \
             `--features lab` (on by default), e.g. `cargo build --release`"
                .into(),
        )),
        Command::Completions { shell } => {
            // Generated into memory first: clap_complete panics on a
            // failed write, jlock reports it (74, or quiet on a closed pipe).
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "jlock", &mut script);
            output::print_line(String::from_utf8_lossy(&script).trim_end());
            Ok(exit::OK)
        }
        Command::Man { subcommand } => man_page(subcommand.as_deref()),
    };
    let code = result.unwrap_or_else(|err| {
        if !ui.quiet {
            output::to_stderr(&format!("jlock: {err}\n"));
            if let Some(hint) = err.hint() {
                output::to_stderr(&format!("jlock: hint: {hint}\n"));
            }
        }
        err.exit_code()
    });
    i32::from(code)
}

/// `jlock man [SUBCOMMAND]`: the page `jlock(1)`, or `jlock-SUBCOMMAND(1)`
/// that it refers to.
fn man_page(subcommand: Option<&str>) -> Result<u8, exit::CliError> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name && !s.is_hide_set())
                .cloned()
                .ok_or_else(|| exit::CliError::Usage(format!("no subcommand {name:?}")))?;
            let full = format!("jlock-{name}");
            sub.name(full.clone())
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .map_err(|source| exit::CliError::Io {
            path: "man page".into(),
            source,
        })?;
    text.extend_from_slice(match subcommand {
        None => SEE_ALSO_MAIN.as_bytes(),
        Some(_) => SEE_ALSO_SUB.as_bytes(),
    });
    output::print_line(String::from_utf8_lossy(&text).trim_end());
    Ok(exit::OK)
}

/// jlock(1)'s SEE ALSO: where the subcommands' pages, which it names, come from.
const SEE_ALSO_MAIN: &str = r#"
.SH "SEE ALSO"
Each subcommand has a page of its own, \fBjlock\-\fR\fISUBCOMMAND\fR(1):
\fBjlock man\fR \fISUBCOMMAND\fR prints it (\fBjlock man run | man \-l \-\fR).
\fBjust install\fR (the project's justfile) installs this page and every
subcommand's into ~/.local/share/man/man1; by hand, for each subcommand:
\fBjlock man run > ~/.local/share/man/man1/jlock\-run.1\fR.
flock(1), jq(1).
"#;

/// A subcommand's SEE ALSO.
const SEE_ALSO_SUB: &str = r#"
.SH "SEE ALSO"
jlock(1) (\fBjlock man\fR), which lists every subcommand's page.
"#;

#[cfg(feature = "lab")]
/// A lab command's result (crates/lab: `demo`, `bench` and their children)
/// in the CLI's terms: the library's errors as the CLI's own, the lab's
/// other errors reported here, with their exit codes.
fn lab(result: Result<(), jlock_lab::Error>, ui: &output::Ui) -> Result<u8, exit::CliError> {
    use jlock_lab::Error as E;
    match result {
        Ok(()) => Ok(exit::OK),
        Err(E::Core(e)) => Err(exit::CliError::Core(e)),
        Err(E::Usage(msg)) => Err(exit::CliError::Usage(msg)),
        Err(e) => {
            ui.say(&e.to_string());
            Ok(match e {
                E::Data(_) => exit::DATA,
                _ => exit::IO,
            })
        }
    }
}
