//! One process of a `jlock bench` store measurement: the hidden
//! `jlock bench-child` command.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::Args;
use jlock_core::{Durability, JsonPath, Store};

use crate::Error;

/// Arguments of `jlock bench-child` (set by `jlock bench`, not by people).
#[derive(Debug, Args)]
pub struct BenchChildArgs {
    /// This child's index.
    pub index: usize,
    /// The data file.
    pub file: PathBuf,
    /// The counter's path in the document.
    #[arg(long)]
    pub path: String,
    /// The store's durability mode.
    #[arg(long)]
    pub durability: Durability,
    /// Increments to make.
    #[arg(long)]
    pub ops: u64,
}

/// Says `ready`, waits for the go byte, increments `ops` times, says `done`.
pub fn bench_child(args: &BenchChildArgs) -> Result<(), Error> {
    let io = |source| Error::io("bench-child", source);
    let store = Store::builder(&args.file)
        .durability(args.durability)
        .open()?;
    let path = JsonPath::parse(&args.path)?;
    let mut out = std::io::stdout();
    out.write_all(format!("{} ready\n", args.index).as_bytes())
        .and_then(|()| out.flush())
        .map_err(io)?;
    std::io::stdin().read_exact(&mut [0u8; 1]).map_err(io)?;
    for _ in 0..args.ops {
        store.incr(&path, 1)?;
    }
    out.write_all(format!("{} done\n", args.index).as_bytes())
        .and_then(|()| out.flush())
        .map_err(io)?;
    Ok(())
}
