//! The connection to an etcd cluster: the runtime, the gRPC client, timeouts and error mapping.

use crate::{Error, Result, Target};
use std::future::Future;
use std::path::PathBuf;
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
    /// Give up if no endpoint answers a first (linearizable) read within this time.
    pub connect_timeout: Duration,
    /// Bound on each later request (reads, writes, grants); a write that times out has an
    /// unknown outcome ([`Error::Engine`]).
    pub request_timeout: Duration,
    /// The server's `--max-request-bytes`; larger documents are refused before sending.
    pub max_request_bytes: usize,
    /// Certificates for an `etcds://` target (TLS); none may be given for `etcd://`.
    pub tls: TlsFiles,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Duration::from_secs(5),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            tls: TlsFiles::default(),
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
pub(crate) struct Inner {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: etcd_client::Client,
    pub(crate) target: Target,
    pub(crate) opts: ConnectOptions,
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
    /// Fails with [`Error::Unreachable`] naming the endpoints otherwise.
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
        let connected = rt.block_on(async {
            tokio::time::timeout(opts.connect_timeout, async {
                loop {
                    let last = match etcd_client::Client::connect(&eps, Some(copts.clone())).await {
                        Ok(mut c) => {
                            let get = etcd_client::GetOptions::new().with_count_only();
                            match c.get(probe_key.as_bytes(), Some(get)).await {
                                Ok(_) => return Ok(c),
                                Err(e) => describe(&e),
                            }
                        }
                        Err(e) => describe(&e),
                    };
                    if start.elapsed() + Duration::from_millis(100) >= opts.connect_timeout {
                        return Err(last);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
        });
        let client = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(detail)) => {
                return Err(Error::Unreachable {
                    endpoints: target.endpoints_display(),
                    waited: start.elapsed(),
                    detail,
                })
            }
            Err(_) => {
                return Err(Error::Unreachable {
                    endpoints: target.endpoints_display(),
                    waited: start.elapsed(),
                    detail: "timed out".into(),
                })
            }
        };
        Ok(Etcd {
            inner: Arc::new(Inner {
                rt,
                client,
                target: target.clone(),
                opts: opts.clone(),
            }),
        })
    }

    /// The target this connection serves.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// A clone of the underlying async client, for tests and tools.
    pub fn raw_client(&self) -> etcd_client::Client {
        self.inner.client.clone()
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

    /// Runs one request, bounded by the request timeout. `make` builds the request on a
    /// fresh client handle each try. A request that certainly never reached a server (its
    /// connection could not be opened, e.g. that member is down) is retried, so the client
    /// moves on to the live members; any other failure is retried only if `idempotent`.
    pub(crate) async fn req<T, F, Fut>(
        &self,
        op: &'static str,
        idempotent: bool,
        mut make: F,
    ) -> Result<T>
    where
        F: FnMut(etcd_client::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let end = tokio::time::Instant::now() + self.opts.request_timeout;
        loop {
            let last = match tokio::time::timeout_at(end, make(self.client.clone())).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => {
                    if !(never_sent(&e) || idempotent && transient(&e)) {
                        return Err(self.engine(op, describe(&e)));
                    }
                    describe(&e)
                }
                Err(_) => format!(
                    "no answer within {:.1}s",
                    self.opts.request_timeout.as_secs_f64()
                ),
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
