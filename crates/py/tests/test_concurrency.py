"""Many processes on one data file: Python (multiprocessing, spawn and fork) and the jlock CLI side by side."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
from pathlib import Path

import pytest

import jlock
from conftest import BOUND

PROCS, INCRS = 8, 200
SHELLS, SHELL_INCRS = 4, 50


def _incr_worker(path: str, durability: str, n: int, start) -> None:
    store = jlock.Store(path, durability=durability)
    start.wait(timeout=BOUND)
    for _ in range(n):
        store.incr(".hits")


@pytest.mark.parametrize(
    "method,durability", [("spawn", "rename"), ("fork", "journal")]
)
def test_python_processes_and_cli_loops_lose_no_update(
    tmp: Path, cli: str, method: str, durability: str
) -> None:
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    ctx = mp.get_context(method)
    path = str(tmp / "hits.json")
    start = ctx.Barrier(PROCS + 1)
    workers = [
        ctx.Process(target=_incr_worker, args=(path, durability, INCRS, start))
        for _ in range(PROCS)
    ]
    for w in workers:
        w.start()
    loop = (
        f'for i in $(seq {SHELL_INCRS}); do '
        f'"$0" incr --durability {durability} "$1" .hits >/dev/null || exit 1; done'
    )
    shells = [subprocess.Popen(["sh", "-c", loop, cli, path]) for _ in range(SHELLS)]
    start.wait(timeout=BOUND)
    try:
        for sh in shells:
            assert sh.wait(timeout=BOUND * 4) == 0
        for w in workers:
            w.join(timeout=BOUND * 4)
            assert w.exitcode == 0
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
        for sh in shells:
            if sh.poll() is None:
                sh.kill()
    expected = PROCS * INCRS + SHELLS * SHELL_INCRS
    assert jlock.Store(path).get(".hits") == expected
    # The CLI reads the same document.
    out = subprocess.run([cli, "get", path, ".hits"], capture_output=True, text=True, timeout=BOUND)
    assert out.stdout.strip() == str(expected)


def _update_worker(path: str, n: int, start) -> None:
    store = jlock.Store(path)
    start.wait(timeout=BOUND)
    for _ in range(n):
        with store.transaction() as doc:
            doc["tickets"] -= 1 if doc["tickets"] > 0 else 0
            doc["log"].append(1)
        store.update(lambda d: {**d, "n": d["n"] + 1})


def test_transactions_and_updates_from_processes(tmp: Path) -> None:
    path = str(tmp / "office.json")
    jlock.Store(path).set(".", {"tickets": 100, "log": [], "n": 0})
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(4)
    workers = [ctx.Process(target=_update_worker, args=(path, 30, start)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=BOUND * 4)
        assert w.exitcode == 0
    doc = jlock.Store(path).get()
    assert doc["tickets"] == 0 and len(doc["log"]) == 120 and doc["n"] == 120
