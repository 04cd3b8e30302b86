//! jlock's etcd v3 backend: leased locks with fencing tokens, semaphores, and documents
//! updated by compare-and-swap, behind a synchronous API for the (synchronous) CLI.
//!
//! Everything starts from a [`Target`] (`etcd://HOST:PORT[,HOST:PORT…]/NAME`) and an
//! [`Etcd`] connection to it. The connection owns a small tokio runtime (one worker thread,
//! which also keeps held leases alive); it is created only when an etcd target is used, so
//! local-file commands never pay for it.
//!
//! ```no_run
//! use jlock_etcd::{ConnectOptions, Etcd, LockOptions, Target, Wait};
//! use std::time::Duration;
//!
//! let target = Target::parse("etcd://127.0.0.1:2379/deploy")?;
//! let etcd = Etcd::connect(&target, &ConnectOptions::default())?;
//! let lock = etcd.lock(&LockOptions::new().wait(Wait::Timeout(Duration::from_secs(30))))?;
//! println!("fence {}", lock.fence());
//! let n = etcd.update(|old| {
//!     let n: u64 = old.map(|b| String::from_utf8_lossy(b).trim().parse().unwrap_or(0)).unwrap_or(0);
//!     Ok::<_, std::io::Error>(Some((n + 1).to_string().into_bytes()))
//! })?;
//! lock.release()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Key layout under NAME (all under `jlock/NAME/`): `.lock/x/LEASE` and `.lock/s/LEASE`
//! (exclusive and shared queue entries), `.slots/q/LEASE` and `.slots/n/I` (semaphore queue
//! and slot numbers), `.doc` (the document), `.receipt` (a value unique to the document's
//! last update, written with it, so an update whose answer was lost can be re-checked).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod doc;
mod error;
pub mod local;
mod lock;
mod status;
mod target;
mod watch;

pub use client::{
    ConnectOptions, Etcd, TlsFiles, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REQUEST_BYTES,
};
pub use doc::{EtcdDocument, KeyValue, Update};
pub use error::{Error, LossReason, Result};
pub use lock::{safety_margin, EtcdLock, LockMode, LockOptions, Wait, DEFAULT_TTL};
pub use status::{HolderInfo, MAX_COMMAND_LEN};
pub use target::{is_etcd_target, Target, MAX_NAME_LEN, SCHEME, TLS_SCHEME};
pub use watch::DocumentWatch;
