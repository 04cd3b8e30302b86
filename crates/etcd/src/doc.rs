//! Documents on etcd: one key's value, read, written, and updated by compare-and-swap on the
//! key's modification revision (retried on conflict, so no update is ever lost).
//!
//! Why compare-and-swap rather than the lock: an update is then one read and one
//! transaction (two round trips), with no lease, no queue key and no watch; a holder paused
//! mid-update cannot overwrite a newer value, since its transaction's compare fails. The
//! update function may therefore run more than once (once per conflict): it must have no
//! side effects beyond computing the new value. [`Etcd::update_fenced`] adds the lock's fence
//! to the compare, for updates that must happen only while a lock is held.

use crate::client::{Inner, REQUEST_OVERHEAD};
use crate::{Error, Etcd, EtcdLock, LossReason, Result};
use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use std::time::Duration;

/// A document as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
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
    pub fn read(&self) -> Result<Option<Document>> {
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        let r = inner
            .rt
            .block_on(inner.req("reading the document", true, |mut c| async move {
                c.get(k, None).await
            }))?;
        Ok(r.kvs().first().map(|kv| Document {
            value: kv.value().to_vec(),
            revision: kv.mod_revision(),
        }))
    }

    /// Writes the document unconditionally; returns its new revision.
    pub fn put(&self, value: &[u8]) -> Result<i64> {
        self.check_size(value)?;
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        let r = inner.rt.block_on(inner.req(
            "writing the document",
            false,
            |mut c| async move { c.put(k, value, None).await },
        ))?;
        Ok(r.header().map(|h| h.revision()).unwrap_or(0))
    }

    /// Deletes the document; true if there was one.
    pub fn delete(&self) -> Result<bool> {
        let inner = &self.inner;
        let key = inner.target.document_key();
        let k = key.as_str();
        let r = inner.rt.block_on(inner.req(
            "deleting the document",
            false,
            |mut c| async move { c.delete(k, None).await },
        ))?;
        Ok(r.deleted() > 0)
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

    fn update_inner<F, E>(&self, lock: Option<&EtcdLock>, mut f: F) -> Result<Update>
    where
        F: FnMut(Option<&[u8]>) -> std::result::Result<Option<Vec<u8>>, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let inner: &Inner = &self.inner;
        let name = inner.target.name().to_string();
        let key = inner.target.document_key();
        let mut current = self.read()?;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let new =
                f(current.as_ref().map(|d| d.value.as_slice())).map_err(|e| Error::Rejected {
                    name: name.clone(),
                    source: e.into(),
                })?;
            let Some(new) = new else {
                return Ok(Update {
                    revision: current.as_ref().map_or(0, |d| d.revision),
                    value: current.map(|d| d.value),
                    changed: false,
                    attempts,
                });
            };
            self.check_size(&new)?;
            let rev = current.as_ref().map_or(0, |d| d.revision);
            let mut when = vec![Compare::mod_revision(key.as_bytes(), CompareOp::Equal, rev)];
            let mut or_else = vec![TxnOp::get(key.as_bytes(), None)];
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
                .and_then([TxnOp::put(key.as_bytes(), new.clone(), None)])
                .or_else(or_else);
            let txn = &txn;
            let r = inner.rt.block_on(inner.req(
                "updating the document",
                false,
                |mut c| async move { c.txn(txn.clone()).await },
            ))?;
            if r.succeeded() {
                return Ok(Update {
                    value: Some(new),
                    changed: true,
                    revision: r.header().map(|h| h.revision()).unwrap_or(0),
                    attempts,
                });
            }
            let responses = r.op_responses();
            let mut gets = responses.iter().filter_map(|o| match o {
                TxnOpResponse::Get(g) => Some(g),
                _ => None,
            });
            current = gets.next().and_then(|g| {
                g.kvs().first().map(|kv| Document {
                    value: kv.value().to_vec(),
                    revision: kv.mod_revision(),
                })
            });
            if let Some(l) = lock {
                let held = gets
                    .next()
                    .and_then(|g| g.kvs().first().map(|kv| kv.create_revision()))
                    == Some(l.fence());
                if !held {
                    l.mark_lost(LossReason::Fenced);
                    return Err(Error::Lost {
                        name,
                        reason: LossReason::Fenced,
                    });
                }
            }
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

/// A cheap pseudo-random number (no dependency): the clock's nanoseconds mixed with the pid.
fn jitter() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let x = t ^ ((std::process::id() as u64) << 32);
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}
