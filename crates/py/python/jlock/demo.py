"""The lesson jlock grew out of, in Python: ``python -m jlock.demo``.

The tutorial's examples, run for real with ``multiprocessing`` (spawn): processes share
the terminal and the file system, so without a lock their output garbles, the ticket
office oversells and a shared counter loses updates; :class:`jlock.FileLock` and
:class:`jlock.Store` make each one correct. Last, passing messages through a queue
instead of sharing a file. The verdicts are those of ``jlock demo``.

    python -m jlock.demo [print|tickets|counter|queue ...]
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import jlock

CTX = mp.get_context("spawn")
BOUND = 60.0


def _line(text: str) -> None:
    """Prints one line with one write(2), so that lines of processes never mix mid-line."""
    os.write(sys.stdout.fileno(), (text + "\n").encode())


def _say(log: str, line: str) -> None:
    """Prints `line` and records it in `log` (one O_APPEND write: in the order printed)."""
    _line(line)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


# 1. print -----------------------------------------------------------------


def _printer(i: int, log: str, lock_path: str, start: Any) -> None:
    start.wait(timeout=BOUND)
    lock = jlock.FileLock(lock_path) if lock_path else None
    if lock:
        lock.acquire()
    try:
        for step in (1, 2, 3):
            _say(log, f"    process {i}: step {step}")
            if step < 3:
                time.sleep(0.2)
    finally:
        if lock:
            lock.release()


def _run(target: Callable[..., None], args_of: Callable[[int], tuple[Any, ...]], n: int) -> float:
    """Runs `n` processes of `target`, released together; returns the seconds they took."""
    sys.stdout.flush()
    start = CTX.Barrier(n + 1)
    procs = [CTX.Process(target=target, args=args_of(i) + (start,)) for i in range(n)]
    for p in procs:
        p.start()
    start.wait(timeout=BOUND)
    t0 = time.perf_counter()
    for p in procs:
        p.join(timeout=BOUND)
        if p.exitcode != 0:
            raise SystemExit(f"a demo process failed (exit {p.exitcode})")
    return time.perf_counter() - t0


def demo_print(d: str) -> None:
    print("1. print — processes share the terminal")
    print('Each of 3 processes prints "step 1", "step 2", "step 3", pausing 200 ms between lines.')
    took: Dict[str, float] = {}
    for locked in (False, True):
        print("  with the lock:" if locked else "  without a lock:")
        log = os.path.join(d, f"print-{locked}.log")
        lock_path = os.path.join(d, "print.lock") if locked else ""
        took[str(locked)] = _run(_printer, lambda i: (i, log, lock_path), 3)
        owners = [line.split(":")[0] for line in open(log).read().splitlines()]
        whole = all(owners[k] == owners[k - k % 3] for k in range(len(owners)))
        mark = "✓ each process's lines whole" if whole else "✗ lines interleaved (garbled)"
        print(f"  {mark} in {took[str(locked)]:.2f} s (≈ {took[str(locked)] / 0.2:.1f} pauses)")
    ratio = took["True"] / took["False"]
    print(f"  the lock made it {ratio:.1f}× slower: the price of serial work\n")


# 2. tickets ---------------------------------------------------------------


def _buyer(i: int, path: str, locked: bool, results: Any, read_all: Any, start: Any) -> None:
    start.wait(timeout=BOUND)
    with open(path) as f:
        seen = json.load(f)["count"]
    _line(f"    process {i}: searches, sees {seen} ticket(s) left")
    time.sleep(0.05)  # the network
    if locked:
        def buy(doc: Any) -> bool:
            if doc["count"] > 0:
                doc["count"] -= 1
                return True
            return False

        with jlock.Store(path).transaction() as doc:
            bought = buy(doc)
    else:
        with open(path) as f:
            doc = json.load(f)
        read_all.wait(timeout=BOUND)  # every buyer has read before any writes
        bought = doc["count"] > 0
        if bought:
            doc["count"] -= 1
            tmp = f"{path}.{i}.tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f)
            os.replace(tmp, path)  # atomic, and still a lost update
    _line(f"    process {i}: {'bought a ticket' if bought else 'sold out'}")
    results.put(bought)


def demo_tickets(d: str) -> None:
    n = 10
    print("2. tickets — the ticket office")
    print(f"A JSON file holds 1 ticket. Each of {n} processes searches (reads the count), waits")
    print("50 ms for the network, then buys: reads again, takes one if any is left, writes back.")
    for locked in (False, True):
        print("  with the lock:" if locked else "  without a lock:")
        path = os.path.join(d, f"tickets-{locked}.json")
        with open(path, "w") as f:
            json.dump({"count": 1}, f)
        results = CTX.Queue()
        read_all = CTX.Barrier(n)
        took = _run(_buyer, lambda i: (i, path, locked, results, read_all), n)
        sold = sum(bool(results.get(timeout=BOUND)) for _ in range(n))
        if sold == 1:
            print(f"  ✓ sold 1 of 1 in {took:.2f} s")
        else:
            print(f"  ✗ sold {sold} of 1 ({sold - 1} oversold) in {took:.2f} s")
    print()


# 3. counter ---------------------------------------------------------------


def _adder(i: int, path: str, locked: bool, n: int, start: Any) -> None:
    start.wait(timeout=BOUND)
    if locked:
        store = jlock.Store(path)
        for _ in range(n):
            store.incr(".count")
        return
    for k in range(n):
        with open(path) as f:
            doc = json.load(f)
        doc["count"] += 1
        tmp = f"{path}.{i}.tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)


def demo_counter(d: str) -> None:
    procs, n = 4, 200
    total = procs * n
    print("3. counter — sharing data through a file")
    print(f"Each of {procs} processes adds 1 to {{\"count\": …}} in a JSON file, {n} times. Without")
    print("a lock, two processes read the same count and one increment overwrites the other.")
    print("With jlock.Store.incr (the lock `jlock incr` takes) every update counts.")
    took_by: Dict[bool, float] = {}
    for locked in (False, True):
        print("  with the lock:" if locked else "  without a lock:")
        path = os.path.join(d, f"counter-{locked}.json")
        with open(path, "w") as f:
            json.dump({"count": 0}, f)
        took = took_by[locked] = _run(_adder, lambda i: (i, path, locked, n), procs)
        count = jlock.Store(path).get(".count")
        rate = total / took
        if count == total:
            print(f"  ✓ {count} of {total} in {took:.2f} s, {rate:,.0f} ops/s")
        else:
            print(f"  ✗ {count} of {total} ({total - count} lost) in {took:.2f} s, {rate:,.0f} ops/s")
    ratio = took_by[True] / took_by[False]
    if ratio >= 1.1:
        print(f"  with the lock it was {ratio:.1f}× slower")
    elif ratio <= 1 / 1.1:
        print(f"  with the lock it was {1 / ratio:.1f}× faster: the file work is the bottleneck")
    else:
        print("  with the lock it was about as fast: the file work is the bottleneck, not the lock")
    print()


# 4. queue -----------------------------------------------------------------


def _producer(i: int, q: Any, n: int, start: Any) -> None:
    start.wait(timeout=BOUND)
    for _ in range(n):
        q.put(1)
    q.put(None)


def demo_queue(d: str) -> None:
    procs, n = 4, 200
    print("4. queue — passing messages instead of sharing a file")
    print(f"The same {procs} × {n} increments, sent through a multiprocessing.Queue to one")
    print("process that owns the count: no shared file, so no lock and nothing lost.")
    q = CTX.Queue()
    start = CTX.Barrier(procs + 1)
    ps = [CTX.Process(target=_producer, args=(i, q, n, start)) for i in range(procs)]
    for p in ps:
        p.start()
    start.wait(timeout=BOUND)
    t0 = time.perf_counter()
    count, done = 0, 0
    while done < procs:
        m = q.get(timeout=BOUND)
        if m is None:
            done += 1
        else:
            count += m
    took = time.perf_counter() - t0
    for p in ps:
        p.join(timeout=BOUND)
    mark = "✓" if count == procs * n else "✗"
    print(f"  {mark} {count} of {procs * n} in {took:.3f} s, {procs * n / took:,.0f} ops/s\n")


DEMOS: Dict[str, Callable[[str], None]] = {
    "print": demo_print,
    "tickets": demo_tickets,
    "counter": demo_counter,
    "queue": demo_queue,
}


def main(argv: List[str]) -> int:
    names = argv or list(DEMOS)
    unknown = [n for n in names if n not in DEMOS]
    if unknown:
        print(f"unknown demo {unknown[0]!r}; choose from {', '.join(DEMOS)}", file=sys.stderr)
        return 64
    with tempfile.TemporaryDirectory(prefix="jlock-demo-") as d:
        for name in names:
            DEMOS[name](d)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
