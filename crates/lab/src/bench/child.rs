//! One process of a `jlock bench` measurement: the hidden `jlock
//! bench-child` command — a store counter, a work-queue producer or
//! consumer, or a producer or consumer on a locked pipe.
//!
//! Every child says `<index> ready`, waits for the go byte on its stdin,
//! works, and says `<index> done`; a consumer then writes the elements it
//! took, one a line, to its `--out` file, for the parent to check that each
//! was taken exactly once (after the clock stopped).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use jlock_core::{Durability, FileWatch, JsonPath, Spellings, Store, WorkQueue};
use rustix::fs::{flock, FlockOperation};
use serde_json::{json, Value};

use crate::Error;

/// The element a producer pushes after its own, telling one consumer to stop.
pub const STOP: &str = "stop";

/// How long a consumer waits for an element before giving up: a
/// measurement that lost its elements fails instead of hanging.
pub const CONSUMER_PATIENCE: Duration = Duration::from_secs(120);

/// Set in a consumer's environment, it forgets the first element it took:
/// how the tests see that `jlock bench` fails loudly when an element is lost.
pub const LOSE_ONE: &str = "JLOCK_BENCH_LOSE_ONE";

/// What a bench child does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Increments the number at `--path`, `--ops` times.
    Incr,
    /// Pushes the numbers `--first` .. `--first + --ops` onto the array at
    /// `--path`, one push each, then one `"stop"`.
    Push,
    /// Pops from the array at `--path` until it takes a `"stop"`.
    Pop,
    /// Writes the numbers `--first` .. `--first + --ops` into the fifo
    /// FILE, one length-prefixed message each, under the `--lock`.
    PipePush,
    /// Reads messages from the fifo FILE under the `--lock` until end of file.
    PipePop,
}

/// Arguments of `jlock bench-child` (set by `jlock bench`, not by people).
#[derive(Debug, Args)]
pub struct BenchChildArgs {
    /// This child's index.
    pub index: usize,
    /// The data file (a fifo for the pipe roles).
    pub file: PathBuf,
    /// What to do.
    #[arg(long, value_enum, default_value_t = Role::Incr)]
    pub role: Role,
    /// The counter's or the queue's path in the document.
    #[arg(long, default_value = ".")]
    pub path: String,
    /// The store's durability mode.
    #[arg(long, default_value = "rename")]
    pub durability: Durability,
    /// Increments to make, or elements to push.
    #[arg(long, default_value_t = 0)]
    pub ops: u64,
    /// A producer's first element.
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// The lock file of a pipe's side.
    #[arg(long)]
    pub lock: Option<PathBuf>,
    /// Where a consumer writes the elements it took.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs one bench child (see the module's documentation).
pub fn bench_child(args: &BenchChildArgs) -> Result<(), Error> {
    let io = |source| Error::io("bench-child", source);
    let say = |word: &str| {
        let mut out = std::io::stdout();
        out.write_all(format!("{} {word}\n", args.index).as_bytes())
            .and_then(|()| out.flush())
            .map_err(io)
    };
    let go = || std::io::stdin().read_exact(&mut [0u8; 1]).map_err(io);
    let path = JsonPath::parse(&args.path)?;
    let range = args.first..args.first + args.ops;
    let taken = match args.role {
        Role::Incr => {
            let store = Store::builder(&args.file)
                .durability(args.durability)
                .open()?;
            say("ready")?;
            go()?;
            for _ in 0..args.ops {
                store.incr(&path, 1)?;
            }
            None
        }
        Role::Push => {
            let store = Store::builder(&args.file)
                .durability(args.durability)
                .open()?;
            let queue = WorkQueue::new(&store, &args.file, path);
            say("ready")?;
            go()?;
            for n in range {
                queue.push::<jlock_core::Error>(vec![json!(n)], &Spellings::default())?;
            }
            queue.push::<jlock_core::Error>(vec![json!(STOP)], &Spellings::default())?;
            None
        }
        Role::Pop => {
            let store = Store::builder(&args.file)
                .durability(args.durability)
                .open()?;
            let queue = WorkQueue::new(&store, &args.file, path);
            // Watched before the first look, so that no push is missed.
            let mut changes = FileWatch::new(&args.file)?;
            say("ready")?;
            go()?;
            let mut taken = Vec::new();
            loop {
                let deadline = Instant::now() + CONSUMER_PATIENCE;
                let popped = queue.pop::<jlock_core::Error>(None, &mut changes, Some(deadline))?;
                match popped {
                    None => {
                        return Err(Error::Data(format!(
                            "{}: still empty after {} s, and no \"stop\" taken",
                            args.file.display(),
                            CONSUMER_PATIENCE.as_secs()
                        )))
                    }
                    Some((Value::String(s), _)) if s == STOP => break,
                    Some((v, _)) => taken.push(v),
                }
            }
            Some(taken)
        }
        Role::PipePush => {
            let (mut pipe, lock) = open_pipe(args, false)?;
            say("ready")?;
            go()?;
            for n in range {
                let body = n.to_string();
                let mut message = (body.len() as u32).to_le_bytes().to_vec();
                message.extend_from_slice(body.as_bytes());
                locked(&lock, || pipe.write_all(&message)).map_err(io)?;
            }
            None
        }
        Role::PipePop => {
            let (mut pipe, lock) = open_pipe(args, true)?;
            say("ready")?;
            go()?;
            let mut taken = Vec::new();
            while let Some(body) = locked(&lock, || read_message(&mut pipe)).map_err(io)? {
                let text = String::from_utf8_lossy(&body);
                taken.push(serde_json::from_str(&text).map_err(|e| {
                    Error::Data(format!("a garbled message on the pipe: {text:?} ({e})"))
                })?);
            }
            Some(taken)
        }
    };
    say("done")?;
    if let (Some(mut taken), Some(out)) = (taken, &args.out) {
        if std::env::var_os(LOSE_ONE).is_some() && !taken.is_empty() {
            taken.remove(0);
        }
        write_taken(out, &taken).map_err(|e| Error::io(out.display(), e))?;
    }
    Ok(())
}

/// Opens the fifo (for reading or writing) and the lock file of its side.
fn open_pipe(args: &BenchChildArgs, read: bool) -> Result<(File, File), Error> {
    let fifo = OpenOptions::new()
        .read(read)
        .write(!read)
        .open(&args.file)
        .map_err(|e| Error::io(args.file.display(), e))?;
    let lock_path = args
        .lock
        .as_deref()
        .ok_or_else(|| Error::Usage("bench-child: a pipe role needs --lock".into()))?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(|e| Error::io(lock_path.display(), e))?;
    Ok((fifo, lock))
}

/// Runs `work` holding an exclusive `flock(2)` on `lock`.
fn locked<T>(lock: &File, work: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    flock(lock, FlockOperation::LockExclusive)?;
    let result = work();
    flock(lock, FlockOperation::Unlock)?;
    result
}

/// Reads one length-prefixed message; `None` at the end of the pipe.
fn read_message(pipe: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match pipe.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > 4096 {
        return Err(std::io::Error::other(format!(
            "a message of {len} bytes: not one of the bench's"
        )));
    }
    let mut body = vec![0u8; len];
    pipe.read_exact(&mut body)?;
    Ok(Some(body))
}

fn write_taken(out: &Path, taken: &[Value]) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(out)?);
    for v in taken {
        writeln!(w, "{v}")?;
    }
    w.flush()
}
