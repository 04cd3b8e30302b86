"""py-filelock's API where jlock.FileLock had gaps: the names and parameters of the newest
py-filelock, is_singleton, mode, thread_local (some tests are py-filelock's own, from
tox-dev/filelock tests/test_filelock.py, with the import swapped), and AsyncFileLock
against flock(1) and other processes, cancelled acquires included."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from stat import filemode
from typing import Any

import pytest

import jlock
from conftest import BOUND, RESTORE_SIGINT, Lines, flock_holder, lock_waiters, python_holder, wait_until
from jlock import AsyncFileLock, FileLock

#: py-filelock names jlock deliberately does not offer (its soft-lock machinery), said in the README.
NOT_OFFERED = {
    "break_lock",  # breaks a soft lock's marker; a flock(2) lock has none to break
    "pid",  # the holder's pid from a soft lock's marker (`jlock status` tells who holds a lock)
}


def test_api_is_a_superset_of_the_installed_filelock() -> None:
    filelock = pytest.importorskip("filelock")
    pairs = [(filelock.FileLock, FileLock)]
    if hasattr(filelock, "AsyncFileLock"):
        pairs.append((filelock.AsyncFileLock, AsyncFileLock))
    for theirs, ours in pairs:
        for method in ("__init__", "acquire", "release"):
            want = inspect.signature(getattr(theirs, method)).parameters
            have = inspect.signature(getattr(ours, method)).parameters
            missing = [n for n in want if n not in have]
            assert not missing, f"{ours.__name__}.{method} lacks {missing}"
            for name, p in want.items():  # same kinds and defaults where both have them
                if p.kind is not p.VAR_KEYWORD and name in have:
                    assert have[name].kind == p.kind, (ours.__name__, method, name)
                    if name not in ("mode",) and p.default is not p.empty:
                        assert have[name].default == p.default, (ours.__name__, method, name)
        public = {n for n in dir(theirs) if not n.startswith("_")}
        assert public - set(dir(ours)) <= NOT_OFFERED, public - set(dir(ours)) - NOT_OFFERED
    for name in ("Timeout", "BaseFileLock", "AcquireReturnProxy", "AsyncFileLock", "SoftFileLock",
                 "UnixFileLock", "AsyncSoftFileLock", "AsyncUnixFileLock", "BaseAsyncFileLock",
                 "AsyncAcquireReturnProxy", "__version__"):
        assert hasattr(jlock, name), name
        if hasattr(filelock, name) and name != "__version__":
            assert name in jlock.__all__ or name == "__version__"


# --- is_singleton (py-filelock's tests) ---


def test_singleton_and_non_singleton_locks_are_distinct(tmp_path: Path) -> None:
    lock_1 = FileLock(str(tmp_path / "a"), is_singleton=False)
    assert lock_1.is_singleton is False
    lock_2 = FileLock(str(tmp_path / "a"), is_singleton=True)
    assert lock_2.is_singleton is True
    assert lock_2 is not lock_1


def test_singleton_locks_are_the_same(tmp_path: Path) -> None:
    lock_1 = FileLock(str(tmp_path / "a"), is_singleton=True)
    assert FileLock(str(tmp_path / "a"), is_singleton=True) is lock_1
    # One file, however it is named.
    assert FileLock(str(tmp_path / "." / "a"), is_singleton=True) is lock_1
    os.symlink(tmp_path / "a", tmp_path / "link")
    assert FileLock(tmp_path / "link", is_singleton=True) is lock_1
    assert FileLock(str(tmp_path / "b"), is_singleton=True) is not lock_1


def test_singleton_locks_must_be_initialized_with_the_same_args(tmp_path: Path) -> None:
    lock_path = tmp_path / "a"
    args: dict[str, Any] = {"timeout": -1, "mode": 0o644, "thread_local": True, "blocking": True, "poll_interval": 0.05}
    alternate_args: dict[str, Any] = {
        "timeout": 10,
        "mode": 0,
        "thread_local": False,
        "blocking": False,
        "poll_interval": 0.1,
    }
    lock = FileLock(str(lock_path), is_singleton=True, **args)
    general_msg = "Singleton lock instances cannot be initialized with differing arguments"
    for arg_name in args:
        altered_args = args.copy()
        altered_args[arg_name] = alternate_args[arg_name]
        with pytest.raises(ValueError, match=general_msg) as exc_info:
            FileLock(str(lock_path), is_singleton=True, **altered_args)
        exc_info.match(arg_name)
    del lock, exc_info


def test_singleton_locks_when_inheriting_init_is_called_once(tmp_path: Path) -> None:
    init_calls = 0

    class MyFileLock(FileLock):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            nonlocal init_calls
            init_calls += 1

    lock1 = MyFileLock(str(tmp_path / "a"), is_singleton=True)
    lock2 = MyFileLock(str(tmp_path / "a"), is_singleton=True)
    assert lock1 is lock2
    assert init_calls == 1
    # Per class: FileLock's singleton for the path is another object.
    assert FileLock(str(tmp_path / "a"), is_singleton=True) is not lock1


def test_singleton_locks_survive_concurrent_first_construction(tmp_path: Path) -> None:
    results: list[FileLock] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait(timeout=BOUND)
        results.append(FileLock(str(tmp_path / "a"), is_singleton=True))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=BOUND)
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_singleton_avoids_deadlock(tmp_path: Path) -> None:
    lock1 = FileLock(tmp_path / "test.lock", is_singleton=True)
    with lock1:
        lock2 = FileLock(tmp_path / "test.lock", is_singleton=True)
        assert lock1 is lock2
        with lock2:
            assert lock2.is_locked and lock2.lock_counter == 2


def test_singletons_go_with_their_last_reference(tmp_path: Path) -> None:
    lock = FileLock(str(tmp_path / "a"), is_singleton=True)
    key = os.path.realpath(tmp_path / "a")
    assert FileLock._instances[key] is lock  # type: ignore[attr-defined]
    del lock
    import gc

    gc.collect()
    assert key not in FileLock._instances  # type: ignore[attr-defined]


# --- mode ---


def test_lock_mode(tmp_path: Path) -> None:
    # py-filelock's test: the mode is the file's, exactly (fchmod), whatever the umask.
    lock_path = tmp_path / "a.lock"
    lock = FileLock(str(lock_path), mode=0o666)
    initial_umask = os.umask(0o022)
    try:
        lock.acquire()
        assert lock.is_locked
        assert filemode(lock_path.stat().st_mode) == "-rw-rw-rw-"
    finally:
        os.umask(initial_umask)
    lock.release()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_mode_honoured_and_unset_mode_follows_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        for mode in (0o600, 0o640, 0o664):
            p = tmp_path / f"m{mode:o}.lock"
            lock = FileLock(p, mode=mode)
            assert lock.mode == mode and lock.has_explicit_mode
            with lock:
                pass
            assert p.stat().st_mode & 0o777 == mode
        # Unset: created 0666 less the umask, as flock(1) and jlock run create it.
        p = tmp_path / "unset.lock"
        lock = FileLock(p)
        assert lock.mode == -1 and not lock.has_explicit_mode
        with lock:
            pass
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask
        # An existing file keeps its own mode.
        q = tmp_path / "existing.lock"
        q.write_text("")
        os.chmod(q, 0o604)
        with FileLock(q, mode=0o600):
            pass
        assert q.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(old)
    with pytest.raises(ValueError):
        FileLock(tmp_path / "x", mode=0o1000)
    with pytest.raises(TypeError):
        FileLock(tmp_path / "x", mode="644")  # type: ignore[arg-type]


def test_lifetime_is_warned_about_and_ignored(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="lifetime is ignored"):
        lock = FileLock(tmp_path / "l.lock", lifetime=1)
    assert lock.lifetime is None
    with pytest.raises(ValueError):
        FileLock(tmp_path / "l.lock", lifetime=-1)


# --- thread_local (py-filelock's tests, then what they imply across threads) ---


def test_threaded_shared_lock_obj(tmp_path: Path) -> None:
    lock = FileLock(str(tmp_path / "a"))

    def thread_work() -> None:
        for _ in range(100):
            with lock:
                assert lock.is_locked

    with ThreadPoolExecutor(max_workers=20) as pool:
        for f in [pool.submit(thread_work) for _ in range(20)]:
            f.result(timeout=BOUND)
    assert not lock.is_locked


def test_threaded_lock_different_lock_obj(tmp_path: Path) -> None:
    lock_1, lock_2 = FileLock(str(tmp_path / "a")), FileLock(str(tmp_path / "a"))

    def t_1() -> None:
        for _ in range(200):
            with lock_1:
                assert lock_1.is_locked
                assert not lock_2.is_locked

    def t_2() -> None:
        for _ in range(200):
            with lock_2:
                assert not lock_1.is_locked
                assert lock_2.is_locked

    with ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(t) for t in (t_1, t_2, t_1, t_2)]:
            f.result(timeout=BOUND)
    assert not lock_1.is_locked and not lock_2.is_locked


def test_lock_can_be_non_thread_local(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "test.lock", thread_local=False)
    for _ in range(2):
        thread = threading.Thread(target=lock.acquire, kwargs={"timeout": 2})
        thread.start()
        thread.join(timeout=BOUND)
    assert lock.lock_counter == 2
    lock.release(force=True)


def test_thread_local_setter_visibility(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock", thread_local=True, poll_interval=0.05)
    lock.poll_interval = 0.5
    observed: list[float] = []
    t = threading.Thread(target=lambda: observed.append(lock.poll_interval))
    t.start()
    t.join(timeout=BOUND)
    assert observed == [pytest.approx(0.05)]


def test_non_thread_local_setter_visibility(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock", thread_local=False, poll_interval=0.05)
    lock.poll_interval = 0.5
    observed: list[float] = []
    t = threading.Thread(target=lambda: observed.append(lock.poll_interval))
    t.start()
    t.join(timeout=BOUND)
    assert observed == [pytest.approx(0.5)]


def test_thread_local_holds_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "tl.lock"
    lock = FileLock(path)
    assert lock.is_thread_local()
    lock.acquire()
    seen: list = []

    def other() -> None:
        seen.append((lock.is_locked, lock.lock_counter))
        try:
            lock.acquire(timeout=0.05)
            seen.append("got it?!")
        except jlock.Timeout:
            seen.append("timeout")
        timed_out.set()
        # Queued in the kernel behind this thread's hold, until it is released.
        lock.acquire(timeout=BOUND)
        seen.append(("held", lock.lock_counter))
        lock.release()

    timed_out = threading.Event()
    t = threading.Thread(target=other)
    t.start()
    assert timed_out.wait(timeout=BOUND)
    wait_until(lambda: os.getpid() in lock_waiters(path), "the other thread to wait")
    assert seen == [(False, 0), "timeout"] and lock.lock_counter == 1
    lock.release()
    t.join(timeout=BOUND)
    assert seen[-1] == ("held", 1) and not lock.is_locked


def test_cancel_check_ends_a_wait(tmp_path: Path) -> None:
    path = tmp_path / "c.lock"
    holder = flock_holder(path)
    asked = []
    try:
        with pytest.raises(jlock.Timeout):
            FileLock(path).acquire(cancel_check=lambda: asked.append(1) or len(asked) >= 3)
        assert len(asked) == 3
    finally:
        holder.stop()
    with FileLock(path, blocking=False):
        pass


# --- AsyncFileLock ---


def test_async_lock_excluded_by_flock_and_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"

    async def attempt(**kwargs: Any) -> None:
        await AsyncFileLock(path).acquire(**kwargs)

    for start in (
        lambda: flock_holder(path),
        lambda: python_holder("jlock", f"jlock.FileLock({str(path)!r})"),
        lambda: python_holder("jlock", f"jlock.FileLock({str(path)!r}, thread_local=False)"),
    ):
        holder = start()
        try:
            with pytest.raises(jlock.Timeout):
                asyncio.run(attempt(timeout=0.1))
            with pytest.raises(jlock.Timeout):
                asyncio.run(attempt(blocking=False))
        finally:
            holder.stop()

    async def use() -> None:
        lock = AsyncFileLock(path, timeout=BOUND)
        async with lock:
            assert lock.is_locked
            # A blocking flock(1) elsewhere waits for it.
            assert subprocess.run(["flock", "-n", str(path), "true"], timeout=BOUND).returncode == 1
            async with lock:
                assert lock.lock_counter == 2
        assert not lock.is_locked
        proxy = await lock.acquire()
        async with proxy as same:
            assert same is lock
        assert not lock.is_locked

    asyncio.run(use())


def test_async_wait_lets_the_loop_run_and_a_cancelled_acquire_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.lock"
    holder = flock_holder(path)

    async def main() -> None:
        lock = AsyncFileLock(path)
        attempted = asyncio.Event()
        ticks = 0

        def note() -> bool:
            attempted.set()
            return False

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        task = asyncio.create_task(lock.acquire(cancel_check=note))
        await asyncio.wait_for(attempted.wait(), BOUND)  # it has tried, and is waiting
        assert ticks > 0 and not task.done()  # the loop runs on while it waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        tick.cancel()
        assert not lock.is_locked and lock.lock_counter == 0
        holder.stop()
        # Nothing of ours holds the file: another process takes it at once.
        assert subprocess.run(["flock", "-n", str(path), "true"], timeout=BOUND).returncode == 0
        async with lock:
            assert lock.is_locked

    try:
        asyncio.run(main())
    finally:
        holder.stop()


def test_async_lock_with_raises(tmp_path: Path) -> None:
    lock = AsyncFileLock(tmp_path / "w.lock")
    assert not lock.is_thread_local()
    with pytest.raises(NotImplementedError):
        with lock:
            pass
    assert isinstance(lock, FileLock) and not lock.is_locked


# --- a lock set interrupted by Ctrl-C holds nothing ---

LOCK_SET_CHILD = """
import sys, jlock
a, b = sys.argv[1], sys.argv[2]
s = jlock.LockSet([a, b])
try:
    print("waiting", flush=True)
    s.acquire()
    print("acquired?!", flush=True)
    sys.exit(1)
except KeyboardInterrupt:
    print("interrupted", s.is_locked, flush=True)
sys.stdin.readline()
# Nothing of this process holds a or b, or queues for them, once the parent lets go.
with jlock.FileLock(a, blocking=False), jlock.FileLock(b, blocking=False):
    print("free", flush=True)
sys.exit(42)
"""


def test_keyboard_interrupt_during_a_lock_set_wait(tmp_path: Path) -> None:
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    held = FileLock(b)
    held.acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", RESTORE_SIGINT + LOCK_SET_CHILD, str(a), str(b)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        lines = Lines(child.stdout)
        assert lines.next() == "waiting"
        wait_until(lambda: child.pid in lock_waiters(b), "the set to wait for b")
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


def test_fork_while_another_thread_holds_a_thread_local_lock(tmp_path: Path) -> None:
    # The child loses the holding thread (and its thread-local hold): whatever it does
    # with the lock object, the parent thread's lock stays held.
    path = tmp_path / "f.lock"
    lock = FileLock(path)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            done.wait(timeout=BOUND)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(timeout=BOUND)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            import gc

            code = 0 if not lock.is_locked else 1
            try:
                lock.acquire(blocking=False)  # the parent's thread holds it
                code = 2
            except jlock.Timeout:
                pass
            del lock
            gc.collect()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert subprocess.run(["flock", "-n", str(path), "true"], timeout=BOUND).returncode == 1
    finally:
        done.set()
        t.join(timeout=BOUND)
    assert subprocess.run(["flock", "-n", str(path), "true"], timeout=BOUND).returncode == 0
