//! Test helper: one process that takes an etcd lock (or slot) and edits a counter document,
//! so the tests can run many of them at once, kill them and stop them.
//!
//! Usage: `jlock-etcd-worker MODE TARGET ARGS…`, exit 0 on success, 3 when a held lock was
//! lost, 5 when an invariant broke, 2 on any other error. Modes:
//! - `incr TARGET COUNT`: COUNT times lock, read "COUNT FENCE", check the fence grew, write
//!   COUNT+1 with this fence (an unconditional put: only the lock keeps increments exact).
//! - `hold TARGET TTL`: lock, print `fence=F key=K`, then wait until the lock is lost and
//!   print `lost: REASON` (exit 3).
//! - `cas TARGET COUNT`: COUNT compare-and-swap increments; prints `acked=A unknown=U`
//!   (an engine error leaves the outcome of that increment unknown).
//! - `slot TARGET N COUNT`: COUNT times take one of N slots, count the holders in the
//!   document `NAME-inuse`, and check it never exceeds N; prints `max=M`.

use jlock_etcd::{ConnectOptions, Error, Etcd, LockOptions, Target, Wait};
use std::io::Write;
use std::process::exit;
use std::time::Duration;

fn die(msg: impl std::fmt::Display, code: i32) -> ! {
    eprintln!("worker {}: {msg}", std::process::id());
    exit(code)
}

fn connect(target: &str) -> Etcd {
    let t = Target::parse(target).unwrap_or_else(|e| die(e, 2));
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    };
    Etcd::connect(&t, &opts).unwrap_or_else(|e| die(e, 2))
}

fn num(s: Option<&String>) -> u64 {
    s.and_then(|s| s.parse().ok())
        .unwrap_or_else(|| die("missing or bad number", 2))
}

fn parse_counter(v: Option<&[u8]>) -> (u64, i64) {
    let s = v
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let mut it = s.split_whitespace();
    let n = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let f = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (n, f)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let target = args.get(1).cloned().unwrap_or_else(|| die("no target", 2));
    match mode {
        "incr" => {
            let etcd = connect(&target);
            for _ in 0..num(args.get(2)) {
                let lock = etcd
                    .lock(
                        &LockOptions::new()
                            .ttl(Duration::from_secs(5))
                            .command("incr"),
                    )
                    .unwrap_or_else(|e| die(e, 2));
                let doc = etcd.read().unwrap_or_else(|e| die(e, 2));
                let (n, last_fence) = parse_counter(doc.as_ref().map(|d| d.value.as_slice()));
                if last_fence >= lock.fence() {
                    die(
                        format!("fence went backwards: {last_fence} then {}", lock.fence()),
                        5,
                    );
                }
                etcd.put(format!("{} {}", n + 1, lock.fence()).as_bytes())
                    .unwrap_or_else(|e| die(e, 2));
                lock.release().unwrap_or_else(|e| die(e, 2));
            }
        }
        "hold" => {
            let etcd = connect(&target);
            let ttl = Duration::from_secs(num(args.get(2)));
            let lock = etcd
                .lock(&LockOptions::new().ttl(ttl).command("hold"))
                .unwrap_or_else(|e| die(e, 2));
            println!("fence={} key={}", lock.fence(), lock.key());
            let _ = std::io::stdout().flush();
            // Bounded only so that a bug cannot hang the test that runs this.
            let why = lock.wait_lost(Some(Duration::from_secs(120)));
            println!("lost: {why:?}");
            let _ = std::io::stdout().flush();
            exit(3);
        }
        "cas" => {
            let etcd = connect(&target);
            let (mut acked, mut unknown) = (0u64, 0u64);
            for _ in 0..num(args.get(2)) {
                let r = etcd.update(|v| {
                    let (n, _) = parse_counter(v);
                    Ok::<_, Error>(Some((n + 1).to_string().into_bytes()))
                });
                match r {
                    Ok(_) => acked += 1,
                    Err(Error::Engine { .. }) => {
                        unknown += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => die(e, 2),
                }
            }
            println!("acked={acked} unknown={unknown}");
        }
        "slot" => {
            let etcd = connect(&target);
            let inuse = connect(&format!("{target}-inuse"));
            let n = num(args.get(2));
            let mut max = 0;
            for _ in 0..num(args.get(3)) {
                let slot = etcd
                    .semaphore(n as usize, &LockOptions::new().wait(Wait::Block))
                    .unwrap_or_else(|e| die(e, 2));
                let up = inuse
                    .update(|v| {
                        Ok::<_, Error>(Some((parse_counter(v).0 + 1).to_string().into_bytes()))
                    })
                    .unwrap_or_else(|e| die(e, 2));
                let now = parse_counter(up.value.as_deref()).0;
                max = max.max(now);
                if now > n {
                    die(format!("{now} holders of {n} slots"), 5);
                }
                inuse
                    .update(|v| {
                        Ok::<_, Error>(Some(
                            (parse_counter(v).0.saturating_sub(1))
                                .to_string()
                                .into_bytes(),
                        ))
                    })
                    .unwrap_or_else(|e| die(e, 2));
                slot.release().unwrap_or_else(|e| die(e, 2));
            }
            println!("max={max}");
        }
        _ => die(format!("unknown mode '{mode}'"), 2),
    }
}
