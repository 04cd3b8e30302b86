//! Waiting for a document to change without polling: [`DocumentWatch`], an etcd watch on
//! a target's document key, as jlock-core's [`Changes`] (what `jlock wait`, `jlock watch`
//! and `jlock pop -w` block on).
//!
//! The watch starts at the revision after the one the document was last read at (the
//! read's response header), so a change made between the read and the wait is still
//! reported: the final value is never missed, though several changes may come as one
//! report. The stream is opened on the first wait and kept for the next ones; events at
//! or before the latest read are not reported again.
//!
//! When etcd cancels the watch (its start revision was compacted away, or the member
//! cancelled it), the caller is told to read again, and the next wait watches from that
//! read. When the stream breaks (the member went away), the watch is opened again from
//! the latest read on the next member that answers; if none does, the wait fails with
//! [`Error::Engine`] at once rather than waiting for its deadline.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use etcd_client::{WatchOptions, WatchStream};
use jlock_core::Changes;

use crate::client::{describe, never_sent, Inner};
use crate::{Error, Etcd, Result};

/// An etcd watch on one target's document key (see the module's documentation). Made by
/// [`EtcdDocument::watch`](crate::EtcdDocument::watch), whose reads it starts after.
pub struct DocumentWatch {
    inner: Arc<Inner>,
    key: String,
    /// The revision of the document's latest read, shared with its [`crate::EtcdDocument`].
    read_at: Arc<AtomicI64>,
    stream: Option<WatchStream>,
}

impl std::fmt::Debug for DocumentWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentWatch")
            .field("key", &self.key)
            .field("read_at", &self.read_at.load(Ordering::SeqCst))
            .field("open", &self.stream.is_some())
            .finish()
    }
}

impl DocumentWatch {
    pub(crate) fn new(etcd: &Etcd, read_at: Arc<AtomicI64>) -> DocumentWatch {
        DocumentWatch {
            inner: etcd.inner.clone(),
            key: etcd.inner.target.document_key(),
            read_at,
            stream: None,
        }
    }

    /// Opens the watch from the revision after the latest read, on the member requests go
    /// to first, moving on to the next while one does not answer; fails once every member
    /// was tried. `None` if `deadline` passed first (the wait timed out, not the server).
    async fn open(&self, deadline: Option<Instant>) -> Result<Option<WatchStream>> {
        let from = self.read_at.load(Ordering::SeqCst) + 1;
        let mut last = String::from("no member tried");
        for _ in 0..self.inner.member_count() {
            let (i, mut client) = self.inner.member();
            let mine = Instant::now() + self.inner.attempt_timeout();
            let bound = deadline.map_or(mine, |d| mine.min(d));
            let opts = WatchOptions::new().with_start_revision(from);
            let watch = client.watch(self.key.as_bytes(), Some(opts));
            match tokio::time::timeout_at(bound.into(), watch).await {
                Ok(Ok(stream)) => return Ok(Some(stream)),
                Ok(Err(e)) => {
                    last = describe(&e);
                    if !never_sent(&e) && !crate::client::transient(&e) {
                        break;
                    }
                }
                Err(_) if bound < mine => return Ok(None),
                Err(_) => {
                    last = format!(
                        "no answer from {} to the watch",
                        self.inner.target.endpoints()[i]
                    );
                }
            }
            self.inner.failed(i);
        }
        Err(self.inner.engine("watching the document", last))
    }

    /// [`Changes::wait`] with this crate's errors.
    fn wait_for_change(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let inner = self.inner.clone();
        // Streams that broke in a row, each opened again at once: bounded, so a member
        // that keeps cutting them ends the wait with an error instead of a busy loop.
        let mut breaks = 0;
        inner.rt.block_on(async {
            loop {
                let mut stream = match self.stream.take() {
                    Some(s) => s,
                    None => match self.open(deadline).await? {
                        Some(s) => s,
                        None => return Ok(false),
                    },
                };
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d.into(), stream.message()).await,
                        None => Ok(stream.message().await),
                    }
                };
                let msg = next.await;
                let seen = self.read_at.load(Ordering::SeqCst);
                match msg {
                    // The deadline: keep the stream for a later wait.
                    Err(_) => {
                        self.stream = Some(stream);
                        return Ok(false);
                    }
                    Ok(Ok(Some(resp))) => {
                        breaks = 0;
                        if resp.canceled() || resp.compact_revision() > 0 {
                            // Compacted past the start, or cancelled: read again, then
                            // watch from that read.
                            return Ok(true);
                        }
                        self.stream = Some(stream);
                        let newer = resp
                            .events()
                            .iter()
                            .any(|e| e.kv().is_none_or(|kv| kv.mod_revision() > seen));
                        if newer {
                            return Ok(true);
                        }
                        // The creation answer, or events the latest read already saw.
                    }
                    // The stream ended or broke: opened again from the latest read, so
                    // whatever came meanwhile is still reported.
                    Ok(Ok(None)) => breaks += 1,
                    Ok(Err(e)) => {
                        breaks += 1;
                        if breaks > 2 * inner.member_count() {
                            return Err(inner.engine("watching the document", describe(&e)));
                        }
                    }
                }
                if breaks > 2 * inner.member_count() {
                    return Err(inner.engine("watching the document", "the watch kept ending"));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
            }
        })
    }
}

impl<E: From<Error>> Changes<E> for DocumentWatch {
    fn wait(&mut self, deadline: Option<Instant>) -> std::result::Result<bool, E> {
        Ok(self.wait_for_change(deadline)?)
    }
}

impl Drop for DocumentWatch {
    fn drop(&mut self) {
        // The stream's parts belong to the connection's runtime.
        let _in_runtime = self.inner.rt.enter();
        self.stream = None;
    }
}
