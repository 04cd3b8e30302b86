//! Documents on etcd: one key's value, read, written, and updated by compare-and-swap on the
//! key's modification revision (retried on conflict, so no update is ever lost).
//!
//! Why compare-and-swap rather than the lock: an update is then one read and one
//! transaction (two round trips), with no lease, no queue key and no watch; a holder paused
//! mid-update cannot overwrite a newer value, since its transaction's compare fails. The
//! update function may therefore run more than once (once per conflict): it must have no
//! side effects beyond computing the new value. [`Etcd::update_fenced`] adds the lock's fence
//! to the compare, for updates that must happen only while a lock is held.

use crate::client::{Inner, Outcome, REQUEST_OVERHEAD};
use crate::watch::DocumentWatch;
use crate::{Error, Etcd, EtcdLock, LossReason, Result};
use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use std::time::Duration;

/// A document as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The key's modification revision (changes with every write).
    pub revision: i64,
}

/// What [`Etcd::update`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The document's value now (None: there is none and the function wrote none).
    pub value: Option<Vec<u8>>,
    /// Whether a new value was written.
    pub changed: bool,
    /// The key's modification revision now (0: no such key).
    pub revision: i64,
    /// How many times the function ran (1 + conflicts).
    pub attempts: u32,
}

/// Give up after this many conflicting attempts (with jittered back-off, this takes
/// thousands of concurrent writers on one key).
const MAX_ATTEMPTS: u32 = 10_000;

impl Etcd {
    /// The largest value [`Etcd::put`]/[`Etcd::update`] accept for this target's document.
    pub fn max_value_len(&self) -> usize {
        self.inner
            .opts
            .max_request_bytes
            .saturating_sub(self.inner.target.document_key().len() + REQUEST_OVERHEAD)
    }

    fn check_size(&self, value: &[u8]) -> Result<()> {
        let limit = self.max_value_len();
        if value.len() > limit {
            return Err(Error::TooLarge {
                name: self.inner.target.name().to_string(),
                size: value.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Reads the document (a linearizable read). None if there is none.
    pub fn read(&self) -> Result<Option<KeyValue>> {
        self.read_at().map(|(kv, _)| kv)
    }

    /// [`Etcd::read`], with the cluster's revision the read was made at: a
    /// watch from the revision after it sees every later change.
    pub(crate) fn read_at(&self) -> Result<(Option<KeyValue>, i64)> {
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        let r = inner
            .rt
            .block_on(inner.req("reading the document", |mut c| async move {
                c.get(k, None).await
            }))?;
        let at = r.header().map_or(0, |h| h.revision());
        let kv = r.kvs().first().map(|kv| KeyValue {
            value: kv.value().to_vec(),
            revision: kv.mod_revision(),
        });
        Ok((kv, at))
    }

    /// Writes the document unconditionally; returns its new revision.
    pub fn put(&self, value: &[u8]) -> Result<i64> {
        self.check_size(value)?;
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        // Not sent again once it may have reached a server: a late copy could overwrite a
        // newer value.
        let r = inner.rt.block_on(
            inner.req_unsure("writing the document", |mut c| async move {
                c.put(k, value, None).await
            }),
        )?;
        match r {
            Outcome::Done(r) => Ok(r.header().map(|h| h.revision()).unwrap_or(0)),
            Outcome::Unknown(e) => Err(e),
        }
    }

    /// Deletes the document; true if there was one.
    pub fn delete(&self) -> Result<bool> {
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        let r = inner.rt.block_on(
            inner.req_unsure("deleting the document", |mut c| async move {
                c.delete(k, None).await
            }),
        )?;
        match r {
            Outcome::Done(r) => Ok(r.deleted() > 0),
            Outcome::Unknown(e) => Err(e),
        }
    }

    /// Updates the document: `f` gets the current value (None if there is none) and returns
    /// the new one (None: leave it as it is). Written by a transaction that succeeds only if
    /// the key's modification revision is still the one read; on conflict `f` runs again on
    /// the newer value. `f` may thus run several times; its error aborts with
    /// [`Error::Rejected`] and nothing written.
    pub fn update<F, E>(&self, f: F) -> Result<Update>
    where
        F: FnMut(Option<&[u8]>) -> std::result::Result<Option<Vec<u8>>, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_inner(None, f)
    }

    /// Like [`Etcd::update`], but the transaction also requires that `lock` still holds its
    /// lock key (its create revision equals the fence): etcd itself checks the fence, so a
    /// holder that lost its lock (paused past its TTL) can never write. Fails with
    /// [`Error::Lost`] (and marks the lock lost) if it does not.
    pub fn update_fenced<F, E>(&self, lock: &EtcdLock, f: F) -> Result<Update>
    where
        F: FnMut(Option<&[u8]>) -> std::result::Result<Option<Vec<u8>>, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !std::ptr::eq(lock.inner().as_ref(), self.inner.as_ref())
            && lock.inner().target.endpoints() != self.inner.target.endpoints()
        {
            return Err(Error::InvalidArgument(
                "update_fenced: the lock is on another etcd cluster".into(),
            ));
        }
        self.update_inner(Some(lock), f)
    }

    /// The document with its version (its count of writes since it was created), the
    /// receipt's value, and the lock key's create revision if `lock`, in one linearizable
    /// read.
    fn read_state(&self, lock: Option<&EtcdLock>) -> Result<State> {
        let inner = &self.inner;
        let (key, receipt) = (inner.target.document_key(), inner.target.receipt_key());
        let mut ops = vec![
            TxnOp::get(key.as_bytes(), None),
            TxnOp::get(receipt.as_bytes(), None),
        ];
        if let Some(l) = lock {
            ops.push(TxnOp::get(l.key().as_bytes(), None));
        }
        let txn = Txn::new().and_then(ops);
        let txn = &txn;
        let r = inner
            .rt
            .block_on(inner.req("reading the document", |mut c| async move {
                c.txn(txn.clone()).await
            }))?;
        Ok(State::of(r.op_responses()))
    }

    fn update_inner<F, E>(&self, lock: Option<&EtcdLock>, mut f: F) -> Result<Update>
    where
        F: FnMut(Option<&[u8]>) -> std::result::Result<Option<Vec<u8>>, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let inner: &Inner = &self.inner;
        let name = inner.target.name().to_string();
        let key = inner.target.document_key();
        let receipt = inner.target.receipt_key();
        let lost = |l: &EtcdLock| {
            l.mark_lost(LossReason::Fenced);
            Err(Error::Lost {
                name: name.clone(),
                reason: LossReason::Fenced,
            })
        };
        let mut current = self.read_state(None)?;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let new = f(current.doc.as_ref().map(|d| d.value.as_slice())).map_err(|e| {
                Error::Rejected {
                    name: name.clone(),
                    source: e.into(),
                }
            })?;
            let Some(new) = new else {
                return Ok(Update {
                    revision: current.doc.as_ref().map_or(0, |d| d.revision),
                    value: current.doc.map(|d| d.value),
                    changed: false,
                    attempts,
                });
            };
            self.check_size(&new)?;
            let rev = current.doc.as_ref().map_or(0, |d| d.revision);
            // This write's receipt: written with it, so a write whose answer was lost can be
            // told applied or not before it is sent again.
            let nonce = nonce();
            let mut when = vec![Compare::mod_revision(key.as_bytes(), CompareOp::Equal, rev)];
            let mut or_else = vec![
                TxnOp::get(key.as_bytes(), None),
                TxnOp::get(receipt.as_bytes(), None),
            ];
            if let Some(l) = lock {
                when.push(Compare::create_revision(
                    l.key().as_bytes(),
                    CompareOp::Equal,
                    l.fence(),
                ));
                or_else.push(TxnOp::get(l.key().as_bytes(), None));
            }
            let txn = Txn::new()
                .when(when)
                .and_then([
                    TxnOp::put(key.as_bytes(), new.clone(), None),
                    TxnOp::put(receipt.as_bytes(), nonce.as_str(), None),
                ])
                .or_else(or_else);
            let txn = &txn;
            let applied = |revision: i64| Update {
                value: Some(new.clone()),
                changed: true,
                revision,
                attempts,
            };
            // Sent again only after a read showed it was not applied; since it compares the
            // revision read, a late copy of it (from a member that had it but did not answer)
            // fails once anything was written, this write included: never applied twice.
            let mut sends = 0;
            let state = loop {
                sends += 1;
                let sent = inner.rt.block_on(
                    inner.req_unsure("updating the document", |mut c| async move {
                        c.txn(txn.clone()).await
                    }),
                )?;
                let unknown = match sent {
                    Outcome::Done(r) if r.succeeded() => {
                        return Ok(applied(r.header().map(|h| h.revision()).unwrap_or(0)))
                    }
                    Outcome::Done(r) => break State::of(r.op_responses()),
                    Outcome::Unknown(e) => e,
                };
                let now = self.read_state(lock)?;
                if let Some(rev) = now.receipt_for(&nonce) {
                    return Ok(applied(rev));
                }
                if let Some(l) = lock {
                    if now.lock_fence != Some(l.fence()) {
                        return lost(l);
                    }
                }
                let unchanged = now.doc.as_ref().map_or(0, |d| d.revision) == rev;
                // The same key (not deleted and created again), one write further.
                let one_write_since = rev != 0
                    && now.created == current.created
                    && now.version == current.version + 1;
                if unchanged && sends < 2 * inner.member_count() {
                    continue; // not applied: send it again (to the next member)
                }
                if !unchanged && one_write_since {
                    // Exactly one write since the read, not this one (its receipt is not
                    // there): this one can never apply. A plain conflict.
                    break now;
                }
                // Applied and overwritten since, or not: cannot be told.
                return Err(unknown);
            };
            if let Some(rev) = state.receipt_for(&nonce) {
                // An earlier copy of this transaction was applied (and nothing since).
                return Ok(applied(rev));
            }
            if let Some(l) = lock {
                if state.lock_fence != Some(l.fence()) {
                    return lost(l);
                }
            }
            current = state;
            if attempts >= MAX_ATTEMPTS {
                return Err(inner.engine(
                    "updating the document",
                    format!("still conflicting after {attempts} attempts"),
                ));
            }
            if attempts > 2 {
                // Jittered back-off keeps a crowd of writers from retrying in lock-step.
                let cap = 1u64 << attempts.min(7);
                let us = jitter() % (cap * 100);
                std::thread::sleep(Duration::from_micros(us));
            }
        }
    }
}

/// The document, its receipt and the lock key, as one read (or a failed compare) saw them.
struct State {
    doc: Option<KeyValue>,
    /// The document key's version: writes since it was created (0: no key).
    version: i64,
    /// The document key's create revision (0: no key).
    created: i64,
    /// The receipt's value and modification revision.
    receipt: Option<(Vec<u8>, i64)>,
    /// The lock key's create revision (for a fenced update; None: no such key).
    lock_fence: Option<i64>,
}

impl State {
    /// From the answers to the gets of the document, the receipt and the lock key.
    fn of(responses: Vec<TxnOpResponse>) -> State {
        let mut gets = responses.into_iter().filter_map(|o| match o {
            TxnOpResponse::Get(g) => Some(g),
            _ => None,
        });
        let doc = gets.next();
        let doc = doc.as_ref().and_then(|g| g.kvs().first());
        let receipt = gets.next();
        let receipt = receipt.as_ref().and_then(|g| g.kvs().first());
        let lock = gets.next();
        State {
            doc: doc.map(|kv| KeyValue {
                value: kv.value().to_vec(),
                revision: kv.mod_revision(),
            }),
            version: doc.map_or(0, |kv| kv.version()),
            created: doc.map_or(0, |kv| kv.create_revision()),
            receipt: receipt.map(|kv| (kv.value().to_vec(), kv.mod_revision())),
            lock_fence: lock
                .as_ref()
                .and_then(|g| g.kvs().first().map(|kv| kv.create_revision())),
        }
    }

    /// The revision of the write whose receipt is `nonce`, if it is the latest write.
    fn receipt_for(&self, nonce: &str) -> Option<i64> {
        match &self.receipt {
            Some((v, rev)) if v == nonce.as_bytes() => Some(*rev),
            _ => None,
        }
    }
}

/// A value no other write will ever have: this process, the time, a per-process random
/// seed (std's hasher keys come from the OS) and a counter.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(jitter());
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}-{t:x}-{:016x}-{}",
        std::process::id(),
        h.finish(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cheap pseudo-random number (no dependency): the clock's nanoseconds mixed with the pid.
fn jitter() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let x = t ^ ((std::process::id() as u64) << 32);
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

/// A target's document as a [`jlock_core::Backend`]: every operation of
/// [`jlock_core::Document`] (get, set, delete, incr, update) through
/// [`jlock_core::CasDocument`], with the file store's rules, written by
/// [`Etcd::update`]'s compare-and-swap.
///
/// ```no_run
/// use jlock_core::{CasDocument, Document, Style};
/// use jlock_etcd::{ConnectOptions, Etcd, EtcdDocument, Target};
///
/// let target = Target::parse("etcd://127.0.0.1:2379/deploys")?;
/// let etcd = Etcd::connect(&target, &ConnectOptions::default())?;
/// let doc = CasDocument::new(EtcdDocument::new(etcd), Style::Preserve);
/// let n = Document::<jlock_etcd::Error>::incr(&doc, &".count".parse()?, 1.into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EtcdDocument {
    etcd: Etcd,
    /// The target, as errors about the document's content name it.
    name: std::path::PathBuf,
    /// The cluster's revision at the last [`jlock_core::Backend::read`]
    /// (0: none yet), where its [`DocumentWatch`]es start from.
    read_at: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl EtcdDocument {
    /// The document of the target `etcd` is connected to.
    pub fn new(etcd: Etcd) -> EtcdDocument {
        let name = std::path::PathBuf::from(etcd.target().to_string());
        EtcdDocument {
            etcd,
            name,
            read_at: Default::default(),
        }
    }

    /// A watch on the document that reports every change made after this
    /// document's latest read (see [`DocumentWatch`]).
    pub fn watch(&self) -> DocumentWatch {
        DocumentWatch::new(&self.etcd, self.read_at.clone())
    }

    /// The connection.
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }
}

impl jlock_core::Backend for EtcdDocument {
    type Error = Error;

    fn name(&self) -> &std::path::Path {
        &self.name
    }

    fn read(&self) -> Result<Option<Vec<u8>>> {
        let (kv, at) = self.etcd.read_at()?;
        self.read_at.store(at, std::sync::atomic::Ordering::SeqCst);
        Ok(kv.map(|kv| kv.value))
    }

    fn transact(&self, edit: &mut jlock_core::engine::BytesEdit<'_>) -> Result<()> {
        self.etcd.update(edit).map(|_| ())
    }

    /// An etcd watch on the document's key from the revision after the
    /// latest read: no polling.
    fn changes(&self) -> Result<Box<dyn jlock_core::Changes<Error>>> {
        Ok(Box::new(self.watch()))
    }
}
