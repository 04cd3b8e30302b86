"""Issue 18 from Python: jlock.LockSet (several locks, all or none, no deadlock) and
Store.push / Store.pop (a work queue in a JSON file), against real processes and the CLI."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import subprocess
import sys
from pathlib import Path

import pytest

import jlock
from conftest import BOUND, Lines, flock_holder, lock_waiters, wait_until

LOCKS, PICK, SET_PROCS, ITERATIONS = 4, 3, 6, 10


def _set_worker(tmp: str, seed: int, start, out) -> None:
    """Takes random permutations of PICK of the LOCKS locks as one set; in the
    critical section, for every lock held, claims a marker (O_EXCL: a second
    holder of that lock finds it: an overlap) and bumps a per-lock counter by a
    read and a write (a lost update without the lock)."""
    rng = random.Random(seed)
    names = [f"{tmp}/l{i}.lock" for i in range(LOCKS)]
    overlaps = 0
    taken = [0] * LOCKS
    start.wait(timeout=BOUND)
    for _ in range(ITERATIONS):
        chosen = rng.sample(range(LOCKS), PICK)  # a random order, too
        with jlock.LockSet([names[i] for i in chosen], timeout=BOUND):
            markers = []
            for i in chosen:
                try:
                    markers.append(os.open(f"{tmp}/held{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    overlaps += 1
            for i in chosen:
                counter = Path(f"{tmp}/count{i}")
                n = int(counter.read_text()) if counter.exists() else 0
                counter.write_text(str(n + 1))
                taken[i] += 1
            for i, fd in zip(chosen, markers):
                os.close(fd)
                os.unlink(f"{tmp}/held{i}")
    out.put((overlaps, taken))


def test_lock_set_processes_never_overlap(tmp: Path) -> None:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(SET_PROCS)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_set_worker, args=(str(tmp), seed, start, out)) for seed in range(SET_PROCS)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=BOUND * 2) for _ in procs]
        for p in procs:
            p.join(timeout=BOUND)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    assert sum(o for o, _ in results) == 0
    # Every lock's counter saw every one of its holders: no lost update.
    for i in range(LOCKS):
        expected = sum(t[i] for _, t in results)
        assert expected > 0
        assert int((tmp / f"count{i}").read_text()) == expected
    assert sum(sum(t) for _, t in results) == SET_PROCS * ITERATIONS * PICK


def test_lock_set_all_or_nothing(tmp: Path) -> None:
    a, b, c = (str(tmp / n) for n in ("a.lock", "b.lock", "c.lock"))
    holder = flock_holder(Path(b))
    try:
        for kwargs in ({"timeout": 0.2}, {"blocking": False}, {"timeout": 0}):
            s = jlock.LockSet([c, b, a], **kwargs)
            with pytest.raises(jlock.Timeout) as info:
                s.acquire()
            assert isinstance(info.value, TimeoutError)
            assert info.value.lock_file == b and not s.is_locked
            # None of the others is held after the failure.
            for free in (a, c):
                with jlock.FileLock(free, blocking=False):
                    pass
    finally:
        holder.stop()
    s = jlock.LockSet([c, b, a, a], timeout=BOUND)  # a named twice is locked once
    with s:
        assert s.is_locked and s.lock_counter == 1
        for busy in (a, b, c):
            with pytest.raises(jlock.Timeout):
                jlock.FileLock(busy, blocking=False).acquire()
        with s:  # re-entrant
            assert s.lock_counter == 2
        assert s.is_locked
    assert not s.is_locked
    with jlock.LockSet([a, b, c], blocking=False):
        pass


def test_lock_set_waits_in_the_kernel_and_shared(tmp: Path) -> None:
    a, b = str(tmp / "a.lock"), str(tmp / "b.lock")
    reader = flock_holder(Path(a), shared=True)
    try:
        # Shared sets go along with a shared holder and with each other...
        with jlock.LockSet([a, b], shared=True, blocking=False) as s1:
            with jlock.LockSet([b, a], shared=True, blocking=False):
                assert s1.shared
            with pytest.raises(jlock.Timeout):
                jlock.LockSet([a, b], timeout=0.1).acquire()
        # ...an exclusive one waits for the reader, queued in the kernel.
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import jlock, sys\n"
                f"with jlock.LockSet([{b!r}, {a!r}], timeout={BOUND}):\n"
                "    print('got', flush=True)\n",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = Lines(child.stdout)
        wait_until(lambda: child.pid in lock_waiters(Path(a)), "the set to wait for a")
    finally:
        reader.stop()
    assert lines.next() == "got"
    assert child.wait(timeout=BOUND) == 0


def test_lock_set_refuses_bad_arguments(tmp: Path) -> None:
    with pytest.raises(TypeError):
        jlock.LockSet(str(tmp / "a.lock"))  # one path, not a list
    with pytest.raises(ValueError):
        jlock.LockSet([])
    with pytest.raises(jlock.UsageError, match="lock files"):
        jlock.LockSet([str(tmp / "a"), "etcd://127.0.0.1:2379/x"])


PRODUCERS, CONSUMERS, PER_PRODUCER = 3, 3, 40
STOP = "stop"


def _producer(path: str, who: int, start) -> None:
    store = jlock.Store(path, timeout=BOUND)
    start.wait(timeout=BOUND)
    for i in range(PER_PRODUCER):
        store.push(".todo", {"from": who, "i": i})


def _consumer(path: str, start, out) -> None:
    store = jlock.Store(path, timeout=BOUND)
    start.wait(timeout=BOUND)
    taken = []
    while True:
        item = store.pop(".todo", timeout=BOUND)
        if item == STOP:
            break
        taken.append((item["from"], item["i"]))
    out.put(taken)


def test_push_pop_each_element_taken_once(tmp: Path) -> None:
    ctx = mp.get_context("spawn")
    path = str(tmp / "q.json")
    start = ctx.Barrier(PRODUCERS + CONSUMERS)
    out = ctx.Queue()
    producers = [ctx.Process(target=_producer, args=(path, w, start)) for w in range(PRODUCERS)]
    consumers = [ctx.Process(target=_consumer, args=(path, start, out)) for _ in range(CONSUMERS)]
    for p in consumers + producers:
        p.start()
    try:
        for p in producers:
            p.join(timeout=BOUND * 2)
            assert p.exitcode == 0
        # Every element is pushed: one STOP per consumer, behind them in the queue.
        jlock.Store(path).push(".todo", *[STOP] * CONSUMERS)
        results = [out.get(timeout=BOUND * 2) for _ in consumers]
        for p in consumers:
            p.join(timeout=BOUND)
            assert p.exitcode == 0
    finally:
        for p in producers + consumers:
            if p.is_alive():
                p.kill()
    taken = [x for r in results for x in r]
    expected = {(w, i) for w in range(PRODUCERS) for i in range(PER_PRODUCER)}
    assert len(taken) == len(expected) and set(taken) == expected
    assert jlock.Store(path).get(".todo") == []


def test_pop_waits_for_the_cli_push_and_the_cli_pops_a_python_push(tmp: Path, cli: str) -> None:
    path = str(tmp / "q.json")
    jlock.Store(path).set(".todo", [])
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import jlock, json\n"
            f"s = jlock.Store({path!r})\n"
            "print('ready', flush=True)\n"
            f"print(json.dumps(s.pop('.todo', timeout={BOUND}, to='.doing')), flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = Lines(child.stdout)
    try:
        assert lines.next() == "ready"
        # Waiting, asleep in poll(2) on its inotify watch (not reading the file).
        wait_until(lambda: "poll" in _wchan(child.pid), "pop to sleep in poll(2)")
        subprocess.run([cli, "push", path, ".todo", '{"job": 1}', "2.50"], check=True, timeout=BOUND)
        assert lines.next() == '{"job": 1}'
        assert child.wait(timeout=BOUND) == 0
    finally:
        if child.poll() is None:
            child.kill()
    store = jlock.Store(path)
    assert store.get() == {"todo": [2.5], "doing": [{"job": 1}]}
    store.push(".todo", 3)
    got = subprocess.run([cli, "pop", path, ".todo"], capture_output=True, text=True, timeout=BOUND)
    assert (got.returncode, got.stdout) == (0, "2.50\n")  # the spelling kept
    assert store.pop(".todo", timeout=0) == 3
    empty = subprocess.run([cli, "pop", "-n", path, ".todo"], capture_output=True, text=True, timeout=BOUND)
    assert empty.returncode == 1  # the CLI's empty, as Python's Empty


def _wchan(pid: int) -> str:
    """What the process's threads sleep in (any thread's wchan, joined)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                out.append(f.read())
        except OSError:
            pass
    return " ".join(out)


def test_pop_empty_and_bad_input_write_nothing(tmp: Path) -> None:
    path = tmp / "q.json"
    store = jlock.Store(path)
    for timeout in (0, 0.05):
        with pytest.raises(jlock.Empty) as info:
            store.pop(".todo", timeout=timeout)
        e = info.value
        assert isinstance(e, queue.Empty) and isinstance(e, jlock.Error)
        assert e.path == str(path) and e.queue == ".todo"
    assert not path.exists()
    path.write_text('{"todo": {"not": "an array"}, "n": 1E2}\n')
    before = path.read_bytes()
    for call in (
        lambda: store.push(".todo", 1),
        lambda: store.pop(".todo", timeout=0),
        lambda: store.pop(".todo", timeout=BOUND),  # no waiting on a non-array
        lambda: store.pop(".n", timeout=0),
    ):
        with pytest.raises(jlock.WrongTypeError) as bad:
            call()
        assert isinstance(bad.value, TypeError) and str(path) in str(bad.value)
    store.set(".todo", ["a"])
    before = path.read_bytes()
    with pytest.raises(jlock.WrongTypeError):
        store.pop(".todo", timeout=0, to=".n")  # the in-progress list is a number
    assert path.read_bytes() == before
    with pytest.raises(jlock.UsageError, match="queue itself"):
        store.pop(".todo", to=".todo")
    with pytest.raises(jlock.BadPathError):
        store.push("..x", 1)
    assert path.read_bytes() == before
    # A missing or null queue is pushed onto as [].
    assert store.push(".new", 1, 2) == 2 and store.push(".todo", "b") == 2
    assert store.pop(".todo", to="/doing") == "a"
    assert store.get() == {"todo": ["b"], "n": 1e2, "new": [1, 2], "doing": ["a"]}
    assert '"n": 1E2' in path.read_text()  # untouched bytes stay
