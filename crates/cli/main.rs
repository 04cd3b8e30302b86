//! The `jlock` command: flock(1)-style locked commands and a JSON data file
//! shared safely between shell scripts.
// See `main` below for why std's start-up is skipped.
#![cfg_attr(not(test), no_main)]

mod args;
mod bench;
mod crew;
mod data;
mod demo;
mod exit;
mod output;
mod run;
mod status;

use clap::{CommandFactory, Parser};

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
/// hands to std independently of `main`.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    std::process::exit(run())
}

/// Under `cargo test` the harness supplies the entry point; this keeps
/// `run` (and all it reaches) checked as live code there too.
#[cfg(test)]
fn main() {
    std::process::exit(run())
}

fn run() -> i32 {
    run::reset_sigchld();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; real usage
            // errors exit with the documented usage code.
            let _ = e.print();
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            std::process::exit(i32::from(code));
        }
    };
    let ui = output::Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let result = match &cli.command {
        Command::Run(a) => run::run(a, &ui),
        Command::Get(a) => data::get(a, &ui),
        Command::Set(a) => data::set(a, &ui),
        Command::Del(a) => data::del(a, &ui),
        Command::Incr(a) => data::incr(a, &ui),
        Command::Update(a) => data::update(a, &ui),
        Command::Status(a) => status::status(a),
        Command::Demo(a) => demo::demo(a),
        Command::Bench(a) => bench::bench(a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "jlock", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            let mut page = Vec::new();
            match man.render(&mut page) {
                Ok(()) => {
                    output::print_line(String::from_utf8_lossy(&page).trim_end());
                    Ok(exit::OK)
                }
                Err(source) => Err(exit::CliError::ChildIo {
                    program: "man".into(),
                    source,
                }),
            }
        }
        Command::DemoChild(a) => demo::child(a),
        Command::BenchChild(a) => bench::bench_child(a),
    };
    let code = result.unwrap_or_else(|err| {
        if !ui.quiet {
            eprintln!("jlock: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("jlock: hint: {hint}");
            }
        }
        err.exit_code()
    });
    i32::from(code)
}
