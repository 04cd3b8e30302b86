"""The Python package's numbers, side by side in one run (issue 17), in interleaved rounds.

* FileLock acquire+release cycles: jlock.FileLock against py-filelock's FileLock.
* A shared JSON counter: jlock.Store(durability="journal").incr() against what a
  Python user writes with py-filelock (lock, json.load, +1, json.dump, unlock).
* Store.incr() in each durability mode against the Rust store's in-process rate
  for that mode (`jlock bench`'s store:MODE, one process), and the difference:
  what the Python call costs on top.

Needs the jlock package and filelock in the running Python, and the jlock CLI:

    pip install ./crates/py filelock
    cargo build --release
    python docs/bench/py_compare.py --rounds 5 --jlock target/release/jlock

The files go in a temporary directory made under --dir (default: the current
directory, so the numbers are for its file system). Prints medians (min - max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import filelock
import jlock


def lock_cycles(make, path: str, n: int) -> float:
    """Cycles per second of `with lock:` on one lock object (each a real lock and unlock)."""
    lock = make(path)
    with lock:
        pass
    start = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    return n / (time.perf_counter() - start)


def store_incr(path: str, durability: str, n: int) -> float:
    store = jlock.Store(path, durability=durability)
    store.set(".", 0)
    start = time.perf_counter()
    for _ in range(n):
        store.incr()
    seconds = time.perf_counter() - start
    assert store.get() == n, "lost updates"
    return n / seconds


def filelock_json(path: str, n: int) -> float:
    """py-filelock around json.load / json.dump of the file, in place."""
    lock = filelock.FileLock(path + ".lock")
    with open(path, "w") as f:
        json.dump(0, f)
    start = time.perf_counter()
    for _ in range(n):
        with lock:
            with open(path) as f:
                count = json.load(f)
            with open(path, "w") as f:
                json.dump(count + 1, f)
    seconds = time.perf_counter() - start
    with open(path) as f:
        assert json.load(f) == n, "lost updates"
    return n / seconds


def rust_incr(jlock_bin: str, directory: str, durability: str, ops: int) -> float:
    """The Rust store's in-process rate (`jlock bench`, one process, a bare counter)."""
    out = subprocess.run(
        [jlock_bin, "bench", "--dir", directory, "--procs", "1", "--sizes", "counter",
         "--approaches", f"store:{durability}", "--ops", str(ops), "--json", "-q"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    (result,) = json.loads(out.stdout)["results"]
    assert result["correct"]
    return result["ops_per_sec"]


def call_floor(n: int) -> float:
    """Seconds per call of a method of the extension that does nothing but return."""
    lock = jlock._jlock.RawLock("unused")
    start = time.perf_counter()
    for _ in range(n):
        lock.is_locked
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--jlock", default=os.environ.get("JLOCK_BIN", "target/release/jlock"))
    ap.add_argument("--ops", type=int, default=2000, help="ops per measurement (x10 for the fast ones)")
    args = ap.parse_args()
    n = args.ops
    per_mode = {"journal": n * 10, "rename": n, "fsync": max(n // 8, 50)}
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="py-compare-") as d:
        for r in range(args.rounds):
            add("jlock.FileLock cycles/s", lock_cycles(jlock.FileLock, os.path.join(d, "j.lock"), n * 10))
            add("filelock.FileLock cycles/s", lock_cycles(filelock.FileLock, os.path.join(d, "f.lock"), n * 10))
            add("filelock + json.load/dump ops/s", filelock_json(os.path.join(d, "fj.json"), n))
            for mode, ops in per_mode.items():
                add(f"Store.incr {mode} ops/s", store_incr(os.path.join(d, f"{mode}.json"), mode, ops))
                rust_ops = ops // 10 if mode == "journal" else ops  # jlock bench multiplies journal's by 10
                add(f"Rust store {mode} ops/s", rust_incr(args.jlock, d, mode, rust_ops))
            add("call floor us", call_floor(n * 50) * 1e6)
            print(f"round {r + 1}/{args.rounds} done", flush=True)

    def med(name: str) -> float:
        return statistics.median(rows[name])

    print()
    print("| measurement | median | min - max |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {med(name):,.1f} | {min(values):,.1f} - {max(values):,.1f} |")
    print()
    print("| ratio | value |")
    print("|---|---|")
    print(f"| jlock.FileLock / filelock.FileLock cycles | {med('jlock.FileLock cycles/s') / med('filelock.FileLock cycles/s'):.2f}x |")
    print(f"| Store(journal).incr / filelock + json loop | {med('Store.incr journal ops/s') / med('filelock + json.load/dump ops/s'):.1f}x |")
    for mode in per_mode:
        # Per round: the two ran back to back, so the disk's mood is shared.
        py = rows[f"Store.incr {mode} ops/s"]
        rust = rows[f"Rust store {mode} ops/s"]
        slow = [r / p for p, r in zip(py, rust)]  # Python's time per op / Rust's
        extra = [1e6 / p - 1e6 / r for p, r in zip(py, rust)]
        print(f"| Store.incr {mode}: Python time per op / Rust's (per-round median, min - max) | "
              f"{statistics.median(slow):.2f}x ({min(slow):.2f} - {max(slow):.2f}); "
              f"{statistics.median(extra):+.2f} us/op |")
    print(f"| a call of the extension that does nothing | {med('call floor us'):.3f} us |")


if __name__ == "__main__":
    main()
