"""jlock's exceptions: one base, :class:`Error`, and a subclass per kind of failure.

Each subclass is also the builtin exception a caller would catch for that kind:
:class:`Timeout` is a :class:`TimeoutError` (as py-filelock's is), bad JSON a
:class:`ValueError`, a wrong type a :class:`TypeError`, a refused file a
:class:`PermissionError`, a failed system call an :class:`OSError`.
"""

from __future__ import annotations

import queue
from typing import Optional


class Error(Exception):
    """Base class of every error jlock raises about a lock or a data file."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Pickled (multiprocessing sends exceptions back) with the arguments
        # the class was made with, which are not always ``args``.
        return self.__class__, getattr(self, "_ctor", self.args)


class Timeout(Error, TimeoutError):
    """The lock could not be acquired in time (or at once, when not blocking).

    ``lock_file`` is the lock file's path (for a semaphore, ``<path>.slot*``).
    The message is py-filelock's: ``The file lock '...' could not be acquired.``
    """

    def __init__(self, lock_file: str) -> None:
        super().__init__(lock_file)
        self._lock_file = lock_file

    def __str__(self) -> str:
        return f"The file lock '{self._lock_file}' could not be acquired."

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._lock_file!r})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return self.__class__, (self._lock_file,)

    @property
    def lock_file(self) -> str:
        """The path of the lock file."""
        return self._lock_file


class DataError(Error, ValueError):
    """The data file's content does not allow the operation. ``path``: the file."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path
        self._ctor: tuple = (message, path)  # type: ignore[type-arg]


class InvalidJSONError(DataError):
    """The data file is not valid JSON; ``path``, ``lineno`` and ``colno`` (1-based) say where."""

    def __init__(self, message: str, path: str, lineno: int, colno: int) -> None:
        super().__init__(message, path)
        self.lineno = lineno
        self.colno = colno
        self._ctor = (message, path, lineno, colno)


class WrongTypeError(DataError, TypeError):
    """The value at the path has the wrong type for the operation (``incr`` of a string, say)."""


class NumberOverflowError(DataError, OverflowError):
    """A number would not fit: an ``incr`` past jlock's bounds on digits and exponents."""


class IndexOutOfRangeError(DataError, IndexError):
    """An array index at the path is out of range for the operation."""


class UsageError(Error, ValueError):
    """The request is wrong, not the data: an index past what jlock writes, a value nested too deep."""


class BadPathError(UsageError):
    """A path (``.jobs[0].name``, ``/jobs/0/name``) that does not parse."""


class RefusedError(Error, PermissionError):
    """A file jlock refuses to touch (the CLI's exit status 77). ``path``: the file."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path
        self.filename = path
        self._ctor = (message, path)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnsafePathError(RefusedError):
    """A symlink or file planted by another user in a shared directory, or a journal with the wrong owner."""


class NotWritableError(RefusedError):
    """An update of a data file this user may not write, refused before any work."""


class LockLost(Error):
    """A held etcd lock was lost: its lease expired or was revoked, its key was deleted,
    or no keep-alive was acknowledged within the TTL (the lock must be presumed taken by
    another holder). ``target``: the etcd target; ``reason``: ``"lease_gone"``,
    ``"key_deleted"``, ``"no_renewal"`` or ``"fenced"``."""

    def __init__(self, message: str, target: Optional[str] = None, reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.target = target
        self.reason = reason
        self._ctor = (message, target, reason)


class EtcdError(Error):
    """An error from etcd (an ``etcd://`` target)."""


class EtcdConnectionError(EtcdError, ConnectionError):
    """etcd could not be reached, or did not answer in time (for a write: whether it
    was applied is unknown)."""


class ConflictError(Error):
    """An etcd transaction's document changed after the ``with`` block read it; nothing
    was written. ``target``: the etcd target. ``Store.update(fn)`` retries instead."""

    def __init__(self, message: str, target: Optional[str] = None) -> None:
        super().__init__(message)
        self.target = target
        self._ctor = (message, target)


class Empty(Error, queue.Empty):
    """``Store.pop`` found the queue empty (at once, or still after its ``timeout``);
    nothing was taken. Also a :class:`queue.Empty`, as ``queue.Queue.get`` raises.
    ``path``: the data file; ``queue``: the queue's path in it. The CLI's
    ``jlock pop`` exits 1 here."""

    def __init__(self, message: str, path: Optional[str] = None, queue: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path
        self.queue = queue
        self._ctor = (message, path, queue)


class FileError(Error, OSError):
    """A system call on a lock or data file failed; ``errno`` and ``filename`` as for :class:`OSError`."""

    def __init__(self, errno: Optional[int], message: str, filename: str) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message, filename)
        self.message = message
        self._ctor = (errno, message, filename)

    def __str__(self) -> str:
        return self.message


__all__ = [
    "BadPathError",
    "ConflictError",
    "DataError",
    "Empty",
    "Error",
    "EtcdConnectionError",
    "EtcdError",
    "FileError",
    "IndexOutOfRangeError",
    "InvalidJSONError",
    "LockLost",
    "NotWritableError",
    "NumberOverflowError",
    "RefusedError",
    "Timeout",
    "UnsafePathError",
    "UsageError",
    "WrongTypeError",
]

# Shown (and pickled) as jlock.Timeout etc.: the names users import.
for _name in __all__:
    globals()[_name].__module__ = "jlock"
del _name
