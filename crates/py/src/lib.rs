//! jlock for Python: the extension module `jlock._jlock`.
//!
//! A thin front end on jlock-core: [`lock`] holds `flock(2)` locks and
//! semaphore slots ([`jlock_core::LockFile`], [`jlock_core::Semaphore`]),
//! [`lock_set`] several locks at once ([`jlock_core::LockSet`]),
//! [`store`] calls the engine ([`jlock_core::Document`] on a
//! [`jlock_core::Store`]); [`wait`] makes their waits release the GIL and
//! give way to Ctrl-C; [`convert`] turns JSON into Python objects and back,
//! exactly; [`errors`] is the one mapping of jlock-core's errors to Python
//! exceptions. The Python package around it (`python/jlock`) adds
//! py-filelock's API: re-entrant `FileLock`, `ReadWriteLock`, context
//! managers. With the cargo feature `etcd`, [`etcd`] serves `etcd://`
//! targets: the store through jlock-core's `CasDocument` over jlock-etcd,
//! and leased locks (`jlock_etcd::EtcdLock`).

use pyo3::prelude::*;

pub mod convert;
pub mod errors;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod lock;
pub mod lock_set;
pub mod queue;
pub mod store;
pub mod wait;

/// The extension module.
#[pymodule]
fn _jlock(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<lock::RawLock>()?;
    m.add_class::<lock::RawSemaphore>()?;
    m.add_class::<lock_set::RawLockSet>()?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::Transaction>()?;
    // Whether etcd:// targets work: built with the cargo feature `etcd`.
    m.add("HAS_ETCD", cfg!(feature = "etcd"))?;
    // Whether etcds:// (TLS) targets work: built with the cargo feature `etcd-tls`.
    m.add("HAS_ETCD_TLS", cfg!(feature = "etcd-tls"))?;
    #[cfg(feature = "etcd")]
    m.add_class::<etcd::RawEtcdLock>()?;
    Ok(())
}
