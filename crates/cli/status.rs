//! `jlock status`: whether a lock is free, held shared or exclusive, by whom
//! and since when — from the kernel's lock table — and, for a data file, its
//! size, last change and whether a journal record awaits replay.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use jlock_core::{holders, Error, Holder, LockMode, Store, Wait};
use serde_json::{json, Value};

use crate::exit::{CliError, OK};
use crate::output::{describe, print_line, timestamp};

/// Options of `jlock status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A lock file, or a data file (one whose FILE.lock exists, or given --lock-file).
    #[arg(value_name = "LOCKFILE|DATAFILE")]
    pub path: PathBuf,
    /// The data file's lock file, if not DATAFILE.lock.
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Exclusive => "exclusive",
        LockMode::Shared => "shared",
    }
}

/// `jlock status`.
pub fn status(args: &StatusArgs) -> Result<u8, CliError> {
    let sidecar = Store::builder(&args.path).default_lock_path();
    let data = match &args.lock_file {
        Some(_) => Some(args.path.as_path()),
        None if sidecar.exists() => Some(args.path.as_path()),
        None => None,
    };
    let lock_path = match (&args.lock_file, data) {
        (Some(l), _) => l.clone(),
        (None, Some(_)) => sidecar,
        (None, None) => args.path.clone(),
    };
    let table = holders(&lock_path)?;
    let held: Vec<&Holder> = table.iter().filter(|h| !h.waiting).collect();
    let waiting: Vec<&Holder> = table.iter().filter(|h| h.waiting).collect();
    let state = match held.first() {
        None => "free",
        Some(h) => mode_name(h.mode),
    };
    let data_info = data.map(|d| data_status(d, &lock_path)).transpose()?;

    if args.json {
        let procs = |hs: &[&Holder]| -> Vec<Value> {
            hs.iter()
                .map(|h| {
                    json!({
                        "pid": h.pid,
                        "mode": mode_name(h.mode),
                        "command": h.command,
                        "started": h.started.map(timestamp),
                    })
                })
                .collect()
        };
        let mut v = json!({
            "lock_file": lock_path,
            "state": state,
            "holders": procs(&held),
            "waiters": procs(&waiting),
        });
        if let Some(info) = data_info {
            v["data"] = info;
        }
        print_line(&v.to_string());
        return Ok(OK);
    }

    let mut out = String::new();
    if let Some(info) = &data_info {
        out.push_str(&format!(
            "{}: {}\n",
            args.path.display(),
            match info["exists"].as_bool() {
                Some(true) => format!(
                    "{} bytes, changed {}; journal: {}",
                    info["bytes"],
                    info["modified"].as_str().unwrap_or("?"),
                    info["journal"].as_str().unwrap_or("?")
                ),
                _ => "does not exist yet (reads as null)".to_string(),
            }
        ));
    }
    match held.as_slice() {
        [] => out.push_str(&format!("{}: free\n", lock_path.display())),
        hs => {
            out.push_str(&format!("{}: held {state} by\n", lock_path.display()));
            for h in hs {
                out.push_str(&format!("  {}\n", describe(h)));
            }
        }
    }
    if !waiting.is_empty() {
        out.push_str("waiting for it:\n");
        for h in &waiting {
            out.push_str(&format!("  {} [{}]\n", describe(h), mode_name(h.mode)));
        }
    }
    print_line(out.trim_end());
    Ok(OK)
}

/// Whether a journal record awaits replay, in words.
fn journal_state(path: &Path, lock_path: &Path) -> Result<&'static str, CliError> {
    if !lock_path.exists() {
        // Opening a store would create the lock file; a status creates nothing.
        return Ok("unknown: no lock file yet");
    }
    let store = Store::builder(path)
        .lock_path(lock_path)
        .wait(Wait::NoWait)
        .open()?;
    // Looking needs the shared lock; a status must not wait for it.
    Ok(match store.replay_pending() {
        Ok(true) => "awaiting replay (a writer was killed; the next one repairs the file)",
        Ok(false) => "nothing to replay",
        Err(Error::LockConflict { .. }) => "unknown while the lock is held exclusively",
        Err(e) => return Err(e.into()),
    })
}

/// Size, last change and journal state of a data file, as JSON.
fn data_status(path: &Path, lock_path: &Path) -> Result<Value, CliError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json!({"path": path, "exists": false, "journal": "none"}))
        }
        Err(e) => {
            return Err(CliError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let journal = journal_state(path, lock_path)?;
    Ok(json!({
        "path": path,
        "exists": true,
        "bytes": meta.len(),
        "modified": meta.modified().ok().map(timestamp),
        "journal": journal,
    }))
}
