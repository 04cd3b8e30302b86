//! Who holds an etcd lock or semaphore and who waits: the holder record stored as each queue
//! key's value, and [`Etcd::status`] that reads the queues back.

use crate::{Etcd, Result};
use etcd_client::{GetOptions, SortOrder, SortTarget};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// One queue entry.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Its create revision: the fence its holder got (or will get).
    pub fence: i64,
    /// Its lease.
    pub lease: i64,
    /// Who queued it.
    pub holder: HolderInfo,
    /// Seconds left on its lease (None if etcd would not say).
    pub ttl_left: Option<i64>,
}

/// One queue: who holds, who waits (oldest first).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct QueueStatus {
    /// The entries that hold.
    pub holders: Vec<Entry>,
    /// The entries that wait, in the order they will be served.
    pub waiters: Vec<Entry>,
}

/// The state of one NAME.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// The lock (`run`).
    pub lock: QueueStatus,
    /// The semaphore (`run --slots N`).
    pub slots: QueueStatus,
    /// The document's size in bytes and modification revision, if there is one.
    pub document: Option<(usize, i64)>,
}

impl Etcd {
    /// Reads who holds the target's lock and semaphore, since when, with which fence, and
    /// who waits.
    pub fn status(&self) -> Result<Status> {
        let inner = &self.inner;
        let t = &inner.target;
        let mut c = inner.client();
        inner.rt.block_on(async {
            let mut out = Status::default();
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
                let mut q = QueueStatus::default();
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
                    let holder = HolderInfo::parse(kv.value());
                    let key = String::from_utf8_lossy(kv.key()).into_owned();
                    let holds = if is_lock {
                        let shared = key.get(prefix.len()..).unwrap_or("").starts_with("s/");
                        let h = if shared { !exclusive_before } else { i == 0 };
                        exclusive_before |= !shared;
                        h
                    } else {
                        let n: usize = holder
                            .mode
                            .strip_prefix("slot/")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1);
                        i < n
                    };
                    let e = Entry {
                        key,
                        fence: kv.create_revision(),
                        lease: kv.lease(),
                        holder,
                        ttl_left,
                    };
                    if holds {
                        q.holders.push(e);
                    } else {
                        q.waiters.push(e);
                    }
                }
                if is_lock {
                    out.lock = q;
                } else {
                    out.slots = q;
                }
            }
            let key = t.document_key();
            let k = key.as_str();
            let r = inner
                .req("reading the document", |mut c| async move {
                    c.get(k, None).await
                })
                .await?;
            out.document = r
                .kvs()
                .first()
                .map(|kv| (kv.value().len(), kv.mod_revision()));
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
