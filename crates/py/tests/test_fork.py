"""Objects made before a fork, used after it (multiprocessing's fork start method)."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jlock
from conftest import BOUND

if "fork" not in mp.get_all_start_methods():  # pragma: no cover
    pytest.skip("no fork start method", allow_module_level=True)

CTX = mp.get_context("fork")


def _incr_with(store: "jlock.Store", n: int, start) -> None:
    start.wait(timeout=BOUND)
    for _ in range(n):
        store.incr(".n")


def test_a_store_opened_before_fork_still_excludes(tmp: Path) -> None:
    # The children's inherited lock descriptor is the parent's open file
    # description: used as is, flock(2) would let them all in at once.
    store = jlock.Store(tmp / "c.json")
    store.incr(".n")
    start = CTX.Barrier(5)
    kids = [CTX.Process(target=_incr_with, args=(store, 200, start)) for _ in range(4)]
    for k in kids:
        k.start()
    _incr_with(store, 200, start)
    for k in kids:
        k.join(timeout=BOUND * 4)
        assert k.exitcode == 0
    assert store.get(".n") == 1 + 5 * 200


def _count_with(lock: "jlock.FileLock", counter: Path, n: int, start) -> None:
    start.wait(timeout=BOUND)
    for _ in range(n):
        with lock:
            value = int(counter.read_text())  # a read-modify-write only the lock protects
            counter.write_text(str(value + 1))


def test_a_filelock_made_before_fork_still_excludes(tmp: Path) -> None:
    counter = tmp / "n"
    counter.write_text("0")
    lock = jlock.FileLock(tmp / "n.lock")
    with lock:  # opened (and its descriptor kept) before the fork
        pass
    start = CTX.Barrier(5)
    kids = [CTX.Process(target=_count_with, args=(lock, counter, 200, start)) for _ in range(4)]
    for k in kids:
        k.start()
    _count_with(lock, counter, 200, start)
    for k in kids:
        k.join(timeout=BOUND * 4)
        assert k.exitcode == 0
    assert counter.read_text() == str(5 * 200)


def _child_of_a_holder(lock: "jlock.FileLock", path: str, report, go) -> None:
    # The copy of a held lock holds nothing here, and releasing it must not
    # free the parent's lock.
    was = (lock.is_locked, lock.lock_counter)
    lock.release()
    try:
        jlock.FileLock(path).acquire(blocking=False)
        still_held = False
    except jlock.Timeout:
        still_held = True
    report.send((was, still_held))
    go.recv()  # stay alive, with every inherited descriptor, until told


def test_fork_while_holding(tmp: Path) -> None:
    path = str(tmp / "h.lock")
    lock = jlock.FileLock(path)
    lock.acquire()
    report_r, report_w = CTX.Pipe(duplex=False)
    go_r, go_w = CTX.Pipe(duplex=False)
    kid = CTX.Process(target=_child_of_a_holder, args=(lock, path, report_w, go_r))
    kid.start()
    try:
        assert report_r.poll(BOUND)
        assert report_r.recv() == ((False, 0), True)
        assert lock.is_locked
        lock.release()
        # The child still lives with its inherited descriptors, yet another
        # process gets the lock (the child let go of its copy, claim included).
        code = f"import jlock; jlock.FileLock({path!r}).acquire(timeout={BOUND / 3})"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=BOUND)
    finally:
        go_w.send("go")
        kid.join(timeout=BOUND)
    assert kid.exitcode == 0
