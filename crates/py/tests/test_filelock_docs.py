"""py-filelock's own documented examples, run against jlock.FileLock with only the import changed.

Source: py-filelock's documentation, docs/index.rst (the opening example and the
"Tutorial" section), https://py-filelock.readthedocs.io/ (tox-dev/filelock).
Each block is as the documentation writes it, with ``from filelock import``
replaced by ``from jlock import``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path):
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


def test_opening_example(in_tmp: Path) -> None:
    from jlock import Timeout, FileLock

    lock = FileLock("high_ground.txt.lock")
    with lock:
        with open("high_ground.txt", "a") as f:
            f.write("You were the chosen one.")

    assert Path("high_ground.txt").read_text() == "You were the chosen one."


def test_tutorial(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jlock import Timeout, FileLock

    file_path = "high_ground.txt"
    lock_path = "high_ground.txt.lock"

    lock = FileLock(lock_path, timeout=1)

    with lock:
        with open(file_path, "a") as f:
            f.write("Hello there!")

    lock.acquire()
    try:
        with open(file_path, "a") as f:
            f.write("General Kenobi!")
    finally:
        lock.release()

    @lock
    def decorated():
        print("You're a decorated Jedi!")

    decorated()

    try:
        with lock.acquire(timeout=10):
            with open(file_path, "a") as f:
                f.write("I have a bad feeling about this.")
    except Timeout:
        print("Another instance of this application currently holds the lock.")

    def cite1():
        with lock:
            with open(file_path, "a") as f:
                f.write("I hate it when he does that.")

    def cite2():
        with lock:
            with open(file_path, "a") as f:
                f.write("You don't want to sell me death sticks.")

    # The lock is acquired here.
    with lock:
        cite1()
        cite2()
    # And released here.

    assert Path(file_path).read_text() == (
        "Hello there!General Kenobi!I have a bad feeling about this."
        "I hate it when he does that.You don't want to sell me death sticks."
    )
    assert capsys.readouterr().out == "You're a decorated Jedi!\n"
    assert not lock.is_locked


def test_tutorial_timeout_branch(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The tutorial's ``except Timeout`` branch, made to run: another holder has the lock."""
    from jlock import Timeout, FileLock

    file_path = "high_ground.txt"
    lock = FileLock("high_ground.txt.lock", timeout=1)
    other = FileLock("high_ground.txt.lock")
    other.acquire()
    try:
        try:
            with lock.acquire(timeout=0.2):
                with open(file_path, "a") as f:
                    f.write("I have a bad feeling about this.")
        except Timeout:
            print("Another instance of this application currently holds the lock.")
    finally:
        other.release()
    assert capsys.readouterr().out == "Another instance of this application currently holds the lock.\n"
    assert not Path(file_path).exists()
