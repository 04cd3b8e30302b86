"""etcd:// targets (a package built with etcd), against a real etcd server on 127.0.0.1.

The server is started by a fixture (free ports, a temporary data directory), as
jlock-etcd's Rust tests start theirs (crates/etcd/src/local.rs). The tests are
skipped, saying why, when the package was built without etcd or etcd is not
installed — unless JLOCK_REQUIRE_ETCD=1 (CI: .ci/py-etcd-test), which makes that a
failure. Every wait is bounded; handshakes are lines a child prints, or etcd's own
state (the lock queue's keys), never a sleep.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest

import jlock
from conftest import BOUND, Lines, jlock_bin, wait_until

REQUIRE = os.environ.get("JLOCK_REQUIRE_ETCD") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}, and JLOCK_REQUIRE_ETCD=1")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One etcd member on 127.0.0.1."""

    def __init__(self, port: int, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
        self.port = port
        self.proc = proc

    def target(self, name: str) -> str:
        return f"etcd://127.0.0.1:{self.port}/{name}"

    def etcdctl(self, *args: str) -> str:
        out = subprocess.run(
            ["etcdctl", f"--endpoints=127.0.0.1:{self.port}", *args],
            env={**os.environ, "ETCDCTL_API": "3"},
            capture_output=True,
            text=True,
            timeout=BOUND,
        )
        assert out.returncode == 0, f"etcdctl {args}: {out.stderr}"
        return out.stdout

    def keys(self, prefix: str) -> list[str]:
        return self.etcdctl("get", "--prefix", "--keys-only", prefix).split()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not jlock.HAS_ETCD:
        skip_or_fail(
            "the jlock package was built without etcd "
            "(pip install ./crates/py --config-settings=build-args=--features=etcd)"
        )
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        skip_or_fail("etcd or etcdctl is not installed (bash .ci/etcd-setup.sh)")
    d = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    with open(d / "etcd.log", "w") as log:
        proc = subprocess.Popen(
            [
                "etcd", "--name", "m0", "--data-dir", str(d / "m0"),
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=m0=http://127.0.0.1:{peer}",
                "--initial-cluster-token=jlock-py", "--initial-cluster-state=new",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )
    cluster = Cluster(client, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            ok = subprocess.run(
                ["etcdctl", f"--endpoints=127.0.0.1:{client}", "endpoint", "health"],
                env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True, timeout=BOUND,
            ).returncode == 0
            if ok:
                break
            assert proc.poll() is None, (d / "etcd.log").read_text()
            assert time.monotonic() < deadline, "etcd not healthy in 60 s"
            time.sleep(0.1)  # polling a server's readiness: nothing to wait on instead
        yield cluster
    finally:
        proc.kill()
        proc.wait(timeout=BOUND)


@pytest.fixture
def name() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def etcd_cli(etcd: Cluster) -> str:
    """The jlock CLI, built with etcd (CI builds it with --features etcd-tls)."""
    path = jlock_bin()
    if not path or not os.access(path, os.X_OK):
        skip_or_fail("no jlock CLI (set JLOCK_BIN to a jlock built with --features etcd)")
    probe = subprocess.run(
        [path, "get", etcd.target("probe")], capture_output=True, text=True, timeout=BOUND
    )
    if "not supported by this jlock build" in probe.stderr:
        skip_or_fail(f"{path} was built without etcd (cargo build --features etcd)")
    return path


# --- the store ---------------------------------------------------------------


def test_store_operations(etcd: Cluster, name: str) -> None:
    store = jlock.Store(etcd.target(name))
    assert store.path == etcd.target(name) and store.lock_file is None
    assert store.get(".missing", default=[]) == []
    store.set(".jobs[0]", {"name": "build", "ok": True})
    assert store.get("/jobs/0/name") == "build"
    assert store.incr(".n") == 1
    assert store.incr(".n", by=Decimal("0.10000000000000000001")) == Decimal("1.10000000000000000001")
    assert store.incr(".big", by=2**70) == 2**70
    assert store.delete(".jobs[0].ok") is True
    assert store.delete(".nothing") is False
    assert store.update(lambda doc: {**doc, "v": 2})["v"] == 2
    with store.transaction() as doc:
        doc["t"] = [1, 2]
    assert store.get(".t") == [1, 2]
    with pytest.raises(RuntimeError):
        with store.transaction() as doc:
            doc["t"] = "never"
            raise RuntimeError("rolled back")
    assert store.get(".t") == [1, 2]
    with pytest.raises(jlock.WrongTypeError):
        store.incr(".jobs")
    with pytest.raises(jlock.BadPathError):
        store.get("..x")


def test_transaction_conflict_writes_nothing(etcd: Cluster, name: str) -> None:
    store, other = jlock.Store(etcd.target(name)), jlock.Store(etcd.target(name))
    store.set(".n", 1)
    with pytest.raises(jlock.ConflictError):
        with store.transaction() as doc:
            other.set(".n", 5)  # another writer, between the read and the write
            doc["n"] += 1
    assert store.get(".n") == 5


def test_cli_sees_the_same_document(etcd: Cluster, etcd_cli: str, name: str) -> None:
    store = jlock.Store(etcd.target(name))
    store.set(".a", 1.50)
    subprocess.run([etcd_cli, "incr", etcd.target(name), ".a"], check=True, timeout=BOUND)
    assert store.get(".a") == 2.5


def _incr_worker(target: str, n: int) -> None:
    store = jlock.Store(target)
    for _ in range(n):
        store.incr(".count")


def test_processes_and_cli_count_exactly(etcd: Cluster, etcd_cli: str, name: str) -> None:
    target = etcd.target(name)
    loop = f'i=0; while [ $i -lt 50 ]; do "{etcd_cli}" incr "{target}" .count >/dev/null || exit 1; i=$((i+1)); done'
    shells = [subprocess.Popen(["sh", "-c", loop]) for _ in range(2)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_incr_worker, args=(target, 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(BOUND * 4)
        assert p.exitcode == 0
    for s in shells:
        assert s.wait(timeout=BOUND * 4) == 0
    assert jlock.Store(target).get(".count") == 4 * 50 + 2 * 50


# --- locks -------------------------------------------------------------------


def test_lock_excludes_jlock_run_and_fence_grows(etcd: Cluster, etcd_cli: str, name: str) -> None:
    target = etcd.target(name)
    lock = jlock.FileLock(target, timeout=BOUND)
    with lock:
        first = lock.fence
        assert isinstance(first, int) and isinstance(lock.lease, int) and lock.lost is None
        busy = subprocess.run([etcd_cli, "run", "-n", target, "--", "true"], timeout=BOUND)
        assert busy.returncode == 1
    assert lock.fence is None
    free = subprocess.run([etcd_cli, "run", "-n", target, "--", "true"], timeout=BOUND)
    assert free.returncode == 0
    # The other way round: jlock run holds it.
    holder = subprocess.Popen(
        [etcd_cli, "run", target, "--", "sh", "-c", 'echo "held $JLOCK_FENCE"; cat >/dev/null'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    line = Lines(holder.stdout).next()
    assert line.startswith("held "), line
    cli_fence = int(line.split()[1])
    assert cli_fence > first
    with pytest.raises(jlock.Timeout) as err:
        lock.acquire(timeout=0)
    assert err.value.lock_file == target
    with pytest.raises(jlock.Timeout):
        lock.acquire(timeout=0.3)
    with pytest.raises(jlock.Timeout):
        jlock.FileLock(target, blocking=False).acquire()
    assert not lock.is_locked
    holder.stdin.close()
    assert holder.wait(timeout=BOUND) == 0
    with lock.acquire(timeout=BOUND):
        assert lock.fence > cli_fence
        lock.acquire()  # re-entrant: counted, no second hold
        assert lock.lock_counter == 2
        lock.release()
    assert not lock.is_locked


def test_revoked_lease_is_lock_lost(etcd: Cluster, name: str) -> None:
    target = etcd.target(name)
    lock = jlock.FileLock(target, timeout=BOUND)
    lock.acquire()
    lease = lock.lease
    assert lease is not None and lock.lost is None
    lock.check()  # held: nothing
    etcd.etcdctl("lease", "revoke", format(lease, "x"))
    reason = lock.wait_lost(BOUND)
    assert reason in ("lease_gone", "key_deleted"), reason
    assert lock.lost == reason
    with pytest.raises(jlock.LockLost) as err:
        lock.check()
    assert err.value.reason == reason and isinstance(err.value, jlock.Error)
    with pytest.raises(jlock.LockLost):
        lock.acquire()  # the re-entrant acquire of a lost lock
    with pytest.raises(jlock.LockLost):
        lock.release(force=True)
    assert not lock.is_locked
    # The name is free for the next holder.
    other = jlock.FileLock(target, blocking=False)
    with other:
        pass
    # Lost inside a with block: __exit__ raises it.
    with pytest.raises(jlock.LockLost):
        with lock:
            etcd.etcdctl("lease", "revoke", format(lock.lease, "x"))
            assert lock.wait_lost(BOUND) is not None


def test_deleted_key_is_lock_lost(etcd: Cluster, name: str) -> None:
    lock = jlock.FileLock(etcd.target(name), timeout=BOUND)
    lock.acquire()
    etcd.etcdctl("del", lock._raw.key)  # by hand, the lease still alive
    assert lock.wait_lost(BOUND) == "key_deleted"
    with pytest.raises(jlock.LockLost) as err:
        lock.release()
    assert err.value.reason == "key_deleted" and not lock.is_locked


def test_shared_and_semaphore(etcd: Cluster, name: str) -> None:
    rw1, rw2 = jlock.ReadWriteLock(etcd.target(name)), jlock.ReadWriteLock(etcd.target(name))
    with rw1.read_lock(), rw2.read_lock():
        with pytest.raises(jlock.Timeout):
            jlock.FileLock(etcd.target(name), blocking=False).acquire()
    sems = [jlock.Semaphore(etcd.target(name + "-s"), 2, timeout=BOUND) for _ in range(3)]
    with sems[0], sems[1]:
        assert {sems[0].slot, sems[1].slot} == {0, 1}
        with pytest.raises(jlock.Timeout):
            sems[2].acquire(timeout=0)
    with sems[2]:
        assert sems[2].fence is not None


def test_ctrl_c_leaves_the_queue(etcd: Cluster, name: str) -> None:
    target = etcd.target(name)
    prefix = f"jlock/{name}/.lock/"
    holder = jlock.FileLock(target)
    holder.acquire()
    me = threading.get_ident()

    def interrupt_once_queued() -> None:
        wait_until(lambda: len(etcd.keys(prefix)) == 2, "the waiter's queue key")
        signal.pthread_kill(me, signal.SIGINT)

    t = threading.Thread(target=interrupt_once_queued)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            jlock.FileLock(target, timeout=BOUND).acquire()
    finally:
        t.join(BOUND)
    assert len(etcd.keys(prefix)) == 1  # only the holder's: the waiter left
    holder.release()


def test_unreachable_is_connection_error(name: str) -> None:
    if not jlock.HAS_ETCD:
        skip_or_fail("the jlock package was built without etcd")
    target = f"etcd://127.0.0.1:{free_port()}/{name}"  # nothing listens there
    with pytest.raises(jlock.EtcdConnectionError) as err:
        jlock.Store(target)
    assert isinstance(err.value, ConnectionError) and isinstance(err.value, jlock.Error)
    with pytest.raises(ConnectionError):
        jlock.FileLock(target).acquire()


def test_bad_target_is_usage_error() -> None:
    if not jlock.HAS_ETCD:
        pytest.skip("built without etcd: test_without_etcd_says_how_to_build covers it")
    with pytest.raises(jlock.UsageError):
        jlock.Store("etcd://127.0.0.1:1/.bad")
    with pytest.raises(ValueError):
        jlock.FileLock("etcd://nohost/x")


def test_without_etcd_says_how_to_build(tmp_path: Path) -> None:
    if jlock.HAS_ETCD:
        pytest.skip("built with etcd")
    for make in (
        lambda: jlock.Store("etcd://127.0.0.1:2379/x"),
        lambda: jlock.FileLock("etcd://127.0.0.1:2379/x"),
        lambda: jlock.Semaphore("etcd://127.0.0.1:2379/x", 2),
    ):
        with pytest.raises(jlock.UsageError, match="--features=etcd"):
            make()
    with pytest.raises(jlock.UsageError):
        jlock.FileLock(tmp_path / "f.lock", ttl=5)
