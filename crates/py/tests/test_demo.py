"""`python -m jlock.demo`: the tutorial's lesson runs, and the locked side is right every time."""

from __future__ import annotations

import subprocess
import sys

from conftest import BOUND


def test_demo_verdicts() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jlock.demo", "print", "tickets", "counter", "queue"],
        capture_output=True, text=True, timeout=BOUND * 4,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "✓ each process's lines whole" in text
    # Without the lock every buyer has read before any writes: always oversold.
    assert "✗ sold 10 of 1 (9 oversold)" in text
    assert "✓ sold 1 of 1" in text
    assert "✓ 800 of 800" in text
    assert text.count("✓ 800 of 800") == 2  # the store and the queue


def test_demo_rejects_unknown_names() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jlock.demo", "nope"], capture_output=True, text=True, timeout=BOUND
    )
    assert out.returncode == 64 and "unknown demo" in out.stderr
