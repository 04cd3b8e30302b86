//! Benchmark: lock + increment over etcd on loopback, in-process loops with 1 and 16
//! processes, one process per operation (as the CLI will run), compare-and-swap increments
//! without a lock, and a shell loop of `etcdctl lock` + `etcdctl get`/`put`.
//!
//! `cargo run --release -p jlock-etcd --example bench [-- OPS]` starts its own etcd (one
//! member, data in a temporary directory) and prints one line per workload.

use jlock_etcd::local::LocalEtcd;
use jlock_etcd::{ConnectOptions, Error, Etcd, LockOptions, Target};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn incr(v: Option<&[u8]>) -> Result<Option<Vec<u8>>, Error> {
    let n: u64 = v
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some((n + 1).to_string().into_bytes()))
}

fn connect(target: &str) -> Etcd {
    let t = Target::parse(target).expect("target");
    Etcd::connect(&t, &ConnectOptions::default()).expect("connect")
}

/// One operation of a workload.
fn op(etcd: &Etcd, mode: &str) {
    match mode {
        "lock" => {
            let lock = etcd
                .lock(&LockOptions::new().command("bench"))
                .expect("lock");
            etcd.update_fenced(&lock, incr).expect("update");
            lock.release().expect("release");
        }
        "cas" => {
            etcd.update(incr).expect("update");
        }
        _ => panic!("mode {mode}"),
    }
}

/// Worker: connect, say ready, wait for the start (stdin closes), run `count` operations.
fn worker(mode: &str, target: &str, count: u64) {
    let etcd = connect(target);
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    for _ in 0..count {
        op(&etcd, mode);
    }
}

fn read_count(etcd: &Etcd) -> u64 {
    etcd.read()
        .expect("read")
        .and_then(|d| String::from_utf8(d.value).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `procs` workers of `each` operations; returns operations per second.
fn run(mode: &str, target: &str, procs: usize, each: u64) -> f64 {
    let exe = std::env::current_exe().expect("exe");
    let mut kids: Vec<_> = (0..procs)
        .map(|_| {
            Command::new(&exe)
                .args(["--worker", mode, target, &each.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for k in &mut kids {
        let mut l = String::new();
        BufReader::new(k.stdout.as_mut().expect("stdout"))
            .read_line(&mut l)
            .expect("ready");
    }
    let start = Instant::now();
    for k in &mut kids {
        drop(k.stdin.take()); // start
    }
    for mut k in kids {
        assert!(k.wait().expect("wait").success());
    }
    (procs as u64 * each) as f64 / start.elapsed().as_secs_f64()
}

/// One process per operation, the way `jlock run etcd://…` will run.
fn run_per_process(mode: &str, target: &str, ops: u64) -> f64 {
    let exe = std::env::current_exe().expect("exe");
    let start = Instant::now();
    for _ in 0..ops {
        let ok = Command::new(&exe)
            .args(["--once", mode, target])
            .status()
            .expect("spawn")
            .success();
        assert!(ok);
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn run_etcdctl(endpoints: &str, ops: u64) -> f64 {
    let script = format!(
        r#"export ETCDCTL_API=3 EP={endpoints}
for i in $(seq {ops}); do
  etcdctl --endpoints=$EP lock shellbench -- sh -c 'v=$(etcdctl --endpoints=$EP get --print-value-only shellcount); etcdctl --endpoints=$EP put shellcount $(( ${{v:-0}} + 1 )) >/dev/null'
done"#
    );
    let start = Instant::now();
    let ok = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .status()
        .expect("sh")
        .success();
    assert!(ok, "etcdctl loop failed");
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        let count = args[3].parse().expect("count");
        return worker(&args[1], &args[2], count);
    }
    if args.first().map(String::as_str) == Some("--once") {
        let t0 = Instant::now();
        let etcd = connect(&args[2]);
        let t1 = Instant::now();
        op(&etcd, &args[1]);
        if std::env::var_os("JLOCK_BENCH_TRACE").is_some() {
            eprintln!("connect {:?} op {:?}", t1 - t0, t1.elapsed());
        }
        return;
    }
    let ops: u64 = match args.first() {
        None => 400,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("usage: bench [OPS]   (OPS: operations per workload, default 400)");
            std::process::exit(64)
        }),
    };
    let etcd = LocalEtcd::start(1).unwrap_or_else(|e| panic!("{e}"));
    // Release builds abort on panic without running Drop: stop the server from the hook.
    let pids = etcd.pids();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        for pid in &pids {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        default_hook(info);
    }));
    let line = |what: &str, rate: f64, base: Option<f64>| {
        let vs = base
            .map(|b| format!("  ({:.1}x the etcdctl loop)", rate / b))
            .unwrap_or_default();
        println!(
            "{what:<44} {rate:>9.1} ops/s  {:>7.2} ms/op{vs}",
            1000.0 / rate
        );
    };
    let shell = run_etcdctl(&etcd.endpoints(), (ops / 20).max(10));
    line("etcdctl lock + get + put (shell loop)", shell, None);
    let one = run("lock", &etcd.target("l1"), 1, ops);
    line("lock+incr+release, 1 process", one, Some(shell));
    let sixteen = run("lock", &etcd.target("l16"), 16, (ops / 16).max(5));
    line("lock+incr+release, 16 processes", sixteen, Some(shell));
    println!(
        "{:<44} {:>9.0} %",
        "  16 processes vs 1",
        100.0 * sixteen / one
    );
    let per = run_per_process("lock", &etcd.target("lp"), (ops / 4).max(10));
    line("lock+incr+release, one process per op", per, Some(shell));
    let per = run_per_process("cas", &etcd.target("cp"), (ops / 4).max(10));
    line("CAS incr (no lock), one process per op", per, Some(shell));
    let cas1 = run("cas", &etcd.target("c1"), 1, ops);
    line("CAS incr (no lock), 1 process", cas1, Some(shell));
    let cas16 = run("cas", &etcd.target("c16"), 16, (ops / 16).max(5));
    line("CAS incr (no lock), 16 processes", cas16, Some(shell));
    // The counts are exact.
    for (name, want) in [
        ("l1", ops),
        ("l16", 16 * (ops / 16).max(5)),
        ("c16", 16 * (ops / 16).max(5)),
    ] {
        let got = read_count(&connect(&etcd.target(name)));
        assert_eq!(got, want, "{name}: count {got}, expected {want}");
    }
}
