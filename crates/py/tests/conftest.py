"""Shared helpers of the jlock Python tests: external lock holders, /proc/locks, the CLI.

Every wait here is bounded: subprocesses get timeouts, joins get timeouts, and
handshakes are lines read from a child's stdout (never a sleep).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

#: Upper bound of any single wait in the tests (seconds); far above what a pass needs.
BOUND = 30.0


def jlock_bin() -> Optional[str]:
    """The jlock CLI binary: $JLOCK_BIN, else `jlock` on PATH, else None."""
    env = os.environ.get("JLOCK_BIN")
    if env:
        return env
    return shutil.which("jlock")


@pytest.fixture
def cli() -> str:
    """The path of the jlock CLI; the test is skipped (with the reason) when there is none."""
    path = jlock_bin()
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no jlock CLI: set JLOCK_BIN to target/release/jlock (CI does)")
    return path


def require(tool: str) -> str:
    """The path of an external tool, or skip the test saying which is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


class Lines:
    """The lines a child prints, read by a thread, so that every read has a timeout."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self._q: "queue.Queue[str]" = queue.Queue()

        def pump() -> None:
            for line in stream:
                self._q.put(line)
            self._q.put("")  # EOF

        threading.Thread(target=pump, daemon=True).start()

    def next(self, timeout: float = BOUND) -> str:
        """The next line (stripped; "" at EOF); AssertionError if none comes in time."""
        try:
            return self._q.get(timeout=timeout).strip()
        except queue.Empty:
            raise AssertionError(f"no line from the child in {timeout} s") from None


#: Put first in a Python child that tests Ctrl-C: a shell that starts jobs in the
#: background starts them with SIGINT ignored, and Python then installs no handler.
RESTORE_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


class Holder:
    """A child process holding a lock until told to stop (or BOUND seconds pass).

    It prints one line once it holds the lock; ``start`` waits for that line.
    ``stop`` closes its stdin, which ends it and frees the lock.
    """

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout)

    def start(self) -> "Holder":
        line = self.lines.next()
        assert line == "held", f"holder said {line!r}, exit {self.proc.poll()}"
        return self

    def stop(self) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=BOUND)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=BOUND)


def flock_holder(path: Path, shared: bool = False) -> Holder:
    """util-linux flock(1) holding `path` (exclusive, or shared)."""
    tool = require("flock")
    script = f'echo held; timeout {int(BOUND)} cat >/dev/null || true'
    return Holder([tool, "-s" if shared else "-x", str(path), "sh", "-c", script]).start()


PY_HOLD = """
import sys, {module}
lock = {ctor}
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def python_holder(code_module: str, ctor: str) -> Holder:
    """A Python child holding `ctor`'s lock (made after `import code_module`)."""
    return Holder(
        [sys.executable, "-c", PY_HOLD.format(module=code_module, ctor=ctor)]
    ).start()


def lock_waiters(path: Path) -> list[int]:
    """The pids /proc/locks shows waiting (``->``) for a flock(2) lock on `path`."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 6 and fields[1] == "->" and fields[2] == "FLOCK" and fields[6] == dev:
                pids.append(int(fields[5]))
    return pids


def wait_until(predicate, what: str, bound: float = BOUND) -> None:
    """Polls `predicate` (a cheap check of kernel state) until true, at most `bound` seconds."""
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
