"""py-filelock's API over jlock's flock(2) locks: FileLock, ReadWriteLock, Semaphore.

Every lock here is an advisory ``flock(2)`` lock taken by jlock-core, so a
:class:`FileLock` excludes, and is excluded by, py-filelock's ``FileLock``,
``jlock run`` and util-linux ``flock`` on the same path, in any process. The
kernel frees it when its holder exits or is killed. A wait releases the GIL
and is interrupted by Ctrl-C (``KeyboardInterrupt``), leaving no lock held.

With the package built with etcd (``jlock.HAS_ETCD``), a ``lock_file`` (or a
semaphore's ``path``) ``etcd://HOST:PORT[,...]/NAME`` is a leased etcd lock
instead, the one ``jlock run etcd://...`` takes: ``fence``, ``lease``,
``lost``, ``check()`` and ``wait_lost()`` say what became of it, and
``release()`` raises :class:`jlock.LockLost` if it was lost while held.
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType
from typing import Any, Generic, Iterator, Optional, Type, TypeVar, Union
from contextlib import ContextDecorator, contextmanager

from . import _jlock
from ._errors import Timeout, UsageError
from ._jlock import RawLock, RawSemaphore

#: The etcd lock primitive (None in a build without etcd).
RawEtcdLock: Any = getattr(_jlock, "RawEtcdLock", None)

NO_ETCD = (
    "etcd:// targets need the jlock package built with etcd: "
    "pip install ./crates/py --config-settings=build-args=--features=etcd "
    "(jlock.HAS_ETCD is False)"
)


def _is_etcd(path: str) -> bool:
    return path.startswith(("etcd://", "etcds://"))


def _raw(path: str, ttl: Optional[float], slots: Optional[int] = None) -> Any:
    """The lock primitive for `path`: an etcd lock for an etcd:// target, else flock(2)."""
    if _is_etcd(path):
        if RawEtcdLock is None:
            raise UsageError(NO_ETCD)
        return RawEtcdLock(path, slots, ttl)
    if ttl is not None:
        raise UsageError(f"{path}: ttl applies to etcd:// targets, not to lock files")
    return RawLock(path) if slots is None else RawSemaphore(path, slots)


class _Leased:
    """What an etcd lock adds (``None``/no-ops for a lock file, which cannot be lost)."""

    _raw: Any

    @property
    def fence(self) -> Optional[int]:
        """The fencing token of the etcd hold (grows with every acquisition); ``None`` if none is held."""
        return getattr(self._raw, "fence", None)

    @property
    def lease(self) -> Optional[int]:
        """The etcd lease id of the hold (``etcdctl lease revoke`` takes it in hex)."""
        return getattr(self._raw, "lease", None)

    @property
    def lost(self) -> Optional[str]:
        """Why the held etcd lock was lost (``"lease_gone"``, ``"key_deleted"``,
        ``"no_renewal"``, ``"fenced"``), or ``None`` while it is held."""
        return getattr(self._raw, "lost", None)

    def check(self) -> None:
        """Raise :class:`jlock.LockLost` if the held etcd lock was lost."""
        check = getattr(self._raw, "check", None)
        if check is not None:
            check()

    def wait_lost(self, timeout: Optional[float] = None) -> Optional[str]:
        """Wait (at most ``timeout`` seconds; ``None``: for ever) for the held etcd
        lock to be lost: why, or ``None``. ``None`` at once for a lock file."""
        wait = getattr(self._raw, "wait_lost", None)
        return None if wait is None else wait(timeout)

_L = TypeVar("_L")
PathLike = Union[str, "os.PathLike[str]"]

#: Every lock object alive, so that a forked child forgets at once what it
#: inherited: the parent's locks (a held flock(2) lock is shared with the
#: child's copy of the descriptor, and unlocking it there would free the
#: parent's), and the counters that say they are held.
_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for lock in list(_LIVE):
        lock._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class AcquireReturnProxy(Generic[_L]):
    """What ``acquire()`` returns: ``with lock.acquire(timeout=5):`` releases on exit."""

    def __init__(self, lock: _L) -> None:
        self.lock = lock

    def __enter__(self) -> _L:
        return self.lock

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.lock.release()  # type: ignore[attr-defined]


def _check_timeout(value: Any) -> float:
    t = float(value)
    if t != t:
        raise ValueError("timeout must not be NaN")
    return t


class FileLock(ContextDecorator, _Leased):
    """An exclusive ``flock(2)`` lock on ``lock_file``, re-entrant per object.

    The same constructor, methods and properties as py-filelock's ``FileLock``:
    ``acquire(timeout=None, poll_interval=0.05, *, blocking=None)`` returns a
    proxy usable in ``with``; ``release(force=False)``; ``is_locked``,
    ``lock_counter``, ``lock_file``, ``timeout``, ``blocking``. Acquiring
    twice on one object counts (``lock_counter`` 2) and takes the lock once;
    it is freed when it has been released as many times. As py-filelock's, a
    ``FileLock`` is also a decorator: ``@lock`` runs the function holding it.

    ``timeout``: seconds to wait (negative: forever, the default; ``0``: one
    attempt); ``blocking=False``: one attempt. Both raise :class:`jlock.Timeout`.
    A wait queues in the kernel, so the lock is handed over as soon as it is
    free; ``poll_interval`` only says how often the wait looks for Ctrl-C
    (clamped to 0.01–0.1 s). ``mode`` and ``thread_local`` are accepted for
    py-filelock compatibility and ignored: the lock file is created with mode
    0666 less the umask (as ``flock(1)`` does), and one object is one hold
    whatever thread uses it (a second thread's acquire while it is held
    counts on that hold, as py-filelock's ``thread_local=False`` does) —
    give each thread its own ``FileLock`` to make threads exclude each other. The lock file is never deleted.

    ``etcd://HOST:PORT[,...]/NAME`` (built with etcd): a leased etcd lock
    (``ttl``: the lease's, in seconds, default 10); see :class:`_Leased`.
    """

    def __init__(
        self,
        lock_file: PathLike,
        timeout: float = -1,
        mode: int = 0o644,
        thread_local: bool = True,
        *,
        blocking: bool = True,
        poll_interval: float = 0.05,
        ttl: Optional[float] = None,
    ) -> None:
        self._path = os.fspath(lock_file)
        self._raw = _raw(self._path, ttl)
        self._timeout = _check_timeout(timeout)
        self._blocking = bool(blocking)
        self._poll_interval = float(poll_interval)
        self._counter = 0
        self._mode = mode
        self._thread_local = thread_local
        # Serializes first acquisitions of this object by several threads.
        self._entry = threading.Lock()
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._counter = 0
        self._entry = threading.Lock()  # a parent's thread may have held it
        self._raw.after_fork()

    @property
    def lock_file(self) -> str:
        """The path of the lock file."""
        return self._path

    @property
    def timeout(self) -> float:
        """The default timeout of ``acquire``, in seconds (negative: wait forever)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = _check_timeout(value)

    @property
    def blocking(self) -> bool:
        """Whether ``acquire`` waits by default."""
        return self._blocking

    @blocking.setter
    def blocking(self, value: bool) -> None:
        self._blocking = bool(value)

    @property
    def poll_interval(self) -> float:
        """How often a wait checks for Ctrl-C, by default (seconds)."""
        return self._poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self._poll_interval = float(value)

    @property
    def is_locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._counter > 0

    @property
    def lock_counter(self) -> int:
        """How many times this object has acquired the lock without releasing it."""
        return self._counter

    def acquire(
        self,
        timeout: Optional[float] = None,
        poll_interval: Optional[float] = None,
        *,
        poll_intervall: Optional[float] = None,
        blocking: Optional[bool] = None,
    ) -> AcquireReturnProxy["FileLock"]:
        """Acquire the lock (again, if this object holds it: the counter goes up).

        :param timeout: seconds to wait; negative: forever; ``None``: the object's ``timeout``
        :param poll_interval: how often a wait checks for Ctrl-C; ``None``: the object's
        :param poll_intervall: py-filelock's old spelling of ``poll_interval``
        :param blocking: ``False`` makes one attempt; ``None``: the object's ``blocking``
        :returns: a proxy whose ``with`` block releases the lock at its end
        :raises jlock.Timeout: the lock was not free in time
        """
        t = self._timeout if timeout is None else _check_timeout(timeout)
        if poll_interval is None:
            poll_interval = self._poll_interval if poll_intervall is None else poll_intervall
        block = self._blocking if blocking is None else bool(blocking)
        # Another thread may be taking the lock for this object: wait for it
        # (within the timeout), then count this acquisition on its hold.
        if not self._entry.acquire(block, t if block and t >= 0 else -1):
            raise Timeout(self._path)
        try:
            if self._counter > 0:
                self.check()  # an etcd lock lost meanwhile: LockLost
                self._counter += 1
                return AcquireReturnProxy(self)
            self._raw.acquire(False, None if t < 0 else t, block, float(poll_interval))
            self._counter = 1
        except BaseException:
            # A KeyboardInterrupt just after the lock was taken: give it back.
            if self._counter == 0:
                self._raw.release()
            raise
        finally:
            self._entry.release()
        return AcquireReturnProxy(self)

    def release(self, force: bool = False) -> None:
        """Release one acquisition (all of them if ``force``); the last one frees the lock."""
        if self._counter == 0:
            return
        with self._entry:
            if self._counter == 0:
                return
            self._counter = 0 if force else self._counter - 1
            if self._counter == 0:
                self._raw.release()

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.release()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            try:
                raw.release()
            except Exception:
                pass  # a lost etcd lock: nobody to tell

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._path!r}, locked={self.is_locked})"


#: py-filelock's names for the flock(2) lock: all of them are :class:`FileLock` here.
UnixFileLock = FileLock
SoftFileLock = FileLock


class ReadWriteLock(_Leased):
    """Readers together, writers alone: a shared or exclusive ``flock(2)`` lock on ``lock_file``.

    ``with rw.read_lock():`` holds a shared lock (any number of readers, in
    any processes, at once); ``with rw.write_lock():`` the exclusive lock. Each
    is re-entrant on one object; asking one object for the other kind while
    it holds one raises ``RuntimeError`` (no upgrade or downgrade: it could
    deadlock). Timeouts as :class:`FileLock`'s; :class:`jlock.Timeout` when
    they pass. Interoperates with ``flock -s`` / ``flock -x`` and ``jlock run -s``.
    """

    def __init__(
        self,
        lock_file: PathLike,
        timeout: float = -1,
        *,
        blocking: bool = True,
        poll_interval: float = 0.05,
        ttl: Optional[float] = None,
    ) -> None:
        self._path = os.fspath(lock_file)
        self._raw = _raw(self._path, ttl)
        self.timeout = _check_timeout(timeout)
        self.blocking = bool(blocking)
        self.poll_interval = float(poll_interval)
        self._counter = 0
        self._shared: Optional[bool] = None
        self._entry = threading.Lock()
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._counter = 0
        self._shared = None
        self._entry = threading.Lock()
        self._raw.after_fork()

    @property
    def lock_file(self) -> str:
        """The path of the lock file."""
        return self._path

    @property
    def is_locked(self) -> bool:
        """Whether this object holds a lock (read or write)."""
        return self._counter > 0

    @property
    def mode(self) -> Optional[str]:
        """``"read"``, ``"write"``, or ``None`` when nothing is held."""
        if self._counter == 0:
            return None
        return "read" if self._shared else "write"

    @property
    def lock_counter(self) -> int:
        """How many acquisitions are held by this object."""
        return self._counter

    def _acquire(self, shared: bool, timeout: Optional[float], blocking: Optional[bool]) -> None:
        t = self.timeout if timeout is None else _check_timeout(timeout)
        block = self.blocking if blocking is None else bool(blocking)
        if not self._entry.acquire(block, t if block and t >= 0 else -1):
            raise Timeout(self._path)
        try:
            if self._counter > 0:
                if self._shared != shared:
                    held, asked = ("read", "write") if self._shared else ("write", "read")
                    raise RuntimeError(
                        f"{self._path}: this ReadWriteLock holds a {held} lock; "
                        f"release it before taking a {asked} lock"
                    )
                self.check()
                self._counter += 1
                return
            try:
                self._raw.acquire(shared, None if t < 0 else t, block, self.poll_interval)
                self._counter = 1
                self._shared = shared
            except BaseException:
                if self._counter == 0:
                    self._raw.release()
                raise
        finally:
            self._entry.release()

    def acquire_read(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> AcquireReturnProxy["ReadWriteLock"]:
        """Take the shared (read) lock; release with :meth:`release`."""
        self._acquire(True, timeout, blocking)
        return AcquireReturnProxy(self)

    def acquire_write(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> AcquireReturnProxy["ReadWriteLock"]:
        """Take the exclusive (write) lock; release with :meth:`release`."""
        self._acquire(False, timeout, blocking)
        return AcquireReturnProxy(self)

    def release(self, force: bool = False) -> None:
        """Release one acquisition (all if ``force``); the last one frees the lock."""
        if self._counter == 0:
            return
        with self._entry:
            if self._counter == 0:
                return
            self._counter = 0 if force else self._counter - 1
            if self._counter == 0:
                self._shared = None
                self._raw.release()

    @contextmanager
    def read_lock(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> Iterator["ReadWriteLock"]:
        """``with rw.read_lock():`` — hold the shared lock for the block."""
        self._acquire(True, timeout, blocking)
        try:
            yield self
        finally:
            self.release()

    @contextmanager
    def write_lock(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> Iterator["ReadWriteLock"]:
        """``with rw.write_lock():`` — hold the exclusive lock for the block."""
        self._acquire(False, timeout, blocking)
        try:
            yield self
        finally:
            self.release()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            try:
                raw.release()
            except Exception:
                pass


class Semaphore(_Leased):
    """At most ``slots`` holders at once, across processes: the CLI's ``--slots``.

    The slots are the lock files ``<path>.slot0`` … ``<path>.slot<N-1>``; a
    holder locks one that is free, and the kernel frees it when the holder
    dies. Every user must give the same ``path`` and ``slots``. One object is
    one holder: ``with Semaphore(p, 4):``, or ``acquire()`` / ``release()``.
    :class:`jlock.Timeout` when no slot frees within ``timeout`` seconds
    (negative: wait forever). A wait checks every slot with a short back-off
    (``flock(2)`` cannot wait for any one of N files) and can be interrupted
    by Ctrl-C. An ``etcd://`` ``path`` (built with etcd) is the etcd semaphore of
    ``jlock run --slots N etcd://...`` (leased, ``ttl`` seconds; see :class:`FileLock`).
    """

    def __init__(
        self,
        path: PathLike,
        slots: int,
        timeout: float = -1,
        *,
        blocking: bool = True,
        poll_interval: float = 0.05,
        ttl: Optional[float] = None,
    ) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be an int of at least 1, not {slots!r}")
        self._path = os.fspath(path)
        self._raw = _raw(self._path, ttl, slots)
        self.timeout = _check_timeout(timeout)
        self.blocking = bool(blocking)
        self.poll_interval = float(poll_interval)
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._raw.after_fork()

    @property
    def path(self) -> str:
        """The path the slot files are named after."""
        return self._path

    @property
    def slots(self) -> int:
        """The number of slots."""
        return self._raw.slots

    @property
    def slot(self) -> Optional[int]:
        """The slot this object holds, from 0; ``None`` if it holds none."""
        return self._raw.slot

    @property
    def is_locked(self) -> bool:
        """Whether this object holds a slot."""
        return self._raw.is_locked

    def acquire(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> AcquireReturnProxy["Semaphore"]:
        """Take a free slot; :class:`jlock.Timeout` if none frees in time."""
        t = self.timeout if timeout is None else _check_timeout(timeout)
        block = self.blocking if blocking is None else bool(blocking)
        self._raw.acquire(
            timeout=None if t < 0 else t, blocking=block, poll_interval=self.poll_interval
        )
        return AcquireReturnProxy(self)

    def release(self) -> None:
        """Free the slot held (nothing if none is)."""
        self._raw.release()

    def __enter__(self) -> "Semaphore":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.release()


__all__ = [
    "AcquireReturnProxy",
    "FileLock",
    "ReadWriteLock",
    "Semaphore",
    "SoftFileLock",
    "UnixFileLock",
]
