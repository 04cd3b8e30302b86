"""JOBS processes each add 1 to one JSON counter TIMES times with jlock.Store.incr,
beside any `jlock incr` on the same file; then check that not one increment was lost.

    python examples/python/counter.py [JOBS] [TIMES]      (defaults: 8 100)

The Python twin of examples/counter.sh (needs `pip install ./crates/py`).
"""

import multiprocessing as mp
import os
import sys
import tempfile
import time

import jlock


def work(path: str, times: int) -> None:
    store = jlock.Store(path)
    for _ in range(times):
        store.incr(".hits")


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    times = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hits.json")
        start = time.perf_counter()
        procs = [mp.Process(target=work, args=(path, times)) for _ in range(jobs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - start
        total = jlock.Store(path).get(".hits", default=0)
    expected = jobs * times
    print(f"jlock.Store.incr: {total} of {expected} in {seconds:.2f} s")
    return 0 if total == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
