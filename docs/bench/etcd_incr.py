#!/usr/bin/env python3
"""Per-op cost of `jlock incr etcd://…`, one process per increment as in a
shell loop, for two jlock binaries built with `--features etcd`, side by side.

Usage: python3 docs/bench/etcd_incr.py BEFORE AFTER [OPS]

Starts its own one-member etcd on 127.0.0.1 (data in a temporary directory,
stopped at the end). The binaries alternate op by op (ABBA…) on one key, so
both see the same machine and the same server; reported are the medians and
quartiles of each op's wall time, and the counter is checked at the end.
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
    before, after = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ops = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    with tempfile.TemporaryDirectory(prefix="jlock-etcd-bench-") as d:
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
            target = f"etcd://127.0.0.1:{client}/bench"
            limit = time.monotonic() + 30
            while subprocess.run([before, "get", target], capture_output=True).returncode != 0:
                if time.monotonic() > limit:
                    sys.exit("etcd did not come up within 30 s")
                time.sleep(0.1)
            wall = {before: [], after: []}
            for i in range(ops):
                pair = (before, after) if i % 2 == 0 else (after, before)
                for b in pair:
                    t0 = time.perf_counter()
                    subprocess.run([b, "incr", target], check=True, stdout=subprocess.DEVNULL)
                    wall[b].append(time.perf_counter() - t0)
            got = subprocess.run([after, "get", target], capture_output=True, text=True,
                                 check=True).stdout.strip()
            assert got == str(2 * ops), f"counter {got}, expected {2 * ops}"
        finally:
            etcd.terminate()
            etcd.wait()
    print(f"{ops} ops each, alternating; median (quartiles), ms")
    med = {}
    for name, b in (("before", before), ("after", after)):
        q = st.quantiles(wall[b], n=4)
        med[b] = st.median(wall[b])
        print(f"{name:6}  wall {med[b] * 1e3:.2f} ({q[0] * 1e3:.2f} – {q[2] * 1e3:.2f})   {b}")
    print(f"after/before, wall: {med[after] / med[before]:.3f}")


if __name__ == "__main__":
    main()
