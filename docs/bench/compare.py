#!/usr/bin/env python3
"""Side-by-side numbers for docs/BENCHMARKS.md, all from one run.

Runs, in interleaved rounds on one file system, and reports medians:
  * the C floors (docs/bench/floor.c): rename, rename + fsync, in-place pwrite;
  * jlock's store in every durability mode, and its pipe queue (`jlock bench`);
  * Python filelock + json + os.replace, and multiprocessing.Queue;
  * shell loops: `jlock incr`, `flock` + `sh`, `flock` + `jq`, per operation.

    python3 docs/bench/compare.py [--rounds 5] [--dir DIR] [--ops 2000] [--loop 200]

Needs cargo, cc, python3 (it makes a venv with filelock under target/bench/),
flock(1), and jq for the jq loop. Prints Markdown.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "target", "bench")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def build():
    os.makedirs(BENCH, exist_ok=True)
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    host = [l.split()[1] for l in sh(["rustc", "-vV"]).splitlines() if l.startswith("host:")][0]
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static")
    sh(["cargo", "build", "--release", "--quiet", "--target", host,
        "--target-dir", os.path.join(ROOT, "target", "static")], cwd=ROOT, env=env)
    floor = os.path.join(BENCH, "floor")
    sh(["cc", "-O2", "-o", floor, os.path.join(ROOT, "docs", "bench", "floor.c")])
    venv = os.path.join(BENCH, "venv")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        sh([sys.executable, "-m", "venv", venv])
        sh([os.path.join(venv, "bin", "pip"), "install", "--quiet", "filelock"])
    return {
        "jlock": os.path.join(ROOT, "target", "release", "jlock"),
        "jlock_static": os.path.join(ROOT, "target", "static", host, "release", "jlock"),
        "floor": floor,
        "python": os.path.join(venv, "bin", "python"),
    }


def fresh(parent, name):
    d = os.path.join(parent, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def jlock_bench(tools, work, approaches, procs, sizes, ops):
    out = sh([tools["jlock"], "bench", "--json", "--dir", fresh(work, "jb"),
              "--approaches", approaches, "--procs", procs, "--sizes", sizes, "--ops", str(ops)])
    rows = json.loads(out)["results"]
    assert all(r["correct"] for r in rows), rows
    return rows


def shell_loop(body, cwd, n):
    """Microseconds per iteration of `body` in a bash loop of n iterations."""
    script = f'start=$(date +%s%N); for i in $(seq {n}); do {body}; done; echo $(( ($(date +%s%N) - start) / 1000 / {n} ))'
    return float(sh(["bash", "-c", script], cwd=cwd).strip())


def one_round(tools, work, ops, loop):
    r = {}
    for mode in ("rename", "fsync", "pwrite"):
        r[f"c:{mode}"] = float(sh([tools["floor"], mode, fresh(work, "floor"), str(ops)]).split()[3])
    for row in jlock_bench(tools, work, "store:journal,store:rename,store:fsync,queue", "1", "counter", ops):
        r[row["approach"]] = row["ops_per_sec"]
    for row in jlock_bench(tools, work, "store:journal,store:rename", "16", "counter", ops):
        r[row["approach"] + "@16"] = row["ops_per_sec"]
    for row in jlock_bench(tools, work, "store:journal,store:rename,store:fsync", "1", "1m", 64):
        r[row["approach"] + "@1m"] = row["ops_per_sec"]
    r["py:filelock"] = float(sh([tools["python"], os.path.join(ROOT, "docs/bench/filelock_counter.py"),
                                 fresh(work, "py"), str(ops)]).split()[2])
    r["py:queue"] = float(sh([tools["python"], os.path.join(ROOT, "docs/bench/mp_queue.py"),
                              str(ops * 50)]).split()[2])
    d = fresh(work, "loops")
    with open(os.path.join(d, "c"), "w") as f:
        f.write("0\n")
    with open(os.path.join(d, "db.json"), "w") as f:
        f.write('{"count": 0}\n')
    r["loop:jlock"] = shell_loop(f'"{tools["jlock"]}" incr j.json >/dev/null', d, loop)
    r["loop:jlock-static"] = shell_loop(f'"{tools["jlock_static"]}" incr s.json >/dev/null', d, loop)
    r["loop:flock-sh"] = shell_loop("flock c.lock sh -c 'n=$(cat c); echo $((n + 1)) > c'", d, loop)
    if shutil.which("jq"):
        r["loop:flock-jq"] = shell_loop(
            "flock db.lock sh -c 'jq \".count += 1\" db.json > t && mv t db.json'", d, loop)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--loop", type=int, default=200)
    args = ap.parse_args()
    tools = build()
    work = tempfile.mkdtemp(prefix=".jlock-compare-", dir=args.dir)
    try:
        rounds = []
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", file=sys.stderr)
            rounds.append(one_round(tools, work, args.ops, args.loop))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in rounds if k in r) for k in rounds[0]}
    spread = {k: (min(r[k] for r in rounds), max(r[k] for r in rounds)) for k in rounds[0]}

    def row(name, key, unit="ops/s"):
        lo, hi = spread[key]
        if unit == "ops/s":
            return f"| {name} | {med[key]:,.0f} | {lo:,.0f} – {hi:,.0f} |"
        return f"| {name} | {med[key] / 1000:.2f} ms | {lo / 1000:.2f} – {hi / 1000:.2f} ms |"

    print(f"Medians of {args.rounds} interleaved rounds, {args.ops} ops per measurement, "
          f"file system of {os.path.abspath(args.dir)}.\n")
    print("| one op = lock, read counter, +1, write back, unlock (1 process) | ops/s (median) | min – max |")
    print("|---|---|---|")
    for name, key in [
        ("C floor: flock, read, write temp, rename", "c:rename"),
        ("C floor: the same + fdatasync + fsync(dir)", "c:fsync"),
        ("C floor: flock, pread, pwrite in place", "c:pwrite"),
        ("jlock store, `rename` (default)", "store:rename"),
        ("jlock store, `fsync` (`--durable`)", "store:fsync"),
        ("jlock store, `journal` (fast)", "store:journal"),
        ("Python filelock + json + os.replace", "py:filelock"),
        ("jlock queue: messages through a pipe (1 producer)", "queue"),
        ("Python multiprocessing.Queue, 4 producers", "py:queue"),
    ]:
        print(row(name, key))
    print("\n| shell loop, per op | time (median) | min – max |")
    print("|---|---|---|")
    for name, key in [
        ("`jlock incr c.json`", "loop:jlock"),
        ("`jlock incr c.json`, static build", "loop:jlock-static"),
        ("`flock c.lock sh -c 'n=$(cat c); echo $((n+1)) > c'`", "loop:flock-sh"),
        ("`flock db.lock sh -c 'jq .count+=1 db.json > t && mv t db.json'`", "loop:flock-jq"),
    ]:
        if key in med:
            print(row(name, key, unit="us"))
    print("\n| 1 MB document, 1 process | ms per update (median) |")
    print("|---|---|")
    for mode in ("journal", "rename", "fsync"):
        print(f"| store:{mode} | {1000 / med[f'store:{mode}@1m']:.2f} |")

    def ratio(a, b):
        # Paired: each round's ratio, then the median, so that a slow
        # moment of the machine affects both sides of a ratio alike.
        return statistics.median(r[a] / r[b] for r in rounds if a in r and b in r)

    print("\n| target (ratios: median of the per-round ratios) | reached |")
    print("|---|---|")
    print(f"| default mode ≥ 90% of the C rename floor | {ratio('store:rename', 'c:rename'):.0%} |")
    print(f"| default mode ≥ 2.5× Python filelock | {ratio('store:rename', 'py:filelock'):.2f}× |")
    print(f"| fast mode ≥ 50,000 ops/s | {med['store:journal']:,.0f} ops/s |")
    print(f"| fast mode ≥ 25× Python filelock | {ratio('store:journal', 'py:filelock'):.0f}× |")
    print(f"| fsync mode ≥ 90% of the C fsync floor | {ratio('store:fsync', 'c:fsync'):.0%} |")
    print(f"| `jlock incr` loop ≤ 0.4× the flock+sh loop | {ratio('loop:jlock', 'loop:flock-sh'):.2f}× "
          f"(static build {ratio('loop:jlock-static', 'loop:flock-sh'):.2f}×) |")
    if "loop:flock-jq" in med:
        print(f"| `jlock incr` loop ≤ 0.1× the jq loop | {ratio('loop:jlock', 'loop:flock-jq'):.2f}× |")
    print(f"| 16 processes keep ≥ 80% of 1 process (rename) | {ratio('store:rename@16', 'store:rename'):.0%} |")
    print(f"| 16 processes keep ≥ 80% of 1 process (journal) | {ratio('store:journal@16', 'store:journal'):.0%} |")
    print(f"| a 1 MB document updates in ≤ 10 ms (rename) | {1000 / med['store:rename@1m']:.2f} ms |")


if __name__ == "__main__":
    main()
