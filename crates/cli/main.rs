//! The `jlock` command: flock(1)-style locked commands and a JSON data file
//! shared safely between shell scripts.

mod args;
mod data;
mod demo;
mod exit;
mod output;
mod run;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() {
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
    let result = match &cli.command {
        Command::Run(a) => run::run(a),
        Command::Get(a) => data::get(a),
        Command::Set(a) => data::set(a),
        Command::Del(a) => data::del(a),
        Command::Incr(a) => data::incr(a),
        Command::Update(a) => data::update(a),
        Command::Demo(a) => demo::demo(a),
        Command::DemoChild(a) => demo::child(a),
    };
    let code = result.unwrap_or_else(|err| {
        eprintln!("jlock: {err}");
        err.exit_code()
    });
    std::process::exit(i32::from(code));
}
