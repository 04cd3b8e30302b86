#!/usr/bin/env python3
"""Per-op cost of `jlock incr`, one process per increment as in a shell loop,
for two jlock binaries side by side.

Usage: python3 docs/bench/startup.py BEFORE AFTER [OPS]

The two binaries alternate op by op (ABBA…), so both see the same machine —
which matters on a shared VM whose load swings from second to second. Each op
is posix_spawn + wait4, as a shell runs a command; measured are the wall time
of the op and the child's own CPU time (user + system, from wait4), and
reported are medians and quartiles. The counter is checked at the end.
"""

import os
import statistics as st
import sys
import tempfile
import time


def main():
    before, after = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ops = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    wall = {before: [], after: []}
    cpu = {before: [], after: []}
    with tempfile.TemporaryDirectory(prefix=".jlock-startup-", dir=".") as d:
        data = os.path.join(d, "c.json")
        with open(data, "w") as f:
            f.write("0\n")
        devnull = os.open(os.devnull, os.O_WRONLY)
        spawn_io = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
        for i in range(ops):
            order = (before, after) if i % 2 == 0 else (after, before)
            for exe in order:
                start = time.perf_counter_ns()
                pid = os.posix_spawn(exe, [exe, "incr", data], os.environ, file_actions=spawn_io)
                _, status, usage = os.wait4(pid, 0)
                wall[exe].append((time.perf_counter_ns() - start) / 1e6)
                cpu[exe].append((usage.ru_utime + usage.ru_stime) * 1e3)
                if status != 0:
                    sys.exit(f"{exe} incr failed: status {status}")
        with open(data) as f:
            count = int(f.read())
        if count != 2 * ops:
            sys.exit(f"count {count}, expected {2 * ops}")

    def q(xs):
        p25, p50, p75 = st.quantiles(xs, n=4)
        return f"{p50:.3f} ms ({p25:.3f} – {p75:.3f})"

    print(f"{ops} ops each, alternating; median (quartiles)")
    for name, exe in (("before", before), ("after", after)):
        print(f"{name:7} wall {q(wall[exe])}   cpu {q(cpu[exe])}   {exe}")
    for what, d in (("wall", wall), ("cpu", cpu)):
        ratio = st.median(d[after]) / st.median(d[before])
        print(f"after/before, {what}: {ratio:.3f}")


if __name__ == "__main__":
    main()
