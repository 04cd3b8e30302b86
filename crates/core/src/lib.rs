//! Coordinate processes through files.
//!
//! jlock-core has two parts:
//!
//! * [`LockFile`]: an advisory `flock(2)` lock on a file of its own — exclusive
//!   or shared, blocking, non-blocking or with a timeout — that the kernel
//!   releases when its holder exits or is killed. It interoperates with
//!   util-linux `flock(1)` on the same path.
//! * [`Store`]: a JSON data file whose reads run under a shared lock and whose
//!   updates run under the exclusive lock and replace the file atomically, so
//!   no update is lost and no reader ever sees a torn document. Three
//!   [`Durability`] modes trade speed against what survives which crash.
//! * [`WorkQueue`]: push onto and pop from an array in any [`Document`], each
//!   one atomic update; [`FileWatch`] and [`wait_for`]: wait for a change of
//!   a data file without polling (inotify).
//! * [`Semaphore`]: at most N holders at once, over N lock files; and
//!   [`holders`]: who holds a lock, from the kernel's lock table, and
//!   [`Status`]: what `jlock status` shows, for any backend.
//!
//! ```
//! use jlock_core::{JsonPath, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("counter.json"))?;
//! let root = JsonPath::root();
//! for _ in 0..3 {
//!     store.incr(&root, 1)?; // safe from any number of processes at once
//! }
//! assert_eq!(std::fs::read_to_string(store.path())?, "3\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The protocol, and why it is built this way, is described in `docs/design.md`.
//!
//! Platforms: Unix. Everything builds and works on Linux, where it is tested;
//! on other Unix systems with `flock(2)` (macOS, the BSDs) everything but
//! [`holders`] (which reads Linux's `/proc`) is expected to work — see
//! docs/design.md for what was verified and how. Windows is not supported.
#![deny(missing_docs)]
// Unsafe code is denied everywhere but in `interrupt`, which installs a
// signal handler and sends a signal to one thread (sigaction, pthread_kill:
// nothing safe wraps them in our dependencies).
#![deny(unsafe_code)]

#[cfg(not(unix))]
compile_error!(
    "jlock-core supports Unix only (flock(2), O_NOFOLLOW, file owners and modes); \
     Windows is not supported"
);

mod claim;
mod disk;
mod durability;
pub mod engine;
mod error;
pub mod fair;
mod file_info;
mod holders;
mod interrupt;
mod journal;
mod lock;
mod lock_set;
mod names;
mod queue;
mod replace;
mod revision;
mod semaphore;
mod shared_dir;
mod status;
mod store;
mod sys;
mod watch;

pub use crate::durability::Durability;
pub use crate::engine::{Backend, CasDocument, Document};
pub use crate::error::{Error, Operation, Result};
pub use crate::holders::{holders, Holder, Lease};
pub use crate::interrupt::Interrupt;
pub use crate::lock::{LockFile, LockGuard, LockMode, Wait};
pub use crate::lock_set::{LockSet, LockSetGuard};
pub use crate::queue::{wait_for, WorkQueue};
pub use crate::revision::Revision;
pub use crate::semaphore::{Semaphore, SemaphoreGuard};
pub use crate::status::{DocumentInfo, LockState, Queue, Slots, Status};
pub use crate::store::{Lookup, Store, StoreBuilder};
pub use crate::watch::{Changes, FileWatch, Poll};
pub use jlock_json::{JsonPath, Segment, Spellings, Style};
