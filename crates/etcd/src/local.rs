//! Local etcd servers for tests and benchmarks: one member or a cluster, on free loopback
//! ports, in a temporary directory, killed when dropped. Not for production use.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One etcd member.
#[derive(Debug)]
pub struct Member {
    /// Its name (`m0`, `m1`…).
    pub name: String,
    /// Its client port on 127.0.0.1.
    pub client_port: u16,
    /// Its peer port on 127.0.0.1.
    pub peer_port: u16,
    /// The running server (None once killed).
    pub child: Option<Child>,
    /// Its log file.
    pub log: PathBuf,
}

/// A running cluster (one or more members), killed on drop.
#[derive(Debug)]
pub struct LocalEtcd {
    /// The members.
    pub members: Vec<Member>,
    /// Set for a cluster started with [`LocalEtcd::start_tls`].
    pub tls: Option<TestCerts>,
    _dir: tempfile::TempDir,
}

/// PEM files made for a TLS test cluster by `openssl`: a throwaway CA, the servers'
/// certificate (for IP 127.0.0.1) and a client certificate, all signed by it.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The servers' certificate and key.
    pub server: (PathBuf, PathBuf),
    /// A client's certificate and key.
    pub client: (PathBuf, PathBuf),
}

impl TestCerts {
    /// Makes the CA and the two certificates in `dir` with the `openssl` command.
    pub fn make(dir: &std::path::Path) -> Result<TestCerts, String> {
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-days",
                    "2",
                    "-subj",
                    "/CN=jlock-test-ca",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
        )?;
        for (who, ext) in [
            ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n"),
            ("client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
        ] {
            let (key, csr, pem, extf) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.pem"),
                format!("{who}.ext"),
            );
            std::fs::write(dir.join(&extf), ext).map_err(|e| format!("{extf}: {e}"))?;
            let subj = format!("/CN=jlock-test-{who}");
            openssl(&[&["req"][..], &ec, &["-subj", &subj, "-keyout", &key, "-out", &csr]].concat())?;
            openssl(&[
                "x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", &pem, "-extfile", &extf,
            ])?;
        }
        Ok(TestCerts {
            ca: dir.join("ca.pem"),
            server: (dir.join("server.pem"), dir.join("server.key")),
            client: (dir.join("client.pem"), dir.join("client.key")),
        })
    }

    /// etcdctl's (and jlock's) options for a client of the cluster.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            format!("--cacert={}", self.ca.display()),
            format!("--cert={}", self.client.0.display()),
            format!("--key={}", self.client.1.display()),
        ]
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// For tests: whether etcd can be used. When it is not installed, prints a
/// skip notice naming `test` (past the test harness's capture, so a plain
/// `cargo test` shows it) and returns false — or, when `JLOCK_REQUIRE_ETCD=1`
/// (as CI sets it), panics: a missing etcd is then a failure.
pub fn available_or_skip(test: &str) -> bool {
    if etcd_installed() {
        return true;
    }
    if std::env::var("JLOCK_REQUIRE_ETCD").as_deref() == Ok("1") {
        panic!(
            "{test}: etcd/etcdctl not installed and JLOCK_REQUIRE_ETCD=1 (run .ci/etcd-setup.sh)"
        );
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED: etcd or etcdctl is not installed (apt-get install etcd-server etcd-client, or .ci/etcd-setup.sh)"
    );
    false
}

/// True when `etcd` and `etcdctl` can be run.
pub fn etcd_installed() -> bool {
    let runs = |prog: &str, arg: &str| {
        Command::new(prog)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    runs("etcd", "--version") && runs("etcdctl", "version")
}

impl LocalEtcd {
    /// Starts an n-member cluster and waits until `etcdctl endpoint health` succeeds on each
    /// member (at most 60 s).
    pub fn start(n: usize) -> Result<LocalEtcd, String> {
        LocalEtcd::start_with(n, false)
    }

    /// Starts one member that serves clients over TLS only, with `https://` client URLs,
    /// and requires client certificates (`--client-cert-auth`): see [`LocalEtcd::tls`].
    pub fn start_tls() -> Result<LocalEtcd, String> {
        LocalEtcd::start_with(1, true)
    }

    fn start_with(n: usize, tls: bool) -> Result<LocalEtcd, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let certs = if tls {
            Some(TestCerts::make(dir.path())?)
        } else {
            None
        };
        let scheme = if tls { "https" } else { "http" };
        let mut members = Vec::new();
        for i in 0..n {
            members.push(Member {
                name: format!("m{i}"),
                client_port: free_port().map_err(|e| format!("free port: {e}"))?,
                peer_port: free_port().map_err(|e| format!("free port: {e}"))?,
                child: None,
                log: dir.path().join(format!("m{i}.log")),
            });
        }
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = LocalEtcd {
            members: Vec::new(),
            tls: certs,
            _dir: dir,
        };
        for mut m in members {
            let log =
                std::fs::File::create(&m.log).map_err(|e| format!("{}: {e}", m.log.display()))?;
            let mut etcd = Command::new("etcd");
            if let Some(c) = &cluster.tls {
                etcd.arg(format!("--cert-file={}", c.server.0.display()))
                    .arg(format!("--key-file={}", c.server.1.display()))
                    .arg(format!("--trusted-ca-file={}", c.ca.display()))
                    .arg("--client-cert-auth");
            }
            let child = etcd
                .args(["--name", &m.name])
                .arg("--data-dir")
                .arg(cluster._dir.path().join(&m.name))
                .arg(format!(
                    "--listen-client-urls={scheme}://127.0.0.1:{}",
                    m.client_port
                ))
                .arg(format!(
                    "--advertise-client-urls={scheme}://127.0.0.1:{}",
                    m.client_port
                ))
                .arg(format!(
                    "--listen-peer-urls=http://127.0.0.1:{}",
                    m.peer_port
                ))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{}",
                    m.peer_port
                ))
                .arg(format!("--initial-cluster={initial}"))
                .arg("--initial-cluster-token=jlock-local")
                .arg("--initial-cluster-state=new")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("starting etcd: {e}"))?;
            m.child = Some(child);
            cluster.members.push(m);
        }
        for i in 0..n {
            cluster.wait_healthy(i)?;
        }
        Ok(cluster)
    }

    fn wait_healthy(&self, i: usize) -> Result<(), String> {
        let m = &self.members[i];
        let start = Instant::now();
        loop {
            let ok = Command::new("etcdctl")
                .arg(format!(
                    "--endpoints={}127.0.0.1:{}",
                    self.url_prefix(),
                    m.client_port
                ))
                .args(self.tls.iter().flat_map(TestCerts::client_args))
                .args(["endpoint", "health"])
                .env("ETCDCTL_API", "3")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                return Err(format!(
                    "etcd {} not healthy after 60s; log:\n{log}",
                    m.name
                ));
            }
            // Polling a server's readiness: there is nothing to wait on instead.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT,…` of the members.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `etcd://ENDPOINTS/NAME` (`etcds://` for a TLS cluster).
    pub fn target(&self, name: &str) -> String {
        let scheme = if self.tls.is_some() { "etcds" } else { "etcd" };
        format!("{scheme}://{}/{}", self.endpoints(), name)
    }

    fn url_prefix(&self) -> &'static str {
        if self.tls.is_some() {
            "https://"
        } else {
            ""
        }
    }

    /// Runs etcdctl against the cluster; returns its stdout, or its stderr as the error.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String, String> {
        let endpoints = self
            .endpoints()
            .split(',')
            .map(|e| format!("{}{e}", self.url_prefix()))
            .collect::<Vec<_>>()
            .join(",");
        let out = Command::new("etcdctl")
            .arg(format!("--endpoints={endpoints}"))
            .args(self.tls.iter().flat_map(TestCerts::client_args))
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .map_err(|e| format!("etcdctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "etcdctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Process ids of the running members (e.g. for a panic hook: with `panic = "abort"`,
    /// `Drop` does not run).
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect()
    }

    /// kill -9 one member.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
