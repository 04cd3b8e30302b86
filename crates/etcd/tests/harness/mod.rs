//! Test harness: real etcd servers (one member or a cluster) on free loopback ports, started
//! by the test and killed when dropped; skipped with a printed reason when etcd is missing,
//! unless `JLOCK_REQUIRE_ETCD=1`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One etcd member.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
}

/// A running cluster (one or more members), killed on drop.
pub struct Cluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn installed(prog: &str, version_arg: &str) -> bool {
    Command::new(prog)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts an n-member cluster, or returns None (after printing why) when etcd is not
/// installed and `JLOCK_REQUIRE_ETCD` is not `1`.
pub fn start(n: usize, test: &str) -> Option<Cluster> {
    if !installed("etcd", "--version") || !installed("etcdctl", "version") {
        if std::env::var("JLOCK_REQUIRE_ETCD").as_deref() == Ok("1") {
            panic!("{test}: etcd/etcdctl not installed and JLOCK_REQUIRE_ETCD=1 (run .ci/etcd-setup.sh)");
        }
        eprintln!("{test}: SKIPPED: etcd or etcdctl is not installed (apt-get install etcd-server etcd-client, or .ci/etcd-setup.sh)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut members: Vec<Member> = (0..n)
        .map(|i| Member {
            name: format!("m{i}"),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
            log: dir.path().join(format!("m{i}.log")),
        })
        .collect();
    let initial = members
        .iter()
        .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
        .collect::<Vec<_>>()
        .join(",");
    for m in &mut members {
        let log = std::fs::File::create(&m.log).expect("log file");
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(dir.path().join(&m.name))
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
            .arg("--initial-cluster-token=jlock-test")
            .arg("--initial-cluster-state=new")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        m.child = Some(child);
    }
    let cluster = Cluster { members, _dir: dir };
    for m in &cluster.members {
        cluster.wait_healthy(m);
    }
    Some(cluster)
}

impl Cluster {
    fn wait_healthy(&self, m: &Member) {
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
                return;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                panic!("etcd {} not healthy after 60s; log:\n{log}", m.name);
            }
            // Polling a server's readiness: there is nothing to wait on instead.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `HOST:PORT,…` of the members.
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

    /// Runs etcdctl against the cluster; returns stdout.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let out = Command::new("etcdctl")
            .arg(format!("--endpoints={}", self.endpoints()))
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys under a prefix.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.etcdctl(&["get", "--prefix", "--keys-only", prefix])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
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

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// The test worker binary.
pub fn worker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jlock-etcd-worker"))
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}
