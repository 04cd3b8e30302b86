//! Leased locks and semaphores on etcd: the FIFO queue, the wait policy, the keep-alive, and
//! the detection and reporting of a lost lock.
//!
//! Algorithm (the etcd "mutex" recipe, generalized): every acquisition grants its own lease,
//! puts a queue key `PREFIX/LEASE` bound to it, and reads the keys created before it (by
//! create revision) that block it. Exclusive entries are blocked by every earlier entry,
//! shared ones by earlier exclusive ones only, semaphore entries by N earlier entries.
//! Entries are only ever appended (a new key has the highest revision) or removed, so once an
//! entry is unblocked it stays so while its lease lives: at most one exclusive holder, at
//! most N slot holders. The fence is the entry's create revision, which etcd makes strictly
//! increasing across all keys.

use crate::client::Inner;
use crate::status::HolderInfo;
use crate::{Error, Etcd, LossReason, Result};
use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
};
use std::io::{PipeReader, PipeWriter, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Default lease TTL: a lost holder's lock is freed this long after its last keep-alive.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// How long before the lease could expire at the server a holder stops counting on it.
///
/// A lease the server renewed in answer to a keep-alive sent at local time `sent` cannot
/// expire before `sent + ttl` at the server (the server starts its TTL when the request
/// arrives, which is after it was sent). The holder counts the lock as held only until
/// `sent + ttl - margin`: the margin covers a local clock running slower than the server's,
/// and the time a process stopping the command needs to wake up and kill it. It is a fifth
/// of the TTL, at least 300 ms, at most half the TTL: 400 ms for a 2 s TTL, 2 s for 10 s.
pub fn safety_margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_millis(300)).min(ttl / 2)
}

pub use jlock_core::{LockMode, Wait};

/// How to take a lock.
#[derive(Clone, Debug)]
pub struct LockOptions<'a> {
    mode: LockMode,
    wait: Wait,
    ttl: Duration,
    command: String,
    interrupt: Option<&'a AtomicBool>,
    watch_after: Duration,
}

impl Default for LockOptions<'_> {
    fn default() -> Self {
        LockOptions {
            mode: LockMode::Exclusive,
            wait: Wait::Block,
            ttl: DEFAULT_TTL,
            command: String::new(),
            interrupt: None,
            watch_after: Duration::ZERO,
        }
    }
}

impl<'a> LockOptions<'a> {
    /// Exclusive, blocking, TTL 10 s.
    pub fn new() -> Self {
        Self::default()
    }
    /// Exclusive or shared (semaphores ignore it).
    pub fn mode(mut self, mode: LockMode) -> Self {
        self.mode = mode;
        self
    }
    /// The wait policy.
    pub fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }
    /// The lease TTL (whole seconds, at least 1; etcd may raise it to its minimum).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// The command recorded in the lock's value, for `status`.
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }
    /// A flag (e.g. set by a SIGINT/SIGTERM handler) that, once true, ends the wait with
    /// [`Error::Interrupted`] after removing the queue key. Polled every 20 ms while waiting.
    pub fn interrupt(mut self, flag: &'a AtomicBool) -> Self {
        self.interrupt = Some(flag);
        self
    }
    /// Opens the watch that tells a held lock its key was deleted (by hand:
    /// [`LossReason::KeyDeleted`]) `delay` after the acquisition instead of at once
    /// (the default). The watch starts from the acquisition's revision, so a deletion
    /// made meanwhile is still seen when it opens, `delay` late; a lock released before
    /// then opens none — one request fewer for a short critical section (`jlock run`
    /// waits 250 ms) — and does not learn of a deletion made in that time. A lost lease
    /// is told by the keep-alive whatever `delay` is.
    pub fn watch_after(mut self, delay: Duration) -> Self {
        self.watch_after = delay;
        self
    }
}

/// What one acquisition queues on.
pub(crate) struct QueueSpec {
    /// Where this entry's key goes (the lease id is appended).
    pub my_prefix: String,
    /// Earlier keys under this prefix block this entry…
    pub blocking_prefix: String,
    /// …once there are this many of them.
    pub limit: usize,
    /// For a semaphore: its size and the prefix of slot-number claims.
    pub slot_numbers: Option<(usize, String)>,
}

/// A callback told each new local deadline of the lease (see [`EtcdLock::on_renewal`]).
type RenewalHook = Box<dyn FnMut(Instant) + Send>;

/// Until when the lease is known to be alive, and who wants to know.
struct Alive {
    until: Instant,
    hook: Option<RenewalHook>,
}

/// Loss state shared between the lock and its background tasks.
struct Loss {
    reason: Mutex<Option<LossReason>>,
    cv: Condvar,
    released: AtomicBool,
    pipe: Mutex<Option<PipeWriter>>,
    tx: tokio::sync::watch::Sender<Option<LossReason>>,
    alive: Mutex<Alive>,
}

impl Loss {
    fn lose(&self, why: LossReason) {
        if self.released.load(Ordering::SeqCst) {
            return;
        }
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_some() {
            return;
        }
        *r = Some(why);
        self.cv.notify_all();
        drop(r);
        if let Some(mut w) = self.pipe.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.write_all(&[1]);
        } // dropping the writer closes the pipe: readers see it readable at once
        self.tx.send_replace(Some(why));
    }

    fn get(&self) -> Option<LossReason> {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A keep-alive confirmed the lease alive until `until` (local clock, margin deducted).
    fn renewed(&self, until: Instant) {
        let mut a = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        if until <= a.until {
            return;
        }
        a.until = until;
        if let Some(hook) = a.hook.as_mut() {
            hook(until);
        }
    }
}

/// A held etcd lock (or semaphore slot), bound to a lease kept alive every TTL/3 by a
/// background task. Released (lease revoked, key deleted) by [`EtcdLock::release`] or on drop.
///
/// The lock can be LOST while held (lease revoked or expired, key deleted, no keep-alive
/// acknowledged within the TTL); [`EtcdLock::lost`], [`EtcdLock::wait_lost`] and
/// [`EtcdLock::loss_fd`] tell. A paused holder can overlap with the next one: only the
/// [fence](EtcdLock::fence), checked by the protected resource, is a hard guarantee.
pub struct EtcdLock {
    inner: Arc<Inner>,
    key: String,
    fence: i64,
    lease: i64,
    ttl: Duration,
    slot: Option<usize>,
    loss: Arc<Loss>,
    loss_rx: PipeReader,
    tasks: Vec<JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for EtcdLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdLock")
            .field("key", &self.key)
            .field("fence", &self.fence)
            .field("lease", &self.lease)
            .finish()
    }
}

impl Etcd {
    /// Takes the target's lock (exclusive or shared, per `opts`).
    pub fn lock(&self, opts: &LockOptions) -> Result<EtcdLock> {
        let t = &self.inner.target;
        let (my, blocking) = match opts.mode {
            LockMode::Exclusive => (format!("{}x/", t.lock_prefix()), t.lock_prefix()),
            LockMode::Shared => (
                format!("{}s/", t.lock_prefix()),
                format!("{}x/", t.lock_prefix()),
            ),
        };
        let spec = QueueSpec {
            my_prefix: my,
            blocking_prefix: blocking,
            limit: 1,
            slot_numbers: None,
        };
        acquire(&self.inner, spec, opts, "exclusive")
    }

    /// Takes one of `slots` slots of the target's semaphore (`run --slots N`): a FIFO queue
    /// in which the N oldest entries hold. Every user of a name must give the same N.
    pub fn semaphore(&self, slots: usize, opts: &LockOptions) -> Result<EtcdLock> {
        if slots == 0 {
            return Err(Error::InvalidArgument(
                "etcd semaphore: slots must be at least 1".into(),
            ));
        }
        let t = &self.inner.target;
        let spec = QueueSpec {
            my_prefix: t.slots_prefix(),
            blocking_prefix: t.slots_prefix(),
            limit: slots,
            slot_numbers: Some((slots, t.slot_numbers_prefix())),
        };
        acquire(&self.inner, spec, opts, "slot")
    }
}

fn acquire(
    inner: &Arc<Inner>,
    spec: QueueSpec,
    opts: &LockOptions,
    kind: &str,
) -> Result<EtcdLock> {
    let ttl_secs = opts.ttl.as_secs_f64().ceil() as i64;
    if !(1..=1_000_000).contains(&ttl_secs) {
        return Err(Error::InvalidArgument(format!(
            "etcd lock: TTL must be 1 to 1000000 seconds, not {:?}",
            opts.ttl
        )));
    }
    let name = inner.target.name().to_string();
    let mut holder = HolderInfo::current(&opts.command);
    holder.mode = match (kind, opts.mode) {
        ("slot", _) => format!("slot/{}", spec.limit),
        (_, mode) => mode.name().into(),
    };
    let (pipe_r, pipe_w) = std::io::pipe().map_err(|e| inner.engine("creating a pipe", e))?;
    let (tx, mut loss_rx) = tokio::sync::watch::channel(None);
    let loss = Arc::new(Loss {
        reason: Mutex::new(None),
        cv: Condvar::new(),
        released: AtomicBool::new(false),
        pipe: Mutex::new(Some(pipe_w)),
        tx,
        alive: Mutex::new(Alive {
            until: Instant::now(),
            hook: None,
        }),
    });
    let started = Instant::now();

    inner.rt.block_on(async {
        let granted_at = Instant::now();
        let grant = inner
            .req("granting a lease", |mut c| async move {
                c.lease_grant(ttl_secs, None).await
            })
            .await?;
        let lease = grant.id();
        let ttl = Duration::from_secs(grant.ttl().max(1) as u64);
        loss.renewed(granted_at + ttl - safety_margin(ttl));
        let mut tasks = vec![tokio::spawn(keep_alive(
            inner.clone(),
            lease,
            ttl,
            granted_at,
            loss.clone(),
        ))];
        let key = format!("{}{:016x}", spec.my_prefix, lease);
        let mut lock = EtcdLock {
            inner: inner.clone(),
            key,
            fence: 0,
            lease,
            ttl,
            slot: None,
            loss: loss.clone(),
            loss_rx: pipe_r,
            tasks: Vec::new(),
            released: false,
        };
        let result: Result<()> = async {
            // One transaction queues the key and reads the oldest entries: when the lock is
            // free, that is the whole acquisition. It puts the key only if it is not there
            // yet, so a copy sent again to another member (the first may have been applied
            // without an answer) reads the key's create revision instead of writing it
            // again: never queued twice, and the fence is the first put's revision.
            let value = holder.to_json();
            let blockers = TxnOp::get(
                spec.blocking_prefix.as_str(),
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_sort(SortTarget::Create, SortOrder::Ascend)
                        .with_limit(spec.limit as i64)
                        .with_keys_only(),
                ),
            );
            let txn = Txn::new()
                .when([Compare::create_revision(
                    lock.key.as_str(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then([
                    TxnOp::put(
                        lock.key.as_str(),
                        value.as_str(),
                        Some(PutOptions::new().with_lease(lease)),
                    ),
                    blockers.clone(),
                ])
                .or_else([TxnOp::get(lock.key.as_str(), None), blockers]);
            let txn = &txn;
            let queued = inner
                .req("queueing for the lock", |mut c| async move {
                    c.txn(txn.clone()).await
                })
                .await?;
            let gets: Vec<_> = queued
                .op_responses()
                .into_iter()
                .filter_map(|r| match r {
                    TxnOpResponse::Get(g) => Some(g),
                    _ => None,
                })
                .collect();
            lock.fence = if queued.succeeded() {
                queued.header().map(|h| h.revision()).unwrap_or(0)
            } else {
                gets.first()
                    .and_then(|g| g.kvs().first().map(|kv| kv.create_revision()))
                    .unwrap_or(0)
            };
            let fence = lock.fence;
            let ahead = gets
                .last()
                .map(|g| {
                    g.kvs()
                        .iter()
                        .filter(|kv| kv.create_revision() < fence)
                        .count()
                })
                .unwrap_or(spec.limit);
            let free = ahead < spec.limit;
            let wait = async {
                if free {
                    Ok(())
                } else {
                    wait_turn(inner, &spec, fence, opts.wait, &name).await
                }
            };
            let deadline = match opts.wait {
                Wait::Timeout(d) => Some(started + d),
                _ => None,
            };
            let interrupted = async {
                match opts.interrupt {
                    Some(flag) => {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            let timed_out = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let lost = async {
                loop {
                    if let Some(r) = *loss_rx.borrow_and_update() {
                        return r;
                    }
                    if loss_rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                r = wait => r,
                _ = timed_out => Err(Error::TimedOut { name: name.clone(), waited: started.elapsed() }),
                _ = interrupted => Err(Error::Interrupted { name: name.clone() }),
                r = lost => Err(Error::Lost { name: name.clone(), reason: r }),
            }
        }
        .await;
        match result {
            Ok(()) => {
                if let Some((n, prefix)) = &spec.slot_numbers {
                    let mut client = inner.client();
                    let claim = claim_slot_number(&mut client, prefix, *n, lease);
                    lock.slot = tokio::time::timeout(inner.opts.request_timeout, claim)
                        .await
                        .ok()
                        .flatten();
                }
                let watch = watch_key(
                    inner.clone(),
                    lock.key.clone().into_bytes(),
                    lock.fence + 1,
                    lease,
                    loss.clone(),
                );
                let delay = opts.watch_after;
                tasks.push(tokio::spawn(async move {
                    // Aborted with the lock's tasks at release: before `delay`, no watch.
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    watch.await
                }));
                lock.tasks = tasks;
                Ok(lock)
            }
            Err(e) => {
                // Leave the queue: revoking the lease deletes the key at once. If etcd cannot
                // be reached, the lease expires within the TTL and the key goes with it.
                loss.released.store(true, Ordering::SeqCst);
                for t in &tasks {
                    t.abort();
                }
                lock.released = true;
                let _ = inner
                    .req("leaving the queue", |mut c| async move {
                        c.lease_revoke(lease).await
                    })
                    .await;
                Err(e)
            }
        }
    })
}

/// Waits until fewer than `spec.limit` blocking keys precede revision `my_rev`.
async fn wait_turn(
    inner: &Inner,
    spec: &QueueSpec,
    my_rev: i64,
    wait: Wait,
    name: &str,
) -> Result<()> {
    loop {
        let opts = GetOptions::new()
            .with_prefix()
            .with_max_create_revision(my_rev - 1)
            .with_sort(SortTarget::Create, SortOrder::Descend)
            .with_limit(spec.limit as i64)
            .with_keys_only();
        let (p, o) = (spec.blocking_prefix.as_str(), &opts);
        let resp = match inner
            .req("reading the lock queue", |mut c| async move {
                c.get(p, Some(o.clone())).await
            })
            .await
        {
            Ok(r) => r,
            Err(e) if wait == Wait::NoWait => return Err(e),
            Err(_) => {
                // A transient failure (e.g. a leader election): retry; a real outage ends
                // the wait through the lease's loss.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if resp.kvs().len() < spec.limit {
            return Ok(());
        }
        if wait == Wait::NoWait {
            return Err(Error::Busy {
                name: name.to_string(),
            });
        }
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let (key, wopts) = if spec.limit == 1 {
            // Wait for the nearest blocker only (no thundering herd).
            (resp.kvs()[0].key().to_vec(), WatchOptions::new())
        } else {
            (
                spec.blocking_prefix.as_bytes().to_vec(),
                WatchOptions::new().with_prefix(),
            )
        };
        let wopts = wopts
            .with_start_revision(rev + 1)
            .with_filters([WatchFilterType::NoPut]);
        let mut client = inner.client();
        let watched = async {
            if let Ok(mut ws) = client.watch(key, Some(wopts)).await {
                while let Ok(Some(msg)) = ws.message().await {
                    if msg.canceled()
                        || msg
                            .events()
                            .iter()
                            .any(|e| e.event_type() == EventType::Delete)
                    {
                        break;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        // The queue is read again now and then whatever the watch says: a watch on a member
        // that hangs would wait for ever, the read moves on to another member.
        let _ = tokio::time::timeout(Duration::from_secs(2), watched).await;
    }
}

/// Claims the lowest free slot number in `0..n`, bound to the holder's lease.
async fn claim_slot_number(
    client: &mut Client,
    prefix: &str,
    n: usize,
    lease: i64,
) -> Option<usize> {
    for _ in 0..3 {
        let taken: Vec<Vec<u8>> = match client
            .get(
                prefix.as_bytes(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            )
            .await
        {
            Ok(r) => r.kvs().iter().map(|kv| kv.key().to_vec()).collect(),
            Err(_) => return None,
        };
        for i in 0..n {
            let key = format!("{prefix}{i}");
            if taken.iter().any(|k| k == key.as_bytes()) {
                continue;
            }
            let txn = Txn::new()
                .when([Compare::create_revision(
                    key.as_bytes(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then([TxnOp::put(
                    key.as_bytes(),
                    format!("{lease:016x}"),
                    Some(PutOptions::new().with_lease(lease)),
                )]);
            match client.txn(txn).await {
                Ok(r) if r.succeeded() => return Some(i),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
    None
}

/// Renews the lease every TTL/3; declares the lock lost when etcd says the lease is gone or
/// when no renewal was acknowledged before the local deadline (the send time of the last
/// acknowledged renewal plus the TTL, less the [`safety_margin`] — before the server's own
/// expiry). Each acknowledged renewal moves the deadline on and is told to the renewal hook.
///
/// A member that does not answer a renewal within a sixth of the TTL (or the connect
/// timeout, if shorter) is left for the next one, and the renewal sent there at once: a
/// renewal sent twice only renews twice. So one hung member costs one such wait, well
/// within the deadline, and the lock holds while a majority answers.
async fn keep_alive(
    inner: Arc<Inner>,
    lease: i64,
    ttl: Duration,
    granted_at: Instant,
    loss: Arc<Loss>,
) {
    let period = ttl / 3;
    let per_try = inner
        .attempt_timeout()
        .min(ttl / 6)
        .max(Duration::from_millis(100));
    let mut deadline = granted_at + ttl - safety_margin(ttl);
    let mut next = granted_at + period;
    let mut stream: Option<(usize, KeepAlive)> = None;
    loop {
        tokio::time::sleep_until(next.min(deadline).into()).await;
        if Instant::now() >= deadline {
            loss.lose(LossReason::NoRenewal);
            return;
        }
        let (i, mut client) = inner.member();
        if stream.as_ref().is_some_and(|(m, _)| *m != i) {
            stream = None; // another member is preferred now
        }
        let sent = Instant::now();
        let bound = (sent + per_try).min(deadline);
        match tokio::time::timeout_at(bound.into(), renew(&mut client, lease, i, &mut stream)).await
        {
            Ok(Ok(left)) if left <= 0 => {
                loss.lose(LossReason::LeaseGone);
                return;
            }
            Ok(Ok(left)) => {
                let granted = Duration::from_secs(left as u64);
                deadline = sent + granted - safety_margin(granted);
                loss.renewed(deadline);
                next = sent + period;
            }
            Ok(Err(())) => {
                stream = None;
                inner.failed(i);
                next = Instant::now() + period.min(Duration::from_millis(100));
            }
            Err(_) => {
                // No answer in time: try the next member now.
                stream = None;
                inner.failed(i);
                next = Instant::now();
            }
        }
    }
}

type KeepAlive = (etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream);

/// One renewal: the TTL etcd granted (0 or less: the lease is gone).
async fn renew(
    client: &mut Client,
    lease: i64,
    member: usize,
    stream: &mut Option<(usize, KeepAlive)>,
) -> Result<i64, ()> {
    if stream.is_none() {
        *stream = Some((
            member,
            client.lease_keep_alive(lease).await.map_err(|_| ())?,
        ));
    }
    let Some((_, (keeper, responses))) = stream.as_mut() else {
        return Err(());
    };
    keeper.keep_alive().await.map_err(|_| ())?;
    match responses.message().await {
        Ok(Some(r)) => Ok(r.ttl()),
        _ => Err(()),
    }
}

/// Watches the held key from the acquisition on; its deletion means the lock is lost.
async fn watch_key(inner: Arc<Inner>, key: Vec<u8>, from: i64, lease: i64, loss: Arc<Loss>) {
    let mut rev = from;
    loop {
        // The member preferred now (a hung one ends its watch through HTTP/2 keep-alive).
        let mut client = inner.client();
        let opts = WatchOptions::new()
            .with_start_revision(rev)
            .with_filters([WatchFilterType::NoPut]);
        if let Ok(mut ws) = client.watch(key.clone(), Some(opts)).await {
            while let Ok(Some(msg)) = ws.message().await {
                let deleted = msg
                    .events()
                    .iter()
                    .any(|e| e.event_type() == EventType::Delete);
                if deleted || msg.canceled() {
                    if !deleted {
                        // Cancelled (e.g. compacted past `rev`): look at the key itself.
                        match client.get(key.clone(), None).await {
                            Ok(r) if !r.kvs().is_empty() => {
                                rev = r.header().map(|h| h.revision() + 1).unwrap_or(rev);
                                break;
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    let reason = match client.lease_time_to_live(lease, None).await {
                        Ok(r) if r.ttl() > 0 => LossReason::KeyDeleted,
                        _ => LossReason::LeaseGone,
                    };
                    loss.lose(reason);
                    return;
                }
                if let Some(h) = msg.header() {
                    rev = rev.max(h.revision() + 1);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl EtcdLock {
    /// The fencing token: the lock key's create revision, strictly increasing with every
    /// acquisition of any jlock key in the cluster (so of this lock too).
    pub fn fence(&self) -> i64 {
        self.fence
    }
    /// The lock's key in etcd (`jlock/NAME/.lock/x/LEASE`…).
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The lease id.
    pub fn lease(&self) -> i64 {
        self.lease
    }
    /// The TTL etcd granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
    /// For a semaphore: the slot number held, `0..N` (None if none could be claimed, which
    /// happens only when users of the name disagree on N).
    pub fn slot(&self) -> Option<usize> {
        self.slot
    }
    /// The local instant until which the lease is known to be alive: the send time of the
    /// last keep-alive etcd acknowledged, plus the TTL it granted, less the
    /// [`safety_margin`]. Past it, the lock must be presumed lost (it is then counted lost
    /// with [`LossReason::NoRenewal`]).
    pub fn alive_until(&self) -> Instant {
        self.loss
            .alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .until
    }

    /// Calls `hook` now with [`EtcdLock::alive_until`], and again each time a keep-alive
    /// moves it on, from the connection's runtime thread (so `hook` must be quick and must
    /// not block; it runs whatever the thread that took the lock is doing). For a process
    /// that must stop what the lock protects on its own clock, e.g. a watchdog process
    /// told over a pipe. Replaces an earlier hook; dropped when the lock is released.
    pub fn on_renewal(&self, hook: impl FnMut(Instant) + Send + 'static) {
        let mut a = self.loss.alive.lock().unwrap_or_else(|p| p.into_inner());
        let mut hook: RenewalHook = Box::new(hook);
        hook(a.until);
        a.hook = Some(hook);
    }

    /// Whether the lock was lost, and why.
    pub fn lost(&self) -> Option<LossReason> {
        self.loss.get()
    }
    /// Blocks until the lock is lost (returns why) or `timeout` passes (returns None);
    /// `None` waits for ever.
    pub fn wait_lost(&self, timeout: Option<Duration>) -> Option<LossReason> {
        let end = timeout.map(|t| Instant::now() + t);
        let mut r = self.loss.reason.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if r.is_some() {
                return *r;
            }
            match end {
                None => r = self.loss.cv.wait(r).unwrap_or_else(|p| p.into_inner()),
                Some(end) => {
                    let now = Instant::now();
                    if now >= end {
                        return None;
                    }
                    r = self
                        .loss
                        .cv
                        .wait_timeout(r, end - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }
    /// A file descriptor (close-on-exec) that becomes readable when the lock is lost, for
    /// `poll(2)` beside the child process (e.g. a pidfd).
    pub fn loss_fd(&self) -> BorrowedFd<'_> {
        self.loss_rx.as_fd()
    }
    /// Releases the lock: revokes its lease, which deletes the key. Returns
    /// [`Error::Lost`] if the lock had been lost meanwhile, [`Error::Engine`] if etcd could
    /// not be told (the lease then expires within the TTL).
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        self.loss.released.store(true, Ordering::SeqCst);
        self.loss
            .alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hook = None;
        let lost = self.loss.get();
        for t in &self.tasks {
            t.abort();
        }
        if lost == Some(LossReason::LeaseGone) {
            return Err(Error::Lost {
                name: self.inner.target.name().to_string(),
                reason: LossReason::LeaseGone,
            });
        }
        let lease = self.lease;
        let revoke = self.inner.req("releasing the lock", |mut c| async move {
            c.lease_revoke(lease).await
        });
        // A lost lock's lease is revoked only as a courtesy (it frees the name sooner if
        // etcd is back): do not wait long for an engine that is probably unreachable.
        let bound = match lost {
            Some(_) => Duration::from_secs(1),
            None => self.inner.opts.request_timeout,
        };
        let revoked = self.inner.rt.block_on(async {
            tokio::time::timeout(bound, revoke)
                .await
                .unwrap_or_else(|_| Err(self.inner.engine("releasing the lock", "no answer")))
        });
        if let Some(reason) = lost {
            return Err(Error::Lost {
                name: self.inner.target.name().to_string(),
                reason,
            });
        }
        revoked.map(|_| ())
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(crate) fn mark_lost(&self, why: LossReason) {
        self.loss.lose(why);
    }
}

impl Drop for EtcdLock {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}
