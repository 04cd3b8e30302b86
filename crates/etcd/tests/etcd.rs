//! End-to-end tests of the etcd backend against real etcd servers started on 127.0.0.1:
//! exclusion across processes, fences, kill -9, SIGSTOP, lease revocation, unreachable
//! engines, queue hygiene on -n/-w/interrupt, semaphores, documents, and a 3-member cluster
//! losing its leader.

mod harness;

use harness::{signal, worker, Cluster};
use jlock_etcd::{ConnectOptions, Error, Etcd, LockMode, LockOptions, LossReason, Target, Wait};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn connect(c: &Cluster, name: &str) -> Etcd {
    let t = Target::parse(&c.target(name)).unwrap();
    Etcd::connect(&t, &ConnectOptions::default()).unwrap()
}

fn counter(etcd: &Etcd) -> u64 {
    etcd.read()
        .unwrap()
        .map(|d| {
            String::from_utf8(d.value)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .unwrap_or(0)
}

fn wait_all(children: Vec<Child>) -> Vec<String> {
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "worker failed: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect()
}

/// Starts a `hold` worker and returns it with its fence, once it holds the lock.
fn hold(c: &Cluster, name: &str, ttl: u64) -> (Child, BufReader<std::process::ChildStdout>, i64) {
    let mut child = worker()
        .args(["hold", &c.target(name), &ttl.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let fence = line
        .strip_prefix("fence=")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("hold worker said {line:?}"));
    (child, out, fence)
}

#[test]
fn exclusion_across_processes_keeps_exact_count_and_fences_grow() {
    let Some(c) = harness::start(1, "exclusion") else {
        return;
    };
    let (procs, each) = (4, 40);
    let children: Vec<Child> = (0..procs)
        .map(|_| {
            worker()
                .args(["incr", &c.target("count"), &each.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_all(children);
    // Each increment was a plain read and put under the lock: only exclusion keeps it exact.
    // Each worker also checked that the fence in the document grew at every acquisition.
    assert_eq!(counter(&connect(&c, "count")), procs * each);
    assert!(
        c.keys("jlock/count/.lock/").is_empty(),
        "released locks left keys"
    );
}

#[test]
fn fence_strictly_increases_with_each_acquisition() {
    let Some(c) = harness::start(1, "fence") else {
        return;
    };
    let etcd = connect(&c, "f");
    let other = connect(&c, "g");
    let mut last = 0;
    for i in 0..10 {
        let l = etcd.lock(&LockOptions::new()).unwrap();
        assert!(l.fence() > last, "fence {} after {last}", l.fence());
        last = l.fence();
        if i % 3 == 0 {
            // Other keys written in between make revisions jump, never go back.
            other.put(b"x").unwrap();
        }
        l.release().unwrap();
    }
    let (mut child, _out, f) = hold(&c, "f", 5);
    assert!(f > last);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_9_of_a_holder_frees_the_lock_within_the_ttl() {
    let Some(c) = harness::start(1, "kill9") else {
        return;
    };
    let (mut child, _out, f1) = hold(&c, "k", 2);
    signal(child.id(), "KILL");
    child.wait().unwrap();
    let etcd = connect(&c, "k");
    let start = Instant::now();
    // A generous bound only so a bug cannot hang the test; the time is printed, not asserted.
    let l = etcd
        .lock(&LockOptions::new().wait(Wait::Timeout(Duration::from_secs(60))))
        .unwrap();
    eprintln!(
        "kill -9: lock free again after {:?} (TTL 2s)",
        start.elapsed()
    );
    assert!(l.fence() > f1);
}

#[test]
fn a_revoked_lease_or_deleted_key_is_reported_as_lost() {
    let Some(c) = harness::start(1, "revoke") else {
        return;
    };
    let etcd = connect(&c, "r");
    let lock = etcd.lock(&LockOptions::new()).unwrap();
    assert_eq!(lock.lost(), None);
    let mut raw = etcd.raw_client();
    etcd.block_on(raw.lease_revoke(lock.lease())).unwrap();
    assert_eq!(
        lock.wait_lost(Some(Duration::from_secs(60))),
        Some(LossReason::LeaseGone)
    );
    assert!(loss_fd_readable(&lock));
    assert!(matches!(
        lock.release(),
        Err(Error::Lost {
            reason: LossReason::LeaseGone,
            ..
        })
    ));

    let lock = etcd.lock(&LockOptions::new()).unwrap();
    c.etcdctl(&["del", lock.key()]);
    assert_eq!(
        lock.wait_lost(Some(Duration::from_secs(60))),
        Some(LossReason::KeyDeleted)
    );
}

/// Whether the lock's loss fd has its byte (the read would block for ever otherwise, so
/// call it only once the loss was reported).
fn loss_fd_readable(lock: &jlock_etcd::EtcdLock) -> bool {
    use std::io::Read;
    let fd = lock.loss_fd().try_clone_to_owned().unwrap();
    let mut f = std::fs::File::from(fd);
    let mut b = [0u8; 1];
    f.read(&mut b).unwrap() == 1
}

#[test]
fn a_sigstopped_holder_past_its_ttl_is_overtaken_and_learns_it_lost() {
    let Some(c) = harness::start(1, "sigstop") else {
        return;
    };
    let (mut child, mut out, f1) = hold(&c, "s", 2);
    signal(child.id(), "STOP");
    let etcd = connect(&c, "s");
    let l2 = etcd
        .lock(&LockOptions::new().wait(Wait::Timeout(Duration::from_secs(60))))
        .unwrap();
    assert!(
        l2.fence() > f1,
        "new holder's fence {} not above {f1}",
        l2.fence()
    );
    signal(child.id(), "CONT");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("lost: Some("),
        "stopped holder said {line:?}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert_eq!(l2.lost(), None);
    l2.release().unwrap();
}

#[test]
fn an_unreachable_engine_fails_within_the_connect_timeout_naming_endpoints() {
    // No etcd needed: nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Target::parse(&format!("etcd://127.0.0.1:{port}/x")).unwrap();
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    let start = Instant::now();
    let err = Etcd::connect(&t, &opts).unwrap_err();
    eprintln!("unreachable after {:?}: {err}", start.elapsed());
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn no_wait_timeout_and_interrupt_leave_no_queued_key() {
    let Some(c) = harness::start(1, "queue") else {
        return;
    };
    let etcd = connect(&c, "q");
    let held = etcd.lock(&LockOptions::new()).unwrap();
    let err = etcd
        .lock(&LockOptions::new().wait(Wait::NoWait))
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    assert_eq!(c.keys("jlock/q/.lock/"), [held.key()]);
    let err = etcd
        .lock(&LockOptions::new().wait(Wait::Timeout(Duration::from_millis(300))))
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert!(err.is_contention());
    assert_eq!(c.keys("jlock/q/.lock/"), [held.key()]);

    // Interrupted once it is queued (seen as a second key).
    static STOP: AtomicBool = AtomicBool::new(false);
    let keys = std::thread::scope(|s| {
        let waiter = s.spawn(|| etcd.lock(&LockOptions::new().interrupt(&STOP)));
        while c.keys("jlock/q/.lock/").len() < 2 {
            assert!(!waiter.is_finished(), "the waiter ended before queueing");
            std::thread::sleep(Duration::from_millis(20));
        }
        STOP.store(true, Ordering::SeqCst);
        let err = waiter.join().unwrap().unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
        c.keys("jlock/q/.lock/")
    });
    assert_eq!(keys, [held.key()]);
    held.release().unwrap();
    assert!(c.keys("jlock/q/.lock/").is_empty());
}

#[test]
fn slots_admit_n_holders_and_no_more() {
    let Some(c) = harness::start(1, "slots") else {
        return;
    };
    let etcd = connect(&c, "pool");
    let nw = LockOptions::new().wait(Wait::NoWait);
    let a = etcd.semaphore(2, &nw).unwrap();
    let b = etcd.semaphore(2, &nw).unwrap();
    let mut slots = [a.slot(), b.slot()];
    slots.sort();
    assert_eq!(slots, [Some(0), Some(1)]);
    assert!(matches!(etcd.semaphore(2, &nw), Err(Error::Busy { .. })));
    assert_eq!(c.keys("jlock/pool/.slots/q/").len(), 2);
    let st = etcd.status().unwrap();
    assert_eq!(st.slots.as_ref().map(|s| s.queue.holders.len()), Some(2));
    drop(a);
    let d = etcd.semaphore(2, &nw).unwrap();
    assert!(d.slot().is_some());
    drop((b, d));

    let children: Vec<Child> = (0..5)
        .map(|_| {
            worker()
                .args(["slot", &c.target("pool2"), "2", "8"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for out in wait_all(children) {
        let max: u64 = out.trim().strip_prefix("max=").unwrap().parse().unwrap();
        assert!((1..=2).contains(&max), "{out}");
    }
}

#[test]
fn shared_holders_coexist_and_exclude_an_exclusive_one() {
    let Some(c) = harness::start(1, "shared") else {
        return;
    };
    let etcd = connect(&c, "rw");
    let nw = LockOptions::new().wait(Wait::NoWait);
    let s1 = etcd.lock(&nw.clone().mode(LockMode::Shared)).unwrap();
    let s2 = etcd.lock(&nw.clone().mode(LockMode::Shared)).unwrap();
    assert!(matches!(etcd.lock(&nw), Err(Error::Busy { .. })));
    drop(s1);
    assert!(matches!(etcd.lock(&nw), Err(Error::Busy { .. })));
    drop(s2);
    let x = etcd.lock(&nw).unwrap();
    assert!(matches!(
        etcd.lock(&nw.clone().mode(LockMode::Shared)),
        Err(Error::Busy { .. })
    ));
    drop(x);
}

#[test]
fn status_names_the_holder_and_the_waiters() {
    let Some(c) = harness::start(1, "status") else {
        return;
    };
    let (mut child, _out, fence) = hold(&c, "st", 5);
    let etcd = connect(&c, "st");
    static STOP: AtomicBool = AtomicBool::new(false);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| etcd.lock(&LockOptions::new().command("waiter").interrupt(&STOP)));
        while c.keys("jlock/st/.lock/").len() < 2 {
            assert!(!waiter.is_finished(), "the waiter ended before queueing");
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = etcd.status().unwrap();
        assert_eq!(st.lock.holders.len(), 1);
        let h = &st.lock.holders[0];
        assert_eq!(h.fence, Some(fence));
        assert_eq!(h.pid, child.id());
        assert_eq!(h.command, "hold");
        assert_eq!(h.mode, jlock_core::LockMode::Exclusive);
        assert!(h.queued.is_some() && h.host.as_ref().is_some_and(|h| !h.is_empty()));
        assert!(h
            .lease
            .as_ref()
            .and_then(|l| l.ttl_left)
            .is_some_and(|t| t > 0));
        assert_eq!(st.lock.waiters.len(), 1);
        assert_eq!(st.lock.waiters[0].command, "waiter");
        assert_eq!(st.lock.waiters[0].pid, std::process::id());
        STOP.store(true, Ordering::SeqCst);
        assert!(waiter.join().unwrap().is_err());
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn documents_cas_updates_lose_nothing_and_refuse_what_etcd_cannot_hold() {
    let Some(c) = harness::start(1, "documents") else {
        return;
    };
    let etcd = connect(&c, "doc");
    assert_eq!(etcd.read().unwrap(), None);
    let children: Vec<Child> = (0..4)
        .map(|_| {
            worker()
                .args(["cas", &c.target("doc"), "50"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for out in wait_all(children) {
        assert_eq!(out.trim(), "acked=50 unknown=0");
    }
    assert_eq!(counter(&etcd), 200);
    let before = etcd.read().unwrap();

    // Too large: refused before sending, nothing written.
    let big = vec![b'x'; 1_572_864];
    let err = etcd.put(&big).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("request limit"), "{err}");
    let err = etcd
        .update(|_| Ok::<_, Error>(Some(big.clone())))
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }));
    // Just under the limit is accepted by etcd.
    let fits = vec![b'y'; etcd.max_value_len()];
    etcd.put(&fits).unwrap();
    assert_eq!(etcd.read().unwrap().unwrap().value.len(), fits.len());
    etcd.put(&before.as_ref().unwrap().value).unwrap();

    // A refusing function writes nothing; None writes nothing.
    let err = etcd
        .update(|_| Err::<Option<Vec<u8>>, _>("no"))
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }));
    let u = etcd.update(|_| Ok::<_, Error>(None)).unwrap();
    assert!(!u.changed);
    assert_eq!(counter(&etcd), 200);
    assert!(etcd.delete().unwrap());
    assert_eq!(etcd.read().unwrap(), None);
}

#[test]
fn a_fenced_update_fails_once_the_lock_is_lost() {
    let Some(c) = harness::start(1, "fenced") else {
        return;
    };
    let etcd = connect(&c, "fd");
    let lock = etcd.lock(&LockOptions::new()).unwrap();
    etcd.update_fenced(&lock, |_| Ok::<_, Error>(Some(b"1".to_vec())))
        .unwrap();
    // Someone else takes over (the key vanishes, e.g. the lease expired during a pause).
    c.etcdctl(&["del", lock.key()]);
    let err = etcd
        .update_fenced(&lock, |_| Ok::<_, Error>(Some(b"2".to_vec())))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Lost {
                reason: LossReason::Fenced,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(etcd.read().unwrap().unwrap().value, b"1");
    assert!(lock.lost().is_some());
}

#[test]
fn a_three_member_cluster_losing_its_leader_keeps_every_acknowledged_increment() {
    let Some(mut c) = harness::start(3, "cluster") else {
        return;
    };
    let target = c.target("ha");
    let etcd = connect(&c, "ha");
    let (procs, each) = (3, 150u64);
    let mut children: Vec<Child> = (0..procs)
        .map(|_| {
            worker()
                .args(["cas", &target, &each.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Mid-run: once some increments have landed, kill -9 the leader.
    while counter(&etcd) < 60 {
        let ended = children
            .iter_mut()
            .any(|ch| ch.try_wait().unwrap().is_some());
        assert!(!ended, "a worker ended before the leader was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status: Vec<(usize, u64, u64)> = (0..3)
        .map(|i| {
            let ep = format!("http://127.0.0.1:{}", c.members[i].client_port);
            let mut one = etcd
                .block_on(etcd_client::Client::connect([ep], None))
                .unwrap();
            let s = etcd.block_on(one.status()).unwrap();
            (i, s.header().unwrap().member_id(), s.leader())
        })
        .collect();
    let leader = status
        .iter()
        .find(|(_, id, leader)| id == leader)
        .unwrap()
        .0;
    let at = counter(&etcd);
    c.kill(leader);
    eprintln!("killed leader m{leader} at count {at}");
    let (mut acked, mut unknown) = (0, 0);
    for out in wait_all(children) {
        let mut it = out.split_whitespace();
        acked += it
            .next()
            .unwrap()
            .strip_prefix("acked=")
            .unwrap()
            .parse::<u64>()
            .unwrap();
        unknown += it
            .next()
            .unwrap()
            .strip_prefix("unknown=")
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    let survivor = (0..3).find(|i| *i != leader).unwrap();
    let t = Target::parse(&format!(
        "etcd://127.0.0.1:{}/ha",
        c.members[survivor].client_port
    ))
    .unwrap();
    let final_count = counter(&Etcd::connect(&t, &ConnectOptions::default()).unwrap());
    eprintln!("acked {acked}, unknown {unknown}, final {final_count}");
    assert!(
        final_count >= acked,
        "lost acknowledged increments: {final_count} < {acked}"
    );
    assert!(
        final_count <= acked + unknown,
        "{final_count} > {acked} + {unknown}"
    );
    assert!(
        acked > at,
        "no increment acknowledged after the leader died"
    );
}

#[test]
fn a_holder_cut_off_from_etcd_counts_its_lock_lost_at_its_deadline() {
    let Some(mut c) = harness::start(1, "engine-down") else {
        return;
    };
    let etcd = connect(&c, "down");
    let lock = etcd
        .lock(&LockOptions::new().ttl(Duration::from_secs(2)))
        .unwrap();
    c.kill(0);
    let start = Instant::now();
    assert_eq!(
        lock.wait_lost(Some(Duration::from_secs(60))),
        Some(LossReason::NoRenewal)
    );
    eprintln!(
        "engine down: lock counted lost after {:?} (TTL 2s)",
        start.elapsed()
    );
    assert!(matches!(
        lock.release(),
        Err(Error::Lost {
            reason: LossReason::NoRenewal,
            ..
        })
    ));
}

/// Issue 15 D: the member a connection uses hangs mid-session (SIGSTOP: its connections
/// stay open and nothing answers). Updates move on to another member — each one whose
/// answer was lost is re-checked (its receipt, the document's revision) before it is sent
/// again — and the held lock's keep-alives do too: every update succeeds exactly once, and
/// the lock is not lost.
#[test]
fn a_member_hanging_mid_session_loses_no_update_and_no_lock() {
    let Some(c) = harness::start(3, "hang-mid-session") else {
        return;
    };
    let t = Target::parse(&c.target("mid")).unwrap();
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    let etcd = Etcd::connect(&t, &opts).unwrap();
    // The default TTL: the stopped member may be the leader, and a lease outlives the
    // election of the next one only if its TTL is longer than the election (as etcd's own
    // minimum TTL assumes).
    let lock = etcd.lock(&LockOptions::new()).unwrap();
    let incr = |old: Option<&[u8]>| {
        let n: u64 = old
            .map(|b| String::from_utf8_lossy(b).trim().parse().unwrap_or(0))
            .unwrap_or(0);
        Ok::<_, std::io::Error>(Some((n + 1).to_string().into_bytes()))
    };
    etcd.update(incr).unwrap();
    let used = etcd.current_endpoint().to_string();
    let i = (0..3)
        .find(|i| used.ends_with(&format!(":{}", c.members[*i].client_port)))
        .unwrap();
    let pid = c.members[i].child.as_ref().unwrap().id();
    signal(pid, "STOP");
    let start = Instant::now();
    let results: Vec<_> = (0..10).map(|_| etcd.update(incr)).collect();
    let took = start.elapsed();
    // Past two keep-alive periods (TTL/3), on the remaining members.
    let lost = lock.wait_lost(Some(Duration::from_secs(8)));
    let now_used = etcd.current_endpoint().to_string();
    let count = counter(&etcd);
    signal(pid, "CONT");
    eprintln!("member {used} stopped: 10 updates took {took:?}, now using {now_used}");
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(count, 11, "an update was lost or applied twice");
    assert_ne!(now_used, used);
    assert_eq!(lost, None, "the lock was lost with a majority up");
    lock.release().unwrap();
}

#[test]
fn a_document_watch_reports_changes_after_its_read_even_past_a_compaction() {
    use jlock_core::{Backend, Changes};
    let Some(c) = harness::start(1, "document_watch") else {
        return;
    };
    let writer = connect(&c, "w");
    let doc = jlock_etcd::EtcdDocument::new(connect(&c, "w"));
    writer.put(b"1").unwrap();
    assert_eq!(doc.read().unwrap().as_deref(), Some(&b"1"[..]));
    let mut watch = doc.watch();
    let soon = || Some(Instant::now() + Duration::from_millis(200));
    let bound = || Some(Instant::now() + Duration::from_secs(60));
    // Nothing since the read: the deadline passes.
    assert!(!Changes::<Error>::wait(&mut watch, soon()).unwrap());
    // Changes made after the read, then compacted away before the watch looks at them:
    // it is told to read again (etcd cancels a watch from a compacted revision).
    let mut watch = doc.watch();
    writer.put(b"2").unwrap();
    let last = writer.put(b"3").unwrap();
    c.etcdctl(&["compact", &last.to_string()]);
    assert!(Changes::<Error>::wait(&mut watch, bound()).unwrap());
    assert_eq!(doc.read().unwrap().as_deref(), Some(&b"3"[..]));
    // Watched again from that read: quiet until the next write, which it reports.
    assert!(!Changes::<Error>::wait(&mut watch, soon()).unwrap());
    writer.put(b"4").unwrap();
    assert!(Changes::<Error>::wait(&mut watch, bound()).unwrap());
    assert_eq!(doc.read().unwrap().as_deref(), Some(&b"4"[..]));
    // A deletion is a change too.
    assert!(writer.delete().unwrap());
    assert!(Changes::<Error>::wait(&mut watch, bound()).unwrap());
    assert_eq!(doc.read().unwrap(), None);
}
