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
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
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
            _dir: dir,
        };
        for mut m in members {
            let log =
                std::fs::File::create(&m.log).map_err(|e| format!("{}: {e}", m.log.display()))?;
            let child = Command::new("etcd")
                .args(["--name", &m.name])
                .arg("--data-dir")
                .arg(cluster._dir.path().join(&m.name))
                .arg(format!(
                    "--listen-client-urls=http://127.0.0.1:{}",
                    m.client_port
                ))
                .arg(format!(
                    "--advertise-client-urls=http://127.0.0.1:{}",
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
                .arg(format!("--endpoints=127.0.0.1:{}", m.client_port))
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

    /// `etcd://ENDPOINTS/NAME`.
    pub fn target(&self, name: &str) -> String {
        format!("etcd://{}/{}", self.endpoints(), name)
    }

    /// Runs etcdctl against the cluster; returns its stdout, or its stderr as the error.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("etcdctl")
            .arg(format!("--endpoints={}", self.endpoints()))
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
