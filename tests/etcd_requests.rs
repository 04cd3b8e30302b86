//! Issue 20 goal 4: an uncontended `incr etcd://` and `run etcd://` send only the requests
//! their operation needs, counted by the test's own etcd server (its `/metrics` endpoint,
//! `grpc_server_started_total`, read before and after): `incr` a read and a compare-and-swap
//! (two Txn), `run` a LeaseGrant, a Txn and a LeaseRevoke — no connect probe, and no
//! Watch for a command that did not have to wait; a waiting `pop -w`/`wait -w` one watch
//! and no polling. An unreachable server still fails with the same message (69).
//!
//! Skipped (with a printed reason) when etcd is not installed, unless `JLOCK_REQUIRE_ETCD=1`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use jlock_etcd::local::LocalEtcd;

use crate::util::jlock;

fn start(test: &str) -> Option<LocalEtcd> {
    if !jlock_etcd::local::available_or_skip(test) {
        return None;
    }
    Some(LocalEtcd::start(1).unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// The gRPC requests the server has started, by method (`grpc_server_started_total`).
fn started(e: &LocalEtcd) -> BTreeMap<String, u64> {
    let addr = e.endpoints();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("grpc_server_started_total{") else {
            continue;
        };
        let method = rest
            .split("grpc_method=\"")
            .nth(1)
            .and_then(|m| m.split('"').next())
            .unwrap()
            .to_string();
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *counts.entry(method).or_insert(0) += n as u64;
    }
    assert!(
        !counts.is_empty(),
        "no grpc_server_started_total in:\n{text}"
    );
    counts
}

/// What `f` made the server start, by method (those that grew only).
fn requests_of(e: &LocalEtcd, f: impl FnOnce()) -> BTreeMap<String, u64> {
    let before = started(e);
    f();
    let after = started(e);
    after
        .into_iter()
        .filter_map(|(m, n)| {
            let d = n - before.get(&m).copied().unwrap_or(0);
            (d > 0).then_some((m, d))
        })
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(m, n)| (m.to_string(), *n)).collect()
}

#[test]
fn etcd_incr_and_run_send_only_the_round_trips_they_need() {
    let Some(e) = start("etcd_requests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = e.target("c");
    jlock(dir.path(), &["incr", &t, ".n"]).assert().success();
    let incr = requests_of(&e, || {
        jlock(dir.path(), &["incr", &t, ".n"])
            .assert()
            .success()
            .stdout("2\n");
    });
    assert_eq!(incr, counts(&[("Txn", 2)]), "incr etcd://");
    let run = requests_of(&e, || {
        jlock(dir.path(), &["run", &t, "--", "true"])
            .assert()
            .success();
    });
    assert_eq!(
        run,
        counts(&[("LeaseGrant", 1), ("Txn", 1), ("LeaseRevoke", 1)]),
        "run etcd://"
    );
    let get = requests_of(&e, || {
        jlock(dir.path(), &["get", &t, ".n"])
            .assert()
            .success()
            .stdout("2\n");
    });
    assert_eq!(get, counts(&[("Range", 1)]), "get etcd://");
    // Waiting is an etcd watch, not polling: a read, the watch, one last read at the
    // deadline — however long the wait (polling every 0.1 s would read 15 times here).
    for args in [
        &["pop", "-w", "1.5", &t, ".q"][..],
        &["wait", "-w", "1.5", &t, ".n", "--until", "3"],
    ] {
        let waited = requests_of(&e, || {
            jlock(dir.path(), args).assert().code(1);
        });
        assert_eq!(waited, counts(&[("Range", 2), ("Watch", 1)]), "{args:?}");
    }
}

#[test]
fn etcd_without_a_probe_an_unreachable_server_still_fails_with_69_naming_it() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let t = format!("etcd://127.0.0.1:{port}/x");
    for args in [
        &["incr", "--connect-timeout", "0.5", &t, ".n"][..],
        &["get", "--connect-timeout", "0.5", &t],
        &["set", "--connect-timeout", "0.5", &t, ".n", "1"],
        &["wait", "--connect-timeout", "0.5", &t, "--until", "1"],
        &["pop", "--connect-timeout", "0.5", "-w", "5", &t, ".q"],
        &["run", "--connect-timeout", "0.5", &t, "--", "touch", "ran"],
    ] {
        jlock(dir.path(), args)
            .assert()
            .code(69)
            .stderr(predicates::str::contains(format!(
                "etcd unreachable at 127.0.0.1:{port} (gave up after"
            )));
    }
    assert!(!dir.path().join("ran").exists());
}
