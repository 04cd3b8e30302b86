//! Who holds an etcd lock or semaphore and who waits: the holder record stored as each queue
//! key's value, and [`Etcd::status`] that reads the queues back as jlock-core's
//! [`Status`](jlock_core::Status), the one every backend gives.

use crate::{Etcd, Result};
use etcd_client::{GetOptions, SortOrder, SortTarget};
use jlock_core::{DocumentInfo, Holder, Lease, LockMode, Queue, Slots, Status};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest command recorded in a lock's value (longer ones are cut, with `…`): the
/// value must stay far below etcd's request limit.
pub const MAX_COMMAND_LEN: usize = 1024;

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Who queued a key: stored as the key's value (a small JSON object).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HolderInfo {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// The command, as the caller described it.
    pub command: String,
    /// When the process queued, in seconds since the Unix epoch.
    pub since: f64,
    /// `exclusive`, `shared` or `slot/N`.
    pub mode: String,
}

impl HolderInfo {
    /// This process, now.
    pub fn current(command: &str) -> HolderInfo {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        HolderInfo {
            host,
            pid: std::process::id(),
            command: truncate(command, MAX_COMMAND_LEN),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            mode: String::new(),
        }
    }

    /// The JSON stored in etcd.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "since": (self.since * 1000.0).round() / 1000.0,
            "mode": self.mode,
        })
        .to_string()
    }

    /// Parses a stored value; fields that are missing or of the wrong type are left empty
    /// (a key written by another tool still shows up in `status`).
    pub fn parse(bytes: &[u8]) -> HolderInfo {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        HolderInfo {
            host: s("host"),
            pid: v.get("pid").and_then(|x| x.as_u64()).unwrap_or(0) as u32,
            command: s("command"),
            since: v.get("since").and_then(|x| x.as_f64()).unwrap_or(0.0),
            mode: s("mode"),
        }
    }
}

impl Etcd {
    /// Reads who holds the target's lock and semaphore, since when, with which fence and
    /// lease, and who waits (in the order they will be served); and the document's size
    /// and revision.
    pub fn status(&self) -> Result<Status> {
        let inner = &self.inner;
        let t = &inner.target;
        let mut c = inner.client();
        inner.rt.block_on(async {
            let mut out = Status::default();
            out.target = t.to_string();
            let mut slots = Slots::default();
            for (prefix, is_lock) in [(t.lock_prefix(), true), (t.slots_prefix(), false)] {
                let opts = GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend);
                let (p, o) = (prefix.as_str(), &opts);
                let r = inner
                    .req("reading the queue", |mut c| async move {
                        c.get(p, Some(o.clone())).await
                    })
                    .await?;
                let mut listing = Vec::new();
                let mut exclusive_before = false;
                for (i, kv) in r.kvs().iter().enumerate() {
                    let ttl_left = tokio::time::timeout(
                        inner.opts.request_timeout,
                        c.lease_time_to_live(kv.lease(), None),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .map(|l| l.ttl());
                    let info = HolderInfo::parse(kv.value());
                    let key = String::from_utf8_lossy(kv.key()).into_owned();
                    let shared = is_lock && key.get(prefix.len()..).unwrap_or("").starts_with("s/");
                    let holds = if is_lock {
                        let h = if shared { !exclusive_before } else { i == 0 };
                        exclusive_before |= !shared;
                        h
                    } else {
                        // A semaphore's entries say how many slots it has: `slot/N`.
                        let n: usize = info
                            .mode
                            .strip_prefix("slot/")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1);
                        slots.count = slots.count.max(n);
                        i < n
                    };
                    let mode = if shared {
                        LockMode::Shared
                    } else {
                        LockMode::Exclusive
                    };
                    let mut h = Holder::new(info.pid, mode, !holds, info.command);
                    h.host = Some(info.host);
                    h.queued = Duration::try_from_secs_f64(info.since)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .map(|d| UNIX_EPOCH + d);
                    h.fence = Some(kv.create_revision());
                    h.lease = Some(Lease::new(kv.lease(), key, ttl_left));
                    listing.push(h);
                }
                out.exists |= !listing.is_empty();
                if is_lock {
                    out.lock = Queue::from_listing(listing);
                } else {
                    slots.queue = Queue::from_listing(listing);
                }
            }
            out.slots = Some(slots);
            let key = t.document_key();
            let k = key.as_str();
            let r = inner
                .req("reading the document", |mut c| async move {
                    c.get(k, None).await
                })
                .await?;
            out.document = Some(match r.kvs().first() {
                Some(kv) => {
                    DocumentInfo::new(true, kv.value().len() as u64, Some(kv.mod_revision()))
                }
                None => DocumentInfo::new(false, 0, None),
            });
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_info_round_trips_and_long_commands_are_cut() {
        let long = "é".repeat(MAX_COMMAND_LEN);
        let mut h = HolderInfo::current(&long);
        h.mode = "exclusive".into();
        assert!(h.command.len() <= MAX_COMMAND_LEN + "…".len());
        assert!(h.command.ends_with('…'));
        let back = HolderInfo::parse(h.to_json().as_bytes());
        assert_eq!(back.command, h.command);
        assert_eq!(back.pid, std::process::id());
        assert_eq!(back.mode, "exclusive");
        assert_eq!(HolderInfo::parse(b"not json"), HolderInfo::default());
        assert_eq!(HolderInfo::parse(b"[1]").pid, 0);
    }
}
