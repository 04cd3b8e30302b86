//! The connection to an etcd cluster: the runtime, the gRPC client, timeouts and error mapping.

use crate::{Error, Result, Target};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default time to wait for etcd to answer the first request.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_572_864;

/// Room left in a request for the key and the gRPC/etcd framing around a value.
pub(crate) const REQUEST_OVERHEAD: usize = 1024;

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Give up if no endpoint answers a first (linearizable) read within this time. Also
    /// how long one member gets to answer a later request before it is tried on the next
    /// member (at most `request_timeout`).
    pub connect_timeout: Duration,
    /// Bound on each later request (reads, writes, grants) over all the members it is tried
    /// on (at least one try per member); a write whose outcome cannot be found out in that
    /// time fails with [`Error::Engine`] (it may or may not have been applied).
    pub request_timeout: Duration,
    /// The server's `--max-request-bytes`; larger documents are refused before sending.
    pub max_request_bytes: usize,
    /// Certificates for an `etcds://` target (TLS); none may be given for `etcd://`.
    pub tls: TlsFiles,
    /// Check at [`Etcd::connect`], with one read of its own, that the cluster answers
    /// (the default). Without it, connecting sends nothing and the first real request is
    /// the check: it fails with the same [`Error::Unreachable`] if no member answers
    /// within `connect_timeout` — one round trip fewer for a process that makes one
    /// operation (the CLI).
    pub probe: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Duration::from_secs(5),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            tls: TlsFiles::default(),
            probe: true,
        }
    }
}

/// The PEM files of a TLS connection, as etcdctl's `--cacert`, `--cert` and `--key`.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// The CA certificate(s) that signed the servers' certificates (required for `etcds://`:
    /// jlock does not fall back to the system's roots).
    pub ca: Option<PathBuf>,
    /// This client's certificate, for a cluster started with `--client-cert-auth`.
    pub cert: Option<PathBuf>,
    /// The key of [`TlsFiles::cert`]; given together with it.
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// The client's TLS configuration for `target`, or `None` for a plain `etcd://` one.
    #[cfg(feature = "tls")]
    fn config(&self, target: &Target) -> Result<Option<etcd_client::TlsOptions>> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if !self.wants_tls(target)? {
            return Ok(None);
        }
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| {
                Error::InvalidArgument(format!("{}: cannot read: {e}", path.display()))
            })
        };
        let Some(ca) = &self.ca else {
            return bad(format!(
                "{target}: give the CA certificate that signed the servers' (--cacert FILE)"
            ));
        };
        let mut tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => return bad("--cert and --key go together".into()),
        }
        Ok(Some(tls))
    }

    /// Without the `tls` feature: plain targets only.
    #[cfg(not(feature = "tls"))]
    fn config(&self, target: &Target) -> Result<Option<()>> {
        if self.wants_tls(target)? {
            return Err(Error::NotSupported(
                "etcds:// (TLS): this jlock was built without TLS (cargo feature etcd-tls)",
            ));
        }
        Ok(None)
    }

    /// Whether `target` is reached over TLS (`etcds://`); TLS files given for a plain
    /// `etcd://` target are an error.
    fn wants_tls(&self, target: &Target) -> Result<bool> {
        if target.is_tls() {
            return Ok(true);
        }
        if !self.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--cacert, --cert and --key apply to etcds:// targets, not to {target}"
            )));
        }
        Ok(false)
    }
}

/// A connection to one etcd cluster, for one [`Target`] name.
///
/// Cheap to share by reference; locks taken through it keep their own handles, so they may
/// outlive it.
pub struct Etcd {
    pub(crate) inner: Arc<Inner>,
}

/// What a connection and the locks taken through it share.
///
/// One client per member, not one balanced over all: a member that accepts connections but
/// never answers (stopped, hung, a black hole) would otherwise get its share of the
/// requests. Requests go to the member that answered last and move on to the next one when
/// it does not answer in time.
pub(crate) struct Inner {
    pub(crate) rt: tokio::runtime::Runtime,
    members: Vec<etcd_client::Client>,
    preferred: AtomicUsize,
    pub(crate) target: Target,
    pub(crate) opts: ConnectOptions,
    /// When [`Etcd::connect`] started: an unreachable cluster's error says how long it
    /// was tried.
    started: Instant,
    /// Whether a member has answered a request yet; until one has, a request that gets
    /// no answer fails with [`Error::Unreachable`], as the connect probe would.
    answered: std::sync::atomic::AtomicBool,
}

/// What a request that must not be applied twice came to (see [`Inner::req_unsure`]).
pub(crate) enum Outcome<T> {
    /// A member answered.
    Done(T),
    /// It was sent, but no answer came (or the connection broke): it may or may not have
    /// been applied, and may even be applied later by the member that has it. The caller
    /// finds out what happened before sending it again.
    Unknown(Error),
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("target", &self.inner.target)
            .finish()
    }
}

impl Etcd {
    /// Connects to the target's endpoints and checks, with one linearizable read, that the
    /// cluster answers (has a leader) within `opts.connect_timeout`.
    ///
    /// Fails with [`Error::Unreachable`] naming the endpoints otherwise. Without
    /// [`ConnectOptions::probe`], nothing is sent here: the first request makes the check.
    pub fn connect(target: &Target, opts: &ConnectOptions) -> Result<Etcd> {
        if opts.connect_timeout.is_zero() || opts.request_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "etcd: connect and request timeouts must be above zero".into(),
            ));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jlock-etcd")
            .enable_all()
            .build()
            .map_err(|e| Error::Engine {
                endpoints: target.endpoints_display(),
                op: "starting the client runtime",
                detail: e.to_string(),
            })?;
        let tls = opts.tls.config(target)?;
        let start = Instant::now();
        let eps = target.endpoints().to_vec();
        let copts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true);
        #[cfg(feature = "tls")]
        let copts = match tls {
            Some(tls) => copts.with_tls(tls),
            None => copts,
        };
        #[cfg(not(feature = "tls"))]
        let _: Option<()> = tls;
        let probe_key = target.document_key();
        let mut members = Vec::new();
        for ep in &eps {
            // Connections are opened lazily, on a member's first request.
            let c = rt
                .block_on(etcd_client::Client::connect([ep], Some(copts.clone())))
                .map_err(|e| Error::Unreachable {
                    endpoints: target.endpoints_display(),
                    waited: start.elapsed(),
                    detail: describe(&e),
                })?;
            members.push(c);
        }
        if !opts.probe {
            return Ok(Etcd {
                inner: Arc::new(Inner {
                    rt,
                    members,
                    preferred: AtomicUsize::new(0),
                    target: target.clone(),
                    opts: opts.clone(),
                    started: start,
                    answered: false.into(),
                }),
            });
        }
        // Every member is probed at once; the first to answer a linearizable read (so one
        // that has a leader) is the one requests go to first.
        let first = rt.block_on(async {
            let mut probes = tokio::task::JoinSet::new();
            for (i, c) in members.iter().enumerate() {
                let (mut c, key) = (c.clone(), probe_key.clone());
                let limit = opts.connect_timeout;
                probes.spawn(async move {
                    loop {
                        let get = etcd_client::GetOptions::new().with_count_only();
                        let last = match c.get(key.as_bytes(), Some(get)).await {
                            Ok(_) => return Ok(i),
                            Err(e) => describe(&e),
                        };
                        if start.elapsed() + Duration::from_millis(100) >= limit {
                            return Err(last);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
            let mut last = "timed out".to_string();
            let found = tokio::time::timeout(opts.connect_timeout, async {
                while let Some(r) = probes.join_next().await {
                    match r {
                        Ok(Ok(i)) => return Some(i),
                        Ok(Err(e)) => last = e,
                        Err(e) => last = e.to_string(),
                    }
                }
                None
            })
            .await
            .ok()
            .flatten();
            probes.abort_all();
            found.ok_or(last)
        });
        let first = match first {
            Ok(i) => i,
            Err(detail) => {
                return Err(Error::Unreachable {
                    endpoints: target.endpoints_display(),
                    waited: start.elapsed(),
                    detail,
                })
            }
        };
        Ok(Etcd {
            inner: Arc::new(Inner {
                rt,
                members,
                preferred: AtomicUsize::new(first),
                target: target.clone(),
                opts: opts.clone(),
                started: start,
                answered: true.into(),
            }),
        })
    }

    /// The endpoint (`http://HOST:PORT`) requests go to first: the member that answered
    /// last. Another is tried when it does not answer in time.
    pub fn current_endpoint(&self) -> &str {
        let i = self.inner.preferred.load(Ordering::SeqCst);
        self.inner.target.endpoints()[i].as_str()
    }

    /// The target this connection serves.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// A clone of the underlying async client of [`Etcd::current_endpoint`], for tests
    /// and tools.
    pub fn raw_client(&self) -> etcd_client::Client {
        self.inner.client()
    }

    /// Runs a future on the connection's runtime (for tests and tools).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.inner.rt.block_on(f)
    }
}

impl Inner {
    /// An [`Error::Engine`] for `op`.
    pub(crate) fn engine(&self, op: &'static str, e: impl std::fmt::Display) -> Error {
        Error::Engine {
            endpoints: self.target.endpoints_display(),
            op,
            detail: e.to_string(),
        }
    }

    /// The client of the member requests go to first, and its index.
    pub(crate) fn member(&self) -> (usize, etcd_client::Client) {
        let i = self.preferred.load(Ordering::SeqCst) % self.members.len();
        (i, self.members[i].clone())
    }

    /// The client of the member requests go to first.
    pub(crate) fn client(&self) -> etcd_client::Client {
        self.member().1
    }

    /// Member `i` did not answer: the next one is tried first from now on (unless another
    /// request already moved on).
    pub(crate) fn failed(&self, i: usize) {
        let next = (i + 1) % self.members.len();
        let _ = self
            .preferred
            .compare_exchange(i, next, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// How many members the target names.
    pub(crate) fn member_count(&self) -> usize {
        self.members.len()
    }

    /// How long one member gets to answer one request. Until a member has answered one
    /// (a connection made without a probe), each gets its share of the connect timeout,
    /// so that a member that hangs, listed first, leaves time for the others — as the
    /// probe, which asked them all at once, did.
    pub(crate) fn attempt_timeout(&self) -> Duration {
        let each = self.opts.connect_timeout.min(self.opts.request_timeout);
        if self.answered.load(Ordering::SeqCst) {
            return each;
        }
        each / self.members.len().max(1) as u32
    }

    /// The end of a request started now: the request timeout, but at least one full try
    /// per member; for the first request of a connection made without a probe, the end
    /// of the connect timeout, as the probe's.
    fn request_end(&self) -> tokio::time::Instant {
        if !self.answered.load(Ordering::SeqCst) {
            return (self.started + self.opts.connect_timeout).into();
        }
        let tries = self.attempt_timeout() * self.members.len() as u32;
        tokio::time::Instant::now() + self.opts.request_timeout.max(tries)
    }

    /// What a request came to, as its caller sees it: until a member has answered one,
    /// a failure is the cluster being unreachable.
    fn settle<T>(&self, r: Result<T>) -> Result<T> {
        match r {
            Err(Error::Engine { detail, .. }) if !self.answered.load(Ordering::SeqCst) => {
                Err(Error::Unreachable {
                    endpoints: self.target.endpoints_display(),
                    waited: self.started.elapsed(),
                    detail,
                })
            }
            r => r,
        }
    }

    /// Runs one request that may be sent again without harm (a read, a revoke, a grant, a
    /// write guarded by a compare that a second copy fails). `make` builds the request on
    /// the given member's client each try. A member that does not answer within
    /// [`Inner::attempt_timeout`], or fails in a way that may pass (no leader, a broken
    /// connection), is left for the next one, until the request's end.
    pub(crate) async fn req<T, F, Fut>(&self, op: &'static str, mut make: F) -> Result<T>
    where
        F: FnMut(etcd_client::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let end = self.request_end();
        let r = loop {
            match self.try_once(op, end, &mut make).await {
                Ok(Outcome::Done(v)) => break Ok(v),
                Err(e) => break Err(e),
                Ok(Outcome::Unknown(e)) => {
                    if tokio::time::Instant::now() + Duration::from_millis(50) >= end {
                        break Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.settle(r)
    }

    /// Runs one request that must not be applied twice (a compare-and-swap the caller
    /// re-checks): it is sent again only when it certainly never reached a server (its
    /// connection could not be opened). If it was sent but no answer came, the next member
    /// is preferred from now on and [`Outcome::Unknown`] says so: the caller finds out,
    /// with reads, whether it was applied before sending it again.
    pub(crate) async fn req_unsure<T, F, Fut>(
        &self,
        op: &'static str,
        mut make: F,
    ) -> Result<Outcome<T>>
    where
        F: FnMut(etcd_client::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let end = self.request_end();
        let r = self.try_once(op, end, &mut make).await;
        self.settle(r)
    }

    /// One try on the preferred member, retried on the next ones while it certainly never
    /// reached a server (nothing to find out then), until `end`.
    async fn try_once<T, F, Fut>(
        &self,
        op: &'static str,
        end: tokio::time::Instant,
        make: &mut F,
    ) -> Result<Outcome<T>>
    where
        F: FnMut(etcd_client::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        loop {
            let (i, client) = self.member();
            let bound = (tokio::time::Instant::now() + self.attempt_timeout()).min(end);
            let last = match tokio::time::timeout_at(bound, make(client)).await {
                Ok(Ok(v)) => {
                    self.answered.store(true, Ordering::SeqCst);
                    return Ok(Outcome::Done(v));
                }
                Ok(Err(e)) if never_sent(&e) => {
                    self.failed(i);
                    describe(&e)
                }
                Ok(Err(e)) if transient(&e) => {
                    self.failed(i);
                    return Ok(Outcome::Unknown(self.engine(op, describe(&e))));
                }
                Ok(Err(e)) => {
                    // A definite answer (request too large, lease not found…): the
                    // cluster is there.
                    self.answered.store(true, Ordering::SeqCst);
                    return Err(self.engine(op, describe(&e)));
                }
                Err(_) => {
                    self.failed(i);
                    let waited = self.attempt_timeout().as_secs_f64();
                    return Ok(Outcome::Unknown(self.engine(
                        op,
                        format!(
                            "no answer from {} within {waited:.1}s",
                            self.target.endpoints()[i]
                        ),
                    )));
                }
            };
            if tokio::time::Instant::now() + Duration::from_millis(50) >= end {
                return Err(self.engine(op, last));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// True if the request certainly never reached a server: the connection failed to open.
pub(crate) fn never_sent(e: &etcd_client::Error) -> bool {
    let d = format!("{e:?}");
    d.contains("ConnectError") || d.contains("tcp connect error")
}

/// True for failures that may pass on a retry (no answer, no leader, a member going down),
/// as opposed to the server's definite answers (lease not found, request too large…).
pub(crate) fn transient(e: &etcd_client::Error) -> bool {
    use tonic::Code;
    match e {
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::Unknown
                | Code::Internal
        ),
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// A short description of an etcd client error: the gRPC message and its root cause.
pub(crate) fn describe(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            let mut root: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
            let mut last = None;
            while let Some(r) = root {
                last = Some(r.to_string());
                root = r.source();
            }
            match last {
                Some(cause) if !s.message().contains(&cause) => format!("{}: {cause}", s.message()),
                _ => s.message().to_string(),
            }
        }
        other => other.to_string(),
    }
}
