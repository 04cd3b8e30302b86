//! Test harness: real etcd servers ([`LocalEtcd`]) started on loopback by each test;
//! skipped with a printed reason when etcd is missing, unless `JLOCK_REQUIRE_ETCD=1`.

#![allow(dead_code)]

pub use jlock_etcd::local::LocalEtcd;
use std::process::Command;

/// A started cluster, with test conveniences.
pub struct Cluster(pub LocalEtcd);

impl std::ops::Deref for Cluster {
    type Target = LocalEtcd;
    fn deref(&self) -> &LocalEtcd {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut LocalEtcd {
        &mut self.0
    }
}

/// Starts an n-member cluster, or returns None (after printing why) when etcd is not
/// installed and `JLOCK_REQUIRE_ETCD` is not `1`.
pub fn start(n: usize, test: &str) -> Option<Cluster> {
    if !jlock_etcd::local::available_or_skip(test) {
        return None;
    }
    Some(Cluster(
        LocalEtcd::start(n).unwrap_or_else(|e| panic!("{test}: {e}")),
    ))
}

impl Cluster {
    /// Runs etcdctl; panics on failure.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        self.0.etcdctl(args).unwrap()
    }

    /// Keys under a prefix.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.etcdctl(&["get", "--prefix", "--keys-only", prefix])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
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
