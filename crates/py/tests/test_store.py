"""jlock.Store: the engine's operations from Python, exact numbers, errors, nothing written on error."""

from __future__ import annotations

import decimal
import os
import subprocess
import threading
from pathlib import Path

import pytest

import jlock
from conftest import BOUND


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """The file's bytes, inode and modification time: equal means not rewritten."""
    st = os.stat(path)
    return path.read_bytes(), st.st_ino, st.st_mtime_ns


def test_get_set_delete_incr(tmp: Path) -> None:
    s = jlock.Store(tmp / "d.json")
    assert s.get() is None and s.get(".x", default=7) == 7
    assert s.incr() == 1 and s.incr(by=41) == 42
    s.set(".", {"jobs": [{"name": "a"}]})
    assert s.get(".jobs[0].name") == "a" == s.get("/jobs/0/name")
    s.set(".jobs[1].name", "b")
    assert s.get(".jobs") == [{"name": "a"}, {"name": "b"}]
    assert s.delete(".jobs[0]") is True and s.delete(".nope") is False
    assert s.get() == {"jobs": [{"name": "b"}]}
    assert s.incr(".hits") == 1 and s.incr(".hits", 2) == 3
    assert s.update(lambda d: {**d, "u": True})["u"] is True
    s.update(lambda d: d.pop("u") and None)  # None: the argument, changed in place
    assert s.get() == {"jobs": [{"name": "b"}], "hits": 3}
    assert s.durability == "rename" and s.lock_file == tmp / "d.json.lock"


def test_numbers_exact(tmp: Path) -> None:
    p = tmp / "n.json"
    p.write_text('{"big": 123456789012345678901234567890, "f": 0.1, "e": 1E2, '
                 '"long": 0.10000000000000000000001, "huge": 1e400, "neg": -7}\n')
    s = jlock.Store(p)
    assert s.get(".big") == 123456789012345678901234567890
    assert type(s.get(".f")) is float and s.get(".f") == 0.1
    assert s.get(".e") == 100.0
    assert s.get(".long") == decimal.Decimal("0.10000000000000000000001")
    assert s.get(".huge") == decimal.Decimal("1e400")
    assert s.get(".neg") == -7
    # Arithmetic is exact and in base 10.
    assert s.incr(".big") == 123456789012345678901234567891
    assert s.incr(".g", 0.1) == 0.1
    assert s.incr(".g", 0.2) == 0.3  # not 0.30000000000000004
    assert s.incr(".d", decimal.Decimal("1E-21")) == 1e-21  # a float holds it: float
    tiny = decimal.Decimal("0.10000000000000000001")  # a float would round it: Decimal
    assert s.incr(".d2", tiny) == tiny and type(s.get(".d2")) is decimal.Decimal
    s.set(".x", 2**70)
    s.set(".y", decimal.Decimal("1.10"))
    s.set(".z", [1.5, -0.0, 1e300, True, None, ("t", "u")])
    assert s.get(".x") == 2**70 and s.get(".y") == 1.1
    assert s.get(".z") == [1.5, 0.0, 1e300, True, None, ["t", "u"]]
    text = p.read_text()
    assert '"e": 1E2' in text and "1180591620717411303424" in text and '"y": 1.10' in text


def test_untouched_bytes_stay_and_match_the_cli(tmp: Path, cli: str) -> None:
    original = '{ "keep":  [1.50, 2E3,"\\u00e9"],\n\t"n": 9 , "deep": {"k": 1}}\n'
    ours, theirs = tmp / "ours.json", tmp / "theirs.json"
    ours.write_text(original)
    theirs.write_text(original)
    jlock.Store(ours).incr(".n", 1)
    jlock.Store(ours).set(".deep.k", "v")
    subprocess.run([cli, "incr", str(theirs), ".n"], check=True, timeout=BOUND, capture_output=True)
    subprocess.run([cli, "set", str(theirs), ".deep.k", '"v"'], check=True, timeout=BOUND)
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.read_text() == original.replace("9 ,", "10 ,").replace('"k": 1', '"k": "v"')


@pytest.mark.parametrize("durability", ["rename", "fsync", "journal"])
def test_durability_modes(tmp: Path, durability: str) -> None:
    s = jlock.Store(tmp / f"{durability}.json", durability=durability)
    for _ in range(5):
        s.incr(".n")
    assert s.get(".n") == 5 and s.durability == durability
    with pytest.raises(ValueError):
        jlock.Store(tmp / "x.json", durability="paper")


def test_errors_and_nothing_written(tmp: Path) -> None:
    p = tmp / "e.json"
    p.write_text('{"s": "text", "a": [1, 2], "n": 1}\n')
    s = jlock.Store(p)
    before = snapshot(p)

    with pytest.raises(jlock.WrongTypeError) as info:
        s.incr(".s")
    assert isinstance(info.value, TypeError) and info.value.path == str(p)
    with pytest.raises(jlock.BadPathError):
        s.set(".a[", 1)
    assert isinstance(jlock.BadPathError("x"), ValueError)
    with pytest.raises(jlock.UsageError):
        s.set(".a[100000]", 1)  # past the end by more than jlock pads
    with pytest.raises(ValueError, match="NaN"):
        s.set(".n", float("nan"))
    with pytest.raises(ValueError, match="infinity"):
        s.set(".n", [decimal.Decimal("Infinity")])
    with pytest.raises(TypeError, match="keys must be str"):
        s.set(".n", {1: "x"})
    with pytest.raises(TypeError, match="not JSON serializable"):
        s.set(".n", {"ok": [object()]})
    with pytest.raises(TypeError):
        s.incr(".n", "1")
    with pytest.raises(ZeroDivisionError):
        s.update(lambda d: 1 / 0)
    with pytest.raises(TypeError):
        s.update(lambda d: {"x": object()})
    with pytest.raises(RuntimeError):
        with s.transaction() as doc:
            doc["n"] = 99
            raise RuntimeError("rolled back")
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="deeper"):
        s.set(".n", cycle)
    assert snapshot(p) == before

    # An unchanged transaction or update writes nothing either.
    with s.transaction() as doc:
        assert doc == {"s": "text", "a": [1, 2], "n": 1}
    s.update(lambda d: d)
    assert snapshot(p) == before


def test_invalid_json_names_file_line_column(tmp: Path) -> None:
    p = tmp / "bad.json"
    p.write_text('{"a": 1,\n  "b": }\n')
    before = snapshot(p)
    s = jlock.Store(p)
    for op in (lambda: s.get(), lambda: s.incr(".a"), lambda: s.set(".a", 2)):
        with pytest.raises(jlock.InvalidJSONError) as info:
            op()
        e = info.value
        assert isinstance(e, ValueError) and isinstance(e, jlock.Error)
        assert (e.path, e.lineno, e.colno) == (str(p), 2, 8)
        assert f"{p}:2:8" in str(e)
    assert snapshot(p) == before


def test_file_errors(tmp: Path) -> None:
    with pytest.raises(jlock.FileError) as info:
        jlock.Store(tmp / "missing-dir" / "x.json")
    e = info.value
    assert isinstance(e, OSError) and e.errno == 2 and "missing-dir" in e.filename


def test_transaction(tmp: Path) -> None:
    p = tmp / "t.json"
    s = jlock.Store(p)
    # A missing document is {} in a transaction (default=...), written only if changed.
    with s.transaction() as doc:
        assert doc == {}
    assert not p.exists()  # nothing to write
    with s.transaction(default=None) as doc:
        assert doc is None
    with s.transaction(default=[]) as doc:
        doc.append("first")
    assert s.get() == ["first"]
    s.set(".", None)  # a null document is missing too
    with s.transaction() as doc:
        doc["n"] = 1
    assert s.get() == {"n": 1}
    with pytest.raises(TypeError, match="unexpected keyword"):
        s.transaction(defualt={})
    s.set(".", {"tickets": 2, "sold": []})
    with s.transaction() as doc:
        doc["tickets"] -= 1
        doc["sold"].append("ann")
        # The lock is held for the whole block.
        with pytest.raises(jlock.Timeout):
            jlock.Store(p, timeout=0).get()
    assert s.get() == {"tickets": 1, "sold": ["ann"]}
    t = s.transaction()
    with t:
        pass
    with pytest.raises(RuntimeError):
        with t:
            pass


def test_transaction_and_other_threads(tmp: Path) -> None:
    s = jlock.Store(tmp / "th.json", timeout=0.2)
    s.set(".n", 1)
    seen: list = []

    def other_thread() -> None:
        try:
            seen.append(s.get(".n"))
        except jlock.Timeout as e:
            seen.append(e)

    with s.transaction() as doc:
        # This thread may not use the store inside its own transaction...
        with pytest.raises(RuntimeError, match="transaction"):
            s.get()
        with pytest.raises(RuntimeError, match="nest"):
            with s.transaction():
                pass
        # ...and another thread waits for the lock with its timeout, then gives up.
        t = threading.Thread(target=other_thread)
        t.start()
        t.join(timeout=BOUND)
        assert not t.is_alive() and isinstance(seen[0], jlock.Timeout)
        doc["n"] = 2
    assert s.get(".n") == 2


def test_store_timeout(tmp: Path) -> None:
    p = tmp / "w.json"
    with jlock.FileLock(tmp / "w.json.lock"):
        with pytest.raises(jlock.Timeout) as info:
            jlock.Store(p, timeout=0.2).incr()
        assert info.value.lock_file == str(tmp / "w.json.lock")
        with pytest.raises(jlock.Timeout):
            jlock.Store(p, timeout=0).get()
        with pytest.raises(jlock.Timeout):
            with jlock.Store(p, timeout=0.1).transaction():
                pass
    assert jlock.Store(p, timeout=BOUND).incr() == 1


def test_a_refused_file_is_a_permission_error(tmp: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("planting a symlink owned by another user needs root")
    shared = tmp / "shared"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    real = tmp / "real.json"
    real.write_text("{}\n")
    link = shared / "x.json"
    link.symlink_to(real)
    os.lchown(link, 12345, 12345)  # planted by another user in a sticky, world-writable dir
    before = snapshot(real)
    with pytest.raises(jlock.UnsafePathError) as info:
        jlock.Store(link).set(".x", 1)
    assert isinstance(info.value, PermissionError) and isinstance(info.value, jlock.RefusedError)
    assert info.value.path == str(link)
    assert snapshot(real) == before


STORE_INTERRUPT_CHILD = """
import sys, jlock
store = jlock.Store(sys.argv[1])
try:
    print("waiting", flush=True)
    store.incr(".n")
    sys.exit(1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(42)
"""


def test_keyboard_interrupt_during_a_store_wait(tmp: Path) -> None:
    import signal
    import sys

    from conftest import RESTORE_SIGINT, Lines, lock_waiters, wait_until

    p = tmp / "ki.json"
    p.write_text('{"n": 1}\n')
    before = snapshot(p)
    with jlock.FileLock(tmp / "ki.json.lock"):  # the store's lock, held here
        child = subprocess.Popen(
            [sys.executable, "-c", RESTORE_SIGINT + STORE_INTERRUPT_CHILD, str(p)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert child.stdout is not None
            lines = Lines(child.stdout)
            assert lines.next() == "waiting"
            wait_until(lambda: child.pid in lock_waiters(tmp / "ki.json.lock"), "the store to wait")
            child.send_signal(signal.SIGINT)
            assert lines.next() == "interrupted"
            assert child.wait(timeout=BOUND) == 42
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=BOUND)
    assert snapshot(p) == before
    assert jlock.Store(p, timeout=0).incr(".n") == 2


def test_timeout_pickles(tmp: Path) -> None:
    import pickle

    e = pickle.loads(pickle.dumps(jlock.Timeout("/x.lock")))
    assert isinstance(e, jlock.Timeout) and e.lock_file == "/x.lock"
    assert str(e) == "The file lock '/x.lock' could not be acquired."
    e = pickle.loads(pickle.dumps(jlock.InvalidJSONError("bad", "/d.json", 3, 4)))
    assert (type(e), e.path, e.lineno, e.colno, str(e)) == (jlock.InvalidJSONError, "/d.json", 3, 4, "bad")
    f = pickle.loads(pickle.dumps(jlock.FileError(2, "gone", "/d.json")))
    assert (f.errno, f.filename, str(f)) == (2, "/d.json", "gone")
    assert repr(jlock.Timeout("/x")) == "Timeout('/x')" and jlock.Timeout.__module__ == "jlock"


def test_etcd_connection_options_are_refused_for_files(tmp: Path) -> None:
    for make in (
        lambda: jlock.Store(tmp / "d.json", cacert=tmp / "ca.pem"),
        lambda: jlock.Store(tmp / "d.json", connect_timeout=1),
        lambda: jlock.FileLock(tmp / "l.lock", key=tmp / "k.pem"),
        lambda: jlock.Semaphore(tmp / "s", 2, connect_timeout=1),
        lambda: jlock.ReadWriteLock(tmp / "rw.lock", cert=tmp / "c.pem"),
    ):
        with pytest.raises(jlock.UsageError, match="etcd://"):
            make()
    assert list(tmp.iterdir()) == []
