"""jlock.FileLock, ReadWriteLock and Semaphore against real processes and other lock tools."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import jlock
from conftest import BOUND, RESTORE_SIGINT, Lines, flock_holder, lock_waiters, python_holder, require, wait_until


def test_reentrant_and_lock_counter(tmp: Path) -> None:
    lock = jlock.FileLock(tmp / "a.lock")
    assert (lock.is_locked, lock.lock_counter) == (False, 0)
    lock.acquire()
    lock.acquire()
    assert (lock.is_locked, lock.lock_counter) == (True, 2)
    # Another object on the same path is excluded, even in this process.
    with pytest.raises(jlock.Timeout):
        jlock.FileLock(tmp / "a.lock").acquire(blocking=False)
    lock.release()
    assert (lock.is_locked, lock.lock_counter) == (True, 1)
    with pytest.raises(jlock.Timeout):
        jlock.FileLock(tmp / "a.lock", timeout=0).acquire()
    lock.release()
    assert (lock.is_locked, lock.lock_counter) == (False, 0)
    with jlock.FileLock(tmp / "a.lock", blocking=False) as other:
        assert other.is_locked
    lock.acquire()
    lock.acquire()
    lock.release(force=True)
    assert lock.lock_counter == 0
    assert os.path.exists(tmp / "a.lock")  # never deleted


def test_timeout_error_is_filelocks(tmp: Path) -> None:
    path = str(tmp / "t.lock")
    with jlock.FileLock(path):
        with pytest.raises(jlock.Timeout) as info:
            jlock.FileLock(path, timeout=0.05).acquire()
    e = info.value
    assert isinstance(e, TimeoutError) and isinstance(e, jlock.Error)
    assert e.lock_file == path
    assert str(e) == f"The file lock '{path}' could not be acquired."


def test_acquire_proxy_and_properties(tmp: Path) -> None:
    lock = jlock.FileLock(tmp / "p.lock", timeout=3)
    assert lock.timeout == 3 and lock.blocking and lock.lock_file == str(tmp / "p.lock")
    lock.timeout = 1.5
    assert lock.timeout == 1.5
    with lock.acquire(timeout=1) as same:
        assert same is lock and lock.is_locked
    assert not lock.is_locked
    assert jlock.UnixFileLock is jlock.FileLock and jlock.SoftFileLock is jlock.FileLock


def test_flock1_holds_then_timeout_then_free(tmp: Path) -> None:
    path = tmp / "f.lock"
    holder = flock_holder(path)
    try:
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(timeout=0.2)
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(blocking=False)
    finally:
        holder.stop()
    with jlock.FileLock(path, timeout=BOUND):
        # And flock(1) is excluded by us.
        r = subprocess.run([require("flock"), "-n", str(path), "true"], timeout=BOUND)
        assert r.returncode == 1


def test_py_filelock_interop_both_ways(tmp: Path) -> None:
    filelock = pytest.importorskip("filelock")
    path = str(tmp / "pf.lock")
    theirs = filelock.FileLock(path)
    with theirs:
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(timeout=0.1)
    with jlock.FileLock(path):
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(path, timeout=0.1).acquire()
    # Across processes too.
    holder = python_holder("filelock", f"filelock.FileLock({path!r})")
    try:
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(blocking=False)
    finally:
        holder.stop()
    holder = python_holder("jlock", f"jlock.FileLock({path!r})")
    try:
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(path, timeout=0).acquire()
    finally:
        holder.stop()
    with jlock.FileLock(path, timeout=BOUND):
        pass


def test_jlock_run_excludes_filelock(tmp: Path, cli: str) -> None:
    path = tmp / "run.lock"
    with jlock.FileLock(path):
        r = subprocess.run([cli, "run", "-n", str(path), "--", "true"], timeout=BOUND)
        assert r.returncode != 0
    holder = jlock_run_holder(cli, path)
    try:
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(blocking=False)
    finally:
        holder.stop()


def jlock_run_holder(cli: str, path: Path):
    from conftest import Holder

    return Holder(
        [cli, "run", str(path), "-c", f"echo held; timeout {int(BOUND)} cat >/dev/null || true"]
    ).start()


def test_kill_9_frees_the_lock(tmp: Path) -> None:
    path = tmp / "k.lock"
    holder = python_holder("jlock", f"jlock.FileLock({str(path)!r})")
    try:
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(path).acquire(blocking=False)
        holder.proc.kill()  # SIGKILL
        assert holder.proc.wait(timeout=BOUND) == -signal.SIGKILL
        with jlock.FileLock(path, timeout=BOUND) as lock:
            assert lock.is_locked
    finally:
        holder.stop()


def test_shared_and_exclusive(tmp: Path) -> None:
    path = tmp / "rw.lock"
    a, b, w = jlock.ReadWriteLock(path), jlock.ReadWriteLock(path), jlock.ReadWriteLock(path)
    with a.read_lock(), b.read_lock():  # readers together
        assert a.mode == "read" and b.is_locked
        with pytest.raises(jlock.Timeout):
            with w.write_lock(timeout=0.1):
                pass
        # A shared flock(1) joins the readers; an exclusive one cannot.
        flock = require("flock")
        assert subprocess.run([flock, "-s", "-n", str(path), "true"], timeout=BOUND).returncode == 0
        assert subprocess.run([flock, "-x", "-n", str(path), "true"], timeout=BOUND).returncode == 1
    with w.write_lock():
        with w.write_lock():  # re-entrant
            assert w.lock_counter == 2
        with pytest.raises(RuntimeError):
            with w.read_lock():  # no downgrade
                pass
        with pytest.raises(jlock.Timeout):
            with a.read_lock(blocking=False):
                pass
    assert not w.is_locked
    holder = flock_holder(path, shared=True)
    try:
        with a.read_lock(timeout=BOUND):
            pass
        with pytest.raises(jlock.Timeout):
            with w.write_lock(timeout=0.1):
                pass
    finally:
        holder.stop()


def _semaphore_worker(base: str, slots: int, log: str, rounds: int, start: "mp.synchronize.Barrier") -> None:
    start.wait(timeout=BOUND)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for _ in range(rounds):
            with jlock.Semaphore(base, slots, timeout=BOUND) as sem:
                os.write(fd, f"+ {os.getpid()} {sem.slot}\n".encode())
                os.sched_yield()
                os.write(fd, f"- {os.getpid()} {sem.slot}\n".encode())
    finally:
        os.close(fd)


def test_semaphore_never_admits_more_than_n(tmp: Path) -> None:
    ctx = mp.get_context("spawn")
    base, log, slots, procs = str(tmp / "sem"), str(tmp / "events"), 2, 6
    start = ctx.Barrier(procs)
    workers = [
        ctx.Process(target=_semaphore_worker, args=(base, slots, log, 25, start))
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=BOUND * 2)
        assert w.exitcode == 0, w.exitcode
    inside: dict[int, int] = {}
    most = 0
    events = Path(log).read_text().splitlines()
    assert len(events) == procs * 25 * 2
    for line in events:
        kind, pid, slot = line.split()
        if kind == "+":
            assert int(slot) not in inside.values(), f"slot {slot} held twice"
            inside[int(pid)] = int(slot)
        else:
            assert inside.pop(int(pid)) == int(slot)
        most = max(most, len(inside))
    assert 1 <= most <= slots
    assert not inside


def test_semaphore_timeout_and_slots(tmp: Path) -> None:
    base = tmp / "s"
    one, two, three = (jlock.Semaphore(base, 2) for _ in range(3))
    with one, two:
        assert {one.slot, two.slot} == {0, 1}
        with pytest.raises(jlock.Timeout) as info:
            three.acquire(timeout=0.1)
        assert info.value.lock_file.endswith("s.slot*")
        with pytest.raises(RuntimeError):
            one.acquire()  # one object, one slot
    with three:
        assert three.is_locked
    with pytest.raises(ValueError):
        jlock.Semaphore(base, 0)


KEYBOARD_CHILD = """
import sys, jlock
path = sys.argv[1]
lock = jlock.FileLock(path)
try:
    print("waiting", flush=True)
    lock.acquire()
    print("acquired?!", flush=True)
    sys.exit(1)
except KeyboardInterrupt:
    print("interrupted", lock.is_locked, flush=True)
# Nothing of this process holds or queues for the lock any more: once the
# parent lets go, a fresh lock gets it.
sys.stdin.readline()
with jlock.FileLock(path, timeout={bound}):
    print("free", flush=True)
sys.exit(42)
"""


def test_keyboard_interrupt_during_a_wait(tmp: Path) -> None:
    path = tmp / "ki.lock"
    held = jlock.FileLock(path)
    held.acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", RESTORE_SIGINT + KEYBOARD_CHILD.format(bound=BOUND), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        lines = Lines(child.stdout)
        assert lines.next() == "waiting"
        # The child is queued in the kernel for our lock: then interrupt it.
        wait_until(lambda: child.pid in lock_waiters(path), "the child to wait for the lock")
        child.send_signal(signal.SIGINT)
        assert lines.next().split() == ["interrupted", "False"]
        held.release()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert lines.next() == "free"
        assert child.wait(timeout=BOUND) == 42
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=BOUND)
        held.release()
    with jlock.FileLock(path, blocking=False):
        pass


def test_the_gil_is_released_while_waiting(tmp: Path) -> None:
    path = tmp / "gil.lock"
    holder = flock_holder(path)  # frees itself after BOUND seconds at most
    got = threading.Event()
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            with jlock.FileLock(path, timeout=BOUND * 2):
                got.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    try:
        wait_until(lambda: os.getpid() in lock_waiters(path), "the thread to wait for the lock")
        # This thread runs Python code while the other one waits...
        n = 0
        for _ in range(200_000):
            n += 1
        assert n == 200_000
        # ...and it is still waiting: the holder has not let go.
        assert t.is_alive() and not got.is_set()
    finally:
        holder.stop()
        t.join(timeout=BOUND)
    assert got.is_set(), errors
    assert not t.is_alive()


def test_one_object_shared_by_threads(tmp: Path) -> None:
    # thread_local=False: one FileLock object is one hold: a second thread's acquire
    # waits for the first thread's (within its timeout) and then counts on that hold.
    path = tmp / "th.lock"
    holder = flock_holder(path)
    lock = jlock.FileLock(path, timeout=BOUND, thread_local=False)
    assert not lock.is_thread_local()
    results: list = []
    entered = threading.Event()

    def first() -> None:
        entered.set()
        lock.acquire()
        results.append("first")

    def second() -> None:
        try:
            lock.acquire(timeout=0.1)
            results.append("second")
        except jlock.Timeout:
            results.append("second timed out")

    a = threading.Thread(target=first)
    a.start()
    try:
        entered.wait(timeout=BOUND)
        wait_until(lambda: os.getpid() in lock_waiters(path), "the first thread to wait")
        b = threading.Thread(target=second)
        b.start()
        b.join(timeout=BOUND)
        assert results == ["second timed out"]
    finally:
        holder.stop()
        a.join(timeout=BOUND)
    assert results == ["second timed out", "first"] and lock.lock_counter == 1
    b = threading.Thread(target=second)
    b.start()
    b.join(timeout=BOUND)
    assert results[-1] == "second" and lock.lock_counter == 2
    lock.release(force=True)
    assert not lock.is_locked


LEAVES_NOTHING_CHILD = """
import sys, jlock
path = sys.argv[1]
try:
    print("waiting", flush=True)
    jlock.FileLock(path).acquire()
    sys.exit(1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
sys.stdin.readline()
try:
    jlock.FileLock(path, timeout=0.2).acquire()
    sys.exit(2)
except jlock.Timeout:
    print("timed out", flush=True)
sys.stdin.readline()
"""


def test_interrupt_and_timeout_leave_no_waiter_queued(tmp: Path) -> None:
    """Issue 17: after KeyboardInterrupt, and after a Timeout, the process
    that waited has no blocked (``->``) entry left in /proc/locks, while the
    lock is still held (its helper thread was woken out of flock(2))."""
    path = tmp / "gone.lock"
    held = jlock.FileLock(path)
    held.acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", RESTORE_SIGINT + LEAVES_NOTHING_CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        lines = Lines(child.stdout)
        assert lines.next() == "waiting"
        wait_until(lambda: child.pid in lock_waiters(path), "the child to wait for the lock")
        child.send_signal(signal.SIGINT)
        assert lines.next() == "interrupted"
        assert child.pid not in lock_waiters(path)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert lines.next() == "timed out"
        assert child.pid not in lock_waiters(path)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=BOUND) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=BOUND)
        held.release()
