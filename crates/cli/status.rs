//! `jlock status`: whether a lock is free, held shared or exclusive, by whom
//! and since when — from the kernel's lock table — and, for a data file, its
//! size, last change and whether a journal record awaits replay; for an
//! `etcd://` name, its lock's and semaphore's holders and waiters (from the
//! records in their queue keys) and its document's size and revision.

use std::fs;
use std::path::{Path, PathBuf};

use jlock_core::{holders, Error, Holder, LockMode, Semaphore, Store, Wait};
use serde_json::{json, Value};

use crate::args::StatusArgs;
use crate::exit::{CliError, OK};
use crate::output::{describe, print_line, timestamp};
use crate::target::Target;

fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Exclusive => "exclusive",
        LockMode::Shared => "shared",
    }
}

/// `jlock status`.
pub fn status(args: &StatusArgs) -> Result<u8, CliError> {
    // One arm without the etcd feature.
    #[cfg_attr(not(feature = "etcd"), allow(clippy::infallible_destructuring_match))]
    let path = match &args.path {
        Target::File(p) => p,
        #[cfg(feature = "etcd")]
        Target::Etcd(t) => return etcd_status(t, args),
    };
    #[cfg(feature = "etcd")]
    args.etcd.refuse_for_files()?;
    let sidecar = Store::builder(path).default_lock_path();
    let data = match &args.lock_file {
        Some(_) => Some(path.as_path()),
        None if sidecar.exists() => Some(path.as_path()),
        None => None,
    };
    let lock_path = match (&args.lock_file, data) {
        (Some(l), _) => l.clone(),
        (None, Some(_)) => sidecar,
        (None, None) => path.clone(),
    };
    let slot = |i: usize| Semaphore::slot_path(path, i);
    if data.is_none() && !path.exists() && slot(0).exists() {
        return slots_status(path, slot, args.json);
    }
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
            path.display(),
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

/// The status of a `run --slots` lock: its slot files `PATH.slot0`, … and
/// who holds each.
fn slots_status(path: &Path, slot: impl Fn(usize) -> PathBuf, json: bool) -> Result<u8, CliError> {
    let mut slots = Vec::new();
    // Slot files are made 0..N by `run --slots N` (N ≤ 65535).
    for i in 0..=usize::from(u16::MAX) {
        let file = slot(i);
        if !file.exists() {
            break;
        }
        let table = holders(&file)?;
        let held: Vec<Holder> = table.into_iter().filter(|h| !h.waiting).collect();
        slots.push((file, held));
    }
    let busy = slots.iter().filter(|(_, h)| !h.is_empty()).count();
    if json {
        let list: Vec<Value> = slots
            .iter()
            .enumerate()
            .map(|(i, (file, held))| {
                json!({
                    "slot": i,
                    "lock_file": file,
                    "holders": held.iter().map(|h| json!({
                        "pid": h.pid,
                        "command": h.command,
                        "started": h.started.map(timestamp),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let state = if busy == slots.len() { "full" } else { "free" };
        print_line(
            &json!({"slots_of": path, "state": state, "held": busy, "slots": list}).to_string(),
        );
        return Ok(OK);
    }
    let mut out = format!(
        "{}: {} of {} slots held\n",
        path.display(),
        busy,
        slots.len()
    );
    for (i, (_, held)) in slots.iter().enumerate() {
        match held.as_slice() {
            [] => out.push_str(&format!("  slot {i}: free\n")),
            hs => {
                for h in hs {
                    out.push_str(&format!("  slot {i}: {}\n", describe(h)));
                }
            }
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

/// `jlock status etcd://…/NAME`.
#[cfg(feature = "etcd")]
fn etcd_status(target: &jlock_etcd::Target, args: &StatusArgs) -> Result<u8, CliError> {
    use jlock_etcd::{Entry, QueueStatus};
    use std::time::{Duration, UNIX_EPOCH};

    if args.lock_file.is_some() {
        return Err(CliError::Usage(format!(
            "--lock-file applies to files, not to {target}"
        )));
    }
    let etcd = crate::target::connect(target, &args.etcd.connect_options())?;
    let st = etcd.status()?;
    let since = |e: &Entry| {
        Duration::try_from_secs_f64(e.holder.since)
            .ok()
            .filter(|d| !d.is_zero())
            .map(|d| timestamp(UNIX_EPOCH + d))
    };
    let state = |q: &QueueStatus| match q.holders.first() {
        None => "free".to_string(),
        Some(e) if e.holder.mode == "shared" => "shared".into(),
        Some(e) if e.holder.mode.is_empty() => "held".into(),
        Some(e) => e.holder.mode.clone(),
    };
    if args.json {
        let entries = |es: &[Entry]| -> Vec<Value> {
            es.iter()
                .map(|e| {
                    json!({
                        "host": e.holder.host,
                        "pid": e.holder.pid,
                        "command": e.holder.command,
                        "since": since(e),
                        "fence": e.fence,
                        "mode": e.holder.mode,
                        "key": e.key,
                        "lease": format!("{:x}", e.lease),
                        "ttl_left": e.ttl_left,
                    })
                })
                .collect()
        };
        let v = json!({
            "target": target.to_string(),
            "state": state(&st.lock),
            "holders": entries(&st.lock.holders),
            "waiters": entries(&st.lock.waiters),
            "slots": {
                "holders": entries(&st.slots.holders),
                "waiters": entries(&st.slots.waiters),
            },
            "document": st.document.map(|(bytes, revision)| json!({
                "bytes": bytes,
                "revision": revision,
            })),
        });
        print_line(&v.to_string());
        return Ok(OK);
    }
    let line = |e: &Entry| {
        let mut s = format!("{} pid {}", e.holder.host, e.holder.pid);
        if !e.holder.command.is_empty() {
            s.push_str(&format!(" ({})", e.holder.command));
        }
        if let Some(t) = since(e) {
            s.push_str(&format!(", since {t}"));
        }
        s.push_str(&format!(", fence {}", e.fence));
        if let Some(ttl) = e.ttl_left {
            s.push_str(&format!(", lease {ttl} s left"));
        }
        s
    };
    let mut out = String::new();
    let queue = |out: &mut String, what: &str, q: &QueueStatus| {
        match q.holders.as_slice() {
            [] => out.push_str(&format!("{what}: free\n")),
            hs => {
                out.push_str(&format!("{what}: held {} by\n", state(q)));
                for e in hs {
                    out.push_str(&format!("  {}\n", line(e)));
                }
            }
        }
        if !q.waiters.is_empty() {
            out.push_str("waiting for it:\n");
            for e in &q.waiters {
                out.push_str(&format!("  {} [{}]\n", line(e), e.holder.mode));
            }
        }
    };
    queue(&mut out, &format!("{target} (lock)"), &st.lock);
    if !st.slots.holders.is_empty() || !st.slots.waiters.is_empty() {
        queue(&mut out, &format!("{target} (slots)"), &st.slots);
    }
    match st.document {
        Some((bytes, rev)) => out.push_str(&format!(
            "{target} (document): {bytes} bytes, revision {rev}\n"
        )),
        None => out.push_str(&format!(
            "{target} (document): does not exist yet (reads as null)\n"
        )),
    }
    print_line(out.trim_end());
    Ok(OK)
}
