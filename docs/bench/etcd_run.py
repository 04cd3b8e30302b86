#!/usr/bin/env python3
"""`jlock run etcd://` and `jlock incr etcd://` side by side with their floors and peers,
one process per operation as in a shell loop (issue 20 goal 4).

Usage: python3 docs/bench/etcd_run.py JLOCK FLOOR [ROUNDS] [OPS] [BEFORE]

JLOCK is a jlock built with `--features etcd`; FLOOR is crates/etcd/examples/floor.rs
(`cargo build --release -p jlock-etcd --example floor`: exec + exactly the requests the
operation needs, with etcd's client library straight). Starts its own one-member etcd on
127.0.0.1 (data in a temporary directory, stopped at the end). Each round runs every
workload for OPS operations, in a rotated order, so all see the same machine and server;
reported are the medians over all operations (ms/op) and the ratios of those medians.
Then 1 against 16 concurrent shell loops of `jlock run` and `jlock incr`, and the
counters are checked. BEFORE, another jlock build, joins the rotation as "before run" and
"before incr" (an A/B of the same operations in the same run).

  run:  jlock run T -- true | floor run (LeaseGrant, Txn, `true`, LeaseRevoke) |
        etcdctl lock NAME true
  incr: jlock incr T | floor incr (Txn read, Txn compare-and-swap) |
        etcdctl get + etcdctl txn (compare the value read, put it plus one)
"""

import os
import socket
import statistics as st
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    jlock, floor = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    ops = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    before = os.path.abspath(sys.argv[5]) if len(sys.argv) > 5 else None
    with tempfile.TemporaryDirectory(prefix="jlock-etcd-run-bench-") as d:
        client, peer = free_port(), free_port()
        etcd = subprocess.Popen(
            ["etcd", "--name", "b", "--data-dir", os.path.join(d, "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"b=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run_bench(jlock, floor, client, rounds, ops, before)
        finally:
            etcd.terminate()
            etcd.wait()


def etcdctl(ep, *args, **kw):
    env = dict(os.environ, ETCDCTL_API="3")
    return subprocess.run(["etcdctl", f"--endpoints={ep}", *args], env=env,
                          capture_output=True, text=True, check=True, **kw).stdout


def run_bench(jlock, floor, client, rounds, ops, before):
    ep = f"127.0.0.1:{client}"
    target = f"etcd://{ep}/bench"
    limit = time.monotonic() + 30
    while subprocess.run([jlock, "get", target], capture_output=True).returncode not in (0, 66):
        if time.monotonic() > limit:
            sys.exit("etcd did not come up within 30 s")
        time.sleep(0.1)
    etcdctl(ep, "put", "ctlcount", "0")
    env = dict(os.environ, ETCDCTL_API="3")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    def ctl_incr():
        n = int(etcdctl(ep, "get", "--print-value-only", "ctlcount").strip())
        out = etcdctl(ep, "txn", input=f'value("ctlcount") = "{n}"\n\nput ctlcount {n + 1}\n\n\n')
        assert out.startswith("SUCCESS"), out

    work = {
        "jlock run": lambda: subprocess.run([jlock, "run", target, "--", "true"], **quiet),
        "floor run": lambda: subprocess.run([floor, "run", ep, "floorlock"], **quiet),
        "etcdctl lock": lambda: subprocess.run(
            ["etcdctl", f"--endpoints={ep}", "lock", "ctllock", "true"], env=env, **quiet),
        "jlock incr": lambda: subprocess.run([jlock, "incr", target, ".n"], **quiet),
        "floor incr": lambda: subprocess.run([floor, "incr", ep, "floorcount"], **quiet),
        "etcdctl get+txn": ctl_incr,
    }
    if before:
        work["before run"] = lambda: subprocess.run([before, "run", target, "--", "true"],
                                                    **quiet)
        work["before incr"] = lambda: subprocess.run([before, "incr", target, ".n"], **quiet)
    names = list(work)
    wall = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            for _ in range(ops):
                t0 = time.perf_counter()
                work[name]()
                wall[name].append(time.perf_counter() - t0)
    med = {n: st.median(w) for n, w in wall.items()}
    print(f"one process per op: {rounds} rounds x {ops} ops each; median ms/op (quartiles)")
    for n in names:
        q = st.quantiles(wall[n], n=4)
        print(f"  {n:16} {med[n] * 1e3:7.2f} ({q[0] * 1e3:.2f} - {q[2] * 1e3:.2f})")
    print(f"  jlock run / floor run:          {med['jlock run'] / med['floor run']:.2f}")
    print(f"  etcdctl lock / jlock run:       {med['etcdctl lock'] / med['jlock run']:.2f}")
    print(f"  jlock incr / floor incr:        {med['jlock incr'] / med['floor incr']:.2f}")
    print(f"  etcdctl get+txn / jlock incr:   {med['etcdctl get+txn'] / med['jlock incr']:.2f}")
    if before:
        print(f"  jlock run / before run:         {med['jlock run'] / med['before run']:.2f}")
        print(f"  jlock incr / before incr:       {med['jlock incr'] / med['before incr']:.2f}")

    # 1 against 16 concurrent shell loops.
    each = max(ops // 2, 10)
    counted = rounds * ops * (2 if before else 1)
    rates = {}
    for r in range(rounds):
        for what, cmd in (("run", f'"$J" run {target}.lock -- true'),
                          ("incr", f'"$J" incr -q {target} .n')):
            for procs in ((1, 16) if r % 2 == 0 else (16, 1)):
                loop = f'i=0; while [ $i -lt {each} ]; do {cmd} || exit 1; i=$((i+1)); done'
                t0 = time.perf_counter()
                ps = [subprocess.Popen(["sh", "-c", loop], env=dict(os.environ, J=jlock))
                      for _ in range(procs)]
                assert all(p.wait() == 0 for p in ps)
                rates.setdefault((what, procs), []).append(
                    procs * each / (time.perf_counter() - t0))
                if what == "incr":
                    counted += procs * each
    print(f"1 vs 16 concurrent shell loops, {each} ops each, median of {rounds} (ops/s)")
    for what in ("run", "incr"):
        one, many = st.median(rates[(what, 1)]), st.median(rates[(what, 16)])
        print(f"  jlock {what:5} 1: {one:7.1f}   16: {many:7.1f}   16/1: {many / one:.2f}")
    got = subprocess.run([jlock, "get", target, ".n"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == str(counted), f"counter {got}, expected {counted}"
    n = int(etcdctl(ep, "get", "--print-value-only", "ctlcount").strip())
    assert n == rounds * ops, f"etcdctl counter {n}"


if __name__ == "__main__":
    main()
