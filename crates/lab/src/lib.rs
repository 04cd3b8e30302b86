//! jlock's lab: `jlock demo` and `jlock bench`, the crew of child processes
//! they start, and the chart — kept beside the product, not in it.
//!
//! The `jlock` binary runs [`demo::demo`] and [`bench::bench`] as its `demo`
//! and `bench` commands, and hands its hidden child commands (`jlock
//! demo-child`, `jlock bench-child`, which the lab starts itself) to
//! [`child_main`] before parsing its own arguments, so they stay out of the
//! product's command line. The lab uses jlock-core's public API only.

#![warn(missing_docs)]

pub mod bench;
mod crew;
pub mod demo;
mod error;
mod term;

use std::ffi::OsString;

use clap::Parser;

pub use crate::error::Error;

/// The lab's hidden child commands, re-executed from the running binary.
#[derive(Debug, Parser)]
#[command(name = "jlock")]
enum ChildCommand {
    /// One child process of `jlock demo`.
    DemoChild(demo::ChildArgs),
    /// One child process of `jlock bench`.
    BenchChild(bench::BenchChildArgs),
}

/// Runs a child process of the lab if `args` (the whole command line, the
/// program name first) asks for one — `jlock demo-child …` or `jlock
/// bench-child …` — and returns its result; returns `None`, at once, for any
/// other command line.
pub fn child_main<I>(args: I) -> Option<Result<(), Error>>
where
    I: IntoIterator<Item = OsString>,
{
    let args: Vec<OsString> = args.into_iter().collect();
    let first = args.get(1)?;
    if first != "demo-child" && first != "bench-child" {
        return None;
    }
    Some(match ChildCommand::try_parse_from(&args) {
        Ok(ChildCommand::DemoChild(a)) => demo::child(&a),
        Ok(ChildCommand::BenchChild(a)) => bench::bench_child(&a),
        Err(e) => Err(Error::Usage(e.to_string().trim_end().to_string())),
    })
}
