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

import asyncio
import inspect
import os
import threading
import time
import warnings
import weakref
from contextlib import ContextDecorator, contextmanager
from types import TracebackType
from typing import Any, Callable, Generic, Iterable, Iterator, Optional, Type, TypeVar, Union

from . import _jlock
from ._errors import Timeout, UsageError
from ._jlock import RawLock, RawLockSet, RawSemaphore

#: The etcd lock primitive (None in a build without etcd).
RawEtcdLock: Any = getattr(_jlock, "RawEtcdLock", None)

NO_ETCD = (
    "etcd:// targets need the jlock package built with etcd: "
    "pip install ./crates/py --config-settings=build-args=--features=etcd "
    "(jlock.HAS_ETCD is False)"
)


def _is_etcd(path: str) -> bool:
    return path.startswith(("etcd://", "etcds://"))


def _raw(
    path: str, ttl: Optional[float], slots: Optional[int] = None, connection: Optional[dict] = None
) -> Any:
    """The lock primitive for `path`: an etcd lock for an etcd:// target, else flock(2).
    ``connection``: the etcd target's ``cacert``, ``cert``, ``key``, ``connect_timeout``."""
    given = {k: v for k, v in (connection or {}).items() if v is not None}
    if _is_etcd(path):
        if RawEtcdLock is None:
            raise UsageError(NO_ETCD)
        return RawEtcdLock(path, slots, ttl, **given)
    if ttl is not None:
        raise UsageError(f"{path}: ttl applies to etcd:// targets, not to lock files")
    if given:
        raise UsageError(f"{path}: {', '.join(given)} apply to etcd:// targets, not to lock files")
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


#: py-filelock's "no mode given": the lock file is created 0666 less the umask.
UNSET_FILE_MODE = -1


def _check_mode(mode: Any) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int, not {type(mode).__name__}")
    if mode != UNSET_FILE_MODE and not 0 <= mode <= 0o777:
        raise ValueError(f"mode={mode:#o} must be within 0o000-0o777")
    return mode


def _create_with_mode(path: str, mode: int) -> None:
    """Create the lock file with exactly ``mode`` (``fchmod``, as py-filelock does,
    so the umask does not apply) if it does not exist yet; an existing file is left
    as it is. ``O_EXCL | O_NOFOLLOW``: a file or symlink planted meanwhile is not
    touched, and jlock-core's own checks apply when it opens the file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


class _SingletonMeta(type):
    """``is_singleton=True``: one object per lock file and class, as py-filelock's.

    The key is the lock file's real path (``os.path.realpath``: ``./a`` and ``a``
    and a symlink to it are one lock); the instance is held weakly, so it goes
    when nobody uses it. Asking again with other arguments is a ``ValueError``
    naming them (py-filelock's message).
    """

    def __call__(cls, lock_file: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("is_singleton", False):
            return super().__call__(lock_file, *args, **kwargs)
        path = os.fspath(lock_file)
        key = path if _is_etcd(path) else os.path.realpath(path)
        try:
            bound = inspect.signature(cls.__init__).bind(None, lock_file, *args, **kwargs)
        except TypeError:
            return super().__call__(lock_file, *args, **kwargs)  # let __init__ say what is wrong
        bound.apply_defaults()
        options = {k: v for k, v in bound.arguments.items() if k not in ("self", "lock_file")}
        instances = cls.__dict__.get("_instances")
        if instances is None:
            instances = weakref.WeakValueDictionary()
            setattr(cls, "_instances", instances)
        with _SINGLETONS:
            found = instances.get(key)
            if found is None:
                found = super().__call__(lock_file, *args, **kwargs)
                found._singleton_options = options
                instances[key] = found
                return found
        existing = getattr(found, "_singleton_options", {})
        differ = [k for k in options if k in existing and existing[k] != options[k]]
        if differ:
            lines = "".join(
                f"\n\t{k} (existing lock has {existing[k]} but {options[k]} was passed)" for k in differ
            )
            raise ValueError(
                "Singleton lock instances cannot be initialized with differing arguments\n"
                f"Non-matching arguments: {lines}"
            )
        return found


#: Serializes the construction of singletons (of every class).
_SINGLETONS = threading.RLock()


class _Context:
    """One hold of a :class:`FileLock`: the lock primitive, its counter, the
    settings (per thread when the lock is thread-local, as py-filelock's), and a
    mutex serializing this hold's first acquisition by several threads."""

    __slots__ = ("raw", "counter", "entry", "timeout", "blocking", "poll_interval", "__weakref__")

    def __init__(self, raw: Any, timeout: float, blocking: bool, poll_interval: float) -> None:
        self.raw = raw
        self.counter = 0
        self.entry = threading.Lock()
        self.timeout = timeout
        self.blocking = blocking
        self.poll_interval = poll_interval


class FileLock(ContextDecorator, _Leased, metaclass=_SingletonMeta):
    """An exclusive ``flock(2)`` lock on ``lock_file``, re-entrant per holder.

    The same constructor, methods and properties as py-filelock's ``FileLock``:
    ``acquire(timeout=None, poll_interval=0.05, *, blocking=None, cancel_check=None)``
    returns a proxy usable in ``with``; ``release(force=False)``; ``is_locked``,
    ``lock_counter``, ``lock_file``, ``timeout``, ``blocking``, ``mode``,
    ``is_singleton``, ``is_thread_local()``. Acquiring twice counts
    (``lock_counter`` 2) and takes the lock once; it is freed when it has been
    released as many times. As py-filelock's, a ``FileLock`` is also a
    decorator: ``@lock`` runs the function holding it.

    ``timeout``: seconds to wait (negative: forever, the default; ``0``: one
    attempt); ``blocking=False``: one attempt. Both raise :class:`jlock.Timeout`.
    A wait queues in the kernel, so the lock is handed over as soon as it is
    free; ``poll_interval`` only says how often the wait looks for Ctrl-C
    (clamped to 0.01–0.1 s) and, with ``cancel_check``, how often it asks it.

    ``thread_local=True`` (the default, as py-filelock's): each thread has its
    own hold, counter and settings, so threads using one object exclude each
    other as processes do. ``thread_local=False``: one hold for the object,
    whatever thread uses it (a second thread's acquire counts on it).

    ``mode``: the permission bits of a lock file this creates, exactly (the
    umask does not apply, as py-filelock's ``fchmod``); an existing file keeps
    its own. Unset (``-1``): 0666 less the umask, as ``flock(1)`` creates it.
    ``is_singleton=True``: constructing again with the same path returns the same
    object. ``lifetime`` is accepted and ignored with a warning, as by
    py-filelock's ``UnixFileLock``: a ``flock(2)`` lock cannot safely be broken by
    age; the kernel frees it when its holder dies. The lock file is never deleted.

    ``etcd://HOST:PORT[,...]/NAME`` (built with etcd): a leased etcd lock
    (``ttl``: the lease's, in seconds, default 10); see :class:`_Leased`.
    ``cacert``, ``cert``, ``key`` (PEM files; ``etcds://``, built with etcd-tls)
    and ``connect_timeout`` (seconds) are the CLI's ``--cacert``, ``--cert``,
    ``--key`` and ``--connect-timeout``, for etcd targets only.
    """

    def __init__(
        self,
        lock_file: PathLike,
        timeout: float = -1,
        mode: int = UNSET_FILE_MODE,
        thread_local: bool = True,
        *,
        blocking: bool = True,
        is_singleton: bool = False,
        poll_interval: float = 0.05,
        lifetime: Optional[float] = None,
        context_error_policy: str = "chain",
        close_error_policy: str = "default",
        fallback_to_soft: bool = True,
        preserve_lock_file: bool = False,
        on_acquired: Optional[Any] = None,
        ttl: Optional[float] = None,
        cacert: Optional[PathLike] = None,
        cert: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        connect_timeout: Optional[float] = None,
    ) -> None:
        if getattr(self, "_initialized", False):
            return  # a singleton constructed again by a subclass's __init__
        self._path = os.fspath(lock_file)
        self._ttl = ttl
        self._connection = {"cacert": cacert, "cert": cert, "key": key, "connect_timeout": connect_timeout}
        self._mode = _check_mode(mode)
        if lifetime is not None:
            if isinstance(lifetime, bool) or not float(lifetime) >= 0 or float(lifetime) == float("inf"):
                raise ValueError(f"lifetime must be finite and non-negative, not {lifetime!r}")
            warnings.warn(
                f"lifetime is ignored for {type(self).__name__}: a flock(2) lock cannot be broken "
                "safely by file age (the kernel frees it when its holder exits)",
                stacklevel=3,
            )
        if on_acquired is not None:
            raise ValueError(
                f"on_acquired is not supported by {type(self).__name__} (the descriptor is jlock-core's)"
            )
        self._is_singleton = bool(is_singleton)
        self._thread_local = bool(thread_local)
        self._policies = (context_error_policy, close_error_policy, bool(fallback_to_soft))
        self._preserve_lock_file = bool(preserve_lock_file)
        self._defaults = (_check_timeout(timeout), _check_blocking(blocking), float(poll_interval))
        # Every hold of this object (one per thread when thread-local), so that a
        # forked child forgets them all; the ones held are kept alive here, so that
        # a thread's context cleared by fork cannot be dropped (which would unlock
        # the parent's lock) before jlock's fork hook has made it forget.
        self._contexts: "weakref.WeakSet[_Context]" = weakref.WeakSet()
        self._held: "set[_Context]" = set()
        self._local = threading.local()
        # The constructing thread's hold (the only one unless thread-local), made
        # now so that a bad path or option is an error here, not at acquire.
        first = self._new_context()
        self._shared_ctx = None if self._thread_local else first
        if self._thread_local:
            self._local.ctx = first
        self._initialized = True
        _LIVE.add(self)

    def _new_context(self) -> _Context:
        ctx = _Context(_raw(self._path, self._ttl, None, self._connection), *self._defaults)
        self._contexts.add(ctx)
        return ctx

    def _ctx(self) -> _Context:
        if self._shared_ctx is not None:
            return self._shared_ctx
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = self._new_context()
            self._local.ctx = ctx
        return ctx

    @property
    def _raw(self) -> Any:  # type: ignore[override]
        return self._ctx().raw

    def _after_fork(self) -> None:
        for ctx in list(self._contexts):
            ctx.counter = 0
            ctx.entry = threading.Lock()  # a parent's thread may have held it
            ctx.raw.after_fork()
        self._held = set()

    @property
    def lock_file(self) -> str:
        """The path of the lock file."""
        return self._path

    @property
    def timeout(self) -> float:
        """The default timeout of ``acquire``, in seconds (negative: wait forever)."""
        return self._ctx().timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._ctx().timeout = _check_timeout(value)

    @property
    def blocking(self) -> bool:
        """Whether ``acquire`` waits by default."""
        return self._ctx().blocking

    @blocking.setter
    def blocking(self, value: bool) -> None:
        self._ctx().blocking = _check_blocking(value)

    @property
    def poll_interval(self) -> float:
        """How often a wait checks for Ctrl-C (and ``cancel_check``), by default (seconds)."""
        return self._ctx().poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self._ctx().poll_interval = float(value)

    @property
    def mode(self) -> int:
        """The permission bits a created lock file gets (``-1``: unset, 0666 less the umask)."""
        return self._mode

    @property
    def has_explicit_mode(self) -> bool:
        """Whether a ``mode`` was given."""
        return self._mode != UNSET_FILE_MODE

    @property
    def is_singleton(self) -> bool:
        """Whether this object is the one for its path (``is_singleton=True``)."""
        return self._is_singleton

    def is_thread_local(self) -> bool:
        """Whether each thread has its own hold of this object (``thread_local``)."""
        return self._thread_local

    @property
    def lifetime(self) -> None:
        """Always ``None``: a ``flock(2)`` lock does not expire by age."""
        return None

    @property
    def preserve_lock_file(self) -> bool:
        """As given; the lock file is never deleted, whatever it says."""
        return self._preserve_lock_file

    @property
    def context_error_policy(self) -> str:
        """As given (py-filelock compatibility; nothing else to chain here)."""
        return self._policies[0]

    @property
    def close_error_policy(self) -> str:
        """As given (py-filelock compatibility)."""
        return self._policies[1]

    @property
    def fallback_to_soft(self) -> bool:
        """As given: jlock never falls back to a soft lock (no ``flock(2)`` is an error)."""
        return self._policies[2]

    @property
    def on_acquired(self) -> None:
        """Always ``None`` (not supported)."""
        return None

    @property
    def is_locked(self) -> bool:
        """Whether this object holds the lock (in this thread, when thread-local)."""
        return self._ctx().counter > 0

    @property
    def is_lock_held_by_us(self) -> bool:
        """Whether this object holds the lock (as :attr:`is_locked`)."""
        return self.is_locked

    @property
    def lock_counter(self) -> int:
        """How many times this object has acquired the lock without releasing it."""
        return self._ctx().counter

    def _prepare(self) -> None:
        if self._mode != UNSET_FILE_MODE and not _is_etcd(self._path):
            _create_with_mode(self._path, self._mode)

    def acquire(
        self,
        timeout: Optional[float] = None,
        poll_interval: Optional[float] = None,
        *,
        poll_intervall: Optional[float] = None,
        blocking: Optional[bool] = None,
        cancel_check: Optional[Callable[[], bool]] = None,
    ) -> AcquireReturnProxy["FileLock"]:
        """Acquire the lock (again, if this object holds it: the counter goes up).

        :param timeout: seconds to wait; negative: forever; ``None``: the object's ``timeout``
        :param poll_interval: how often a wait checks for Ctrl-C; ``None``: the object's
        :param poll_intervall: py-filelock's old spelling of ``poll_interval``
        :param blocking: ``False`` makes one attempt; ``None``: the object's ``blocking``
        :param cancel_check: called every ``poll_interval`` while waiting; ``True`` ends
            the wait with :class:`jlock.Timeout`
        :returns: a proxy whose ``with`` block releases the lock at its end
        :raises jlock.Timeout: the lock was not free in time
        """
        ctx = self._ctx()
        t = ctx.timeout if timeout is None else _check_timeout(timeout)
        if poll_interval is None:
            poll_interval = ctx.poll_interval if poll_intervall is None else poll_intervall
        block = ctx.blocking if blocking is None else _check_blocking(blocking)
        # Another thread may be taking this hold: wait for it (within the
        # timeout), then count this acquisition on its hold.
        if not ctx.entry.acquire(block, t if block and t >= 0 else -1):
            raise Timeout(self._path)
        try:
            if ctx.counter > 0:
                self.check()  # an etcd lock lost meanwhile: LockLost
                ctx.counter += 1
                return AcquireReturnProxy(self)
            self._prepare()
            if cancel_check is None or not block:
                ctx.raw.acquire(False, None if t < 0 else t, block, float(poll_interval))
            else:
                _acquire_cancellable(ctx.raw, self._path, t, float(poll_interval), cancel_check)
            ctx.counter = 1
            self._held.add(ctx)
        except BaseException:
            # A KeyboardInterrupt just after the lock was taken: give it back.
            if ctx.counter == 0:
                ctx.raw.release()
            raise
        finally:
            ctx.entry.release()
        return AcquireReturnProxy(self)

    def release(self, force: bool = False) -> None:
        """Release one acquisition (all of them if ``force``); the last one frees the lock."""
        ctx = self._ctx()
        if ctx.counter == 0:
            return
        with ctx.entry:
            if ctx.counter == 0:
                return
            ctx.counter = 0 if force else ctx.counter - 1
            if ctx.counter == 0:
                self._held.discard(ctx)
                ctx.raw.release()

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
        for ctx in list(getattr(self, "_contexts", ())):
            try:
                ctx.raw.release()
            except Exception:
                pass  # a lost etcd lock: nobody to tell

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._path!r}, locked={self.is_locked})"


def _check_blocking(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"blocking must be a bool, not {type(value).__name__}")
    return value


def _acquire_cancellable(
    raw: Any, path: str, timeout: float, poll_interval: float, cancel_check: Callable[[], bool]
) -> None:
    """A wait in slices of ``poll_interval``, asking ``cancel_check`` between two:
    ``True`` ends it with :class:`Timeout` (nothing held)."""
    deadline = None if timeout < 0 else time.monotonic() + timeout
    slice_ = min(max(poll_interval, 0.01), 0.1)
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise Timeout(path)
        try:
            raw.acquire(False, slice_ if left is None else min(slice_, left), True, slice_)
            return
        except Timeout:
            if cancel_check():
                raise


class AsyncAcquireReturnProxy:
    """What ``await lock.acquire()`` returns: ``async with`` it releases on exit."""

    def __init__(self, lock: "AsyncFileLock") -> None:
        self.lock = lock

    async def __aenter__(self) -> "AsyncFileLock":
        return self.lock

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.lock.release()


class AsyncFileLock(FileLock):
    """:class:`FileLock` for asyncio, as py-filelock's ``AsyncFileLock``.

    ``async with lock:``, ``await lock.acquire(timeout=...)`` (a proxy usable in
    ``async with``) and ``await lock.release()``. A wait makes one non-blocking
    attempt every ``poll_interval`` seconds and sleeps in between with
    ``asyncio.sleep``, so the event loop runs on; a task cancelled while waiting
    holds nothing (the lock is only ever taken by an attempt that returns at
    once). ``thread_local`` is ``False`` by default (py-filelock's): the object's
    hold is shared by the tasks of its event loop, a second task's acquire
    counting on it. ``loop``, ``run_in_executor`` and ``executor`` are accepted
    for py-filelock compatibility; an attempt never blocks, so none is needed.
    A plain ``with`` raises ``NotImplementedError``.
    """

    def __init__(
        self,
        lock_file: PathLike,
        timeout: float = -1,
        mode: int = UNSET_FILE_MODE,
        thread_local: bool = False,
        *,
        blocking: bool = True,
        is_singleton: bool = False,
        poll_interval: float = 0.05,
        lifetime: Optional[float] = None,
        context_error_policy: str = "chain",
        close_error_policy: str = "default",
        fallback_to_soft: bool = True,
        preserve_lock_file: bool = False,
        on_acquired: Optional[Any] = None,
        ttl: Optional[float] = None,
        cacert: Optional[PathLike] = None,
        cert: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        connect_timeout: Optional[float] = None,
        loop: Optional[Any] = None,
        run_in_executor: bool = True,
        executor: Optional[Any] = None,
    ) -> None:
        if getattr(self, "_initialized", False):
            return
        super().__init__(
            lock_file,
            timeout,
            mode,
            thread_local,
            blocking=blocking,
            is_singleton=is_singleton,
            poll_interval=poll_interval,
            lifetime=lifetime,
            context_error_policy=context_error_policy,
            close_error_policy=close_error_policy,
            fallback_to_soft=fallback_to_soft,
            preserve_lock_file=preserve_lock_file,
            on_acquired=on_acquired,
            ttl=ttl,
            cacert=cacert,
            cert=cert,
            key=key,
            connect_timeout=connect_timeout,
        )
        self._loop = loop
        self._run_in_executor = bool(run_in_executor)
        self._executor = executor

    @property
    def loop(self) -> Optional[Any]:
        """The event loop given, if any."""
        return self._loop

    @property
    def run_in_executor(self) -> bool:
        """As given (an attempt never blocks, so it runs on the loop either way)."""
        return self._run_in_executor

    @property
    def executor(self) -> Optional[Any]:
        """As given."""
        return self._executor

    async def acquire(  # type: ignore[override]
        self,
        timeout: Optional[float] = None,
        poll_interval: Optional[float] = None,
        *,
        blocking: Optional[bool] = None,
        cancel_check: Optional[Callable[[], bool]] = None,
    ) -> AsyncAcquireReturnProxy:
        """Acquire the lock without blocking the event loop (see the class).

        :raises jlock.Timeout: not free within ``timeout`` seconds, at once when not
            blocking, or when ``cancel_check()`` said so
        """
        ctx = self._ctx()
        t = ctx.timeout if timeout is None else _check_timeout(timeout)
        poll = ctx.poll_interval if poll_interval is None else float(poll_interval)
        block = ctx.blocking if blocking is None else _check_blocking(blocking)
        start = time.monotonic()
        while True:
            # No await between the look at the counter and the attempt: no other
            # task of this loop can take the hold in between.
            if ctx.counter > 0:
                self.check()
                ctx.counter += 1
                return AsyncAcquireReturnProxy(self)
            if not ctx.entry.acquire(False):
                pass  # another thread is taking this hold: try again after a sleep
            else:
                try:
                    self._prepare()
                    ctx.raw.acquire(False, None, False, poll)
                    ctx.counter = 1
                    self._held.add(ctx)
                    return AsyncAcquireReturnProxy(self)
                except Timeout:
                    pass
                finally:
                    ctx.entry.release()
            if not block or (t >= 0 and time.monotonic() - start >= t):
                raise Timeout(self._path)
            if cancel_check is not None and cancel_check():
                raise Timeout(self._path)
            await asyncio.sleep(poll if t < 0 else max(0.0, min(poll, t - (time.monotonic() - start))))

    async def release(self, force: bool = False) -> None:  # type: ignore[override]
        """Release one acquisition (all if ``force``); the last one frees the lock."""
        FileLock.release(self, force)

    async def __aenter__(self) -> "AsyncFileLock":
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.release()

    def __enter__(self) -> "AsyncFileLock":
        raise NotImplementedError("Do not use `with` for asyncio locks, use `async with` instead.")

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        raise NotImplementedError("Do not use `with` for asyncio locks, use `async with` instead.")


class LockSet:
    """Several lock files taken together: all of them or none (``jlock run A B C --``).

    jlock-core's ``LockSet``: the locks are taken in one canonical order (the
    files' device and inode numbers, whatever order and names they are given
    in), so two holders naming the same locks in different orders cannot
    deadlock; a file named twice is locked once. ``timeout`` is one deadline for
    the whole set (negative: forever; ``0`` or ``blocking=False``: one attempt);
    on a time-out or a conflict none of the locks is held and
    :class:`jlock.Timeout` names the one that was busy. ``shared=True`` takes
    every lock shared. Each lock is a ``flock(2)`` lock, so ``flock(1)``,
    :class:`FileLock` and ``jlock run`` on any one of the files exclude (and are
    excluded by) the set. Re-entrant per object, one hold whatever thread uses it;
    ``with LockSet([a, b]):`` or ``acquire()`` / ``release()``. A wait releases the
    GIL and is interrupted by Ctrl-C, holding nothing. Lock files only (the CLI
    refuses ``etcd://`` targets in a set too).
    """

    def __init__(
        self,
        lock_files: "Iterable[PathLike]",
        shared: bool = False,
        timeout: float = -1,
        *,
        blocking: bool = True,
        poll_interval: float = 0.05,
    ) -> None:
        if isinstance(lock_files, (str, bytes, os.PathLike)):
            raise TypeError("LockSet takes a list of lock files, not one path")
        paths = [os.fspath(p) for p in lock_files]
        for p in paths:
            if _is_etcd(p):
                raise UsageError(
                    f"several locks at once are offered for lock files, not for {p} "
                    "(one etcd:// lock per FileLock)"
                )
        self._paths = paths
        self._raw = RawLockSet(paths)
        self._shared = bool(shared)
        self.timeout = _check_timeout(timeout)
        self.blocking = _check_blocking(blocking)
        self.poll_interval = float(poll_interval)
        self._counter = 0
        self._entry = threading.Lock()
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._counter = 0
        self._entry = threading.Lock()
        self._raw.after_fork()

    @property
    def lock_files(self) -> "list[str]":
        """The lock files' paths, as given."""
        return list(self._paths)

    @property
    def shared(self) -> bool:
        """Whether the locks are taken shared."""
        return self._shared

    @property
    def is_locked(self) -> bool:
        """Whether this object holds the locks."""
        return self._counter > 0

    @property
    def lock_counter(self) -> int:
        """How many acquisitions this object holds."""
        return self._counter

    def acquire(
        self, timeout: Optional[float] = None, *, blocking: Optional[bool] = None
    ) -> AcquireReturnProxy["LockSet"]:
        """Take every lock, or none; :class:`jlock.Timeout` when they are not all free in time."""
        t = self.timeout if timeout is None else _check_timeout(timeout)
        block = self.blocking if blocking is None else _check_blocking(blocking)
        if not self._entry.acquire(block, t if block and t >= 0 else -1):
            raise Timeout(self._paths[0])
        try:
            if self._counter > 0:
                self._counter += 1
                return AcquireReturnProxy(self)
            self._raw.acquire(self._shared, None if t < 0 else t, block, self.poll_interval)
            self._counter = 1
        except BaseException:
            if self._counter == 0:
                self._raw.release()
            raise
        finally:
            self._entry.release()
        return AcquireReturnProxy(self)

    def release(self, force: bool = False) -> None:
        """Release one acquisition (all if ``force``); the last one frees every lock."""
        if self._counter == 0:
            return
        with self._entry:
            if self._counter == 0:
                return
            self._counter = 0 if force else self._counter - 1
            if self._counter == 0:
                self._raw.release()

    def __enter__(self) -> "LockSet":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"LockSet({self._paths!r}, shared={self._shared}, locked={self.is_locked})"


#: py-filelock's names for the flock(2) lock: all of them are :class:`FileLock` here.
BaseFileLock = FileLock
UnixFileLock = FileLock
SoftFileLock = FileLock
#: py-filelock's names for the asyncio lock: all of them are :class:`AsyncFileLock` here.
BaseAsyncFileLock = AsyncFileLock
AsyncUnixFileLock = AsyncFileLock
AsyncSoftFileLock = AsyncFileLock


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
        cacert: Optional[PathLike] = None,
        cert: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        connect_timeout: Optional[float] = None,
    ) -> None:
        self._path = os.fspath(lock_file)
        connection = {"cacert": cacert, "cert": cert, "key": key, "connect_timeout": connect_timeout}
        self._raw = _raw(self._path, ttl, None, connection)
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
        cacert: Optional[PathLike] = None,
        cert: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        connect_timeout: Optional[float] = None,
    ) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be an int of at least 1, not {slots!r}")
        self._path = os.fspath(path)
        connection = {"cacert": cacert, "cert": cert, "key": key, "connect_timeout": connect_timeout}
        self._raw = _raw(self._path, ttl, slots, connection)
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
    "AsyncAcquireReturnProxy",
    "AsyncFileLock",
    "AsyncSoftFileLock",
    "AsyncUnixFileLock",
    "BaseAsyncFileLock",
    "BaseFileLock",
    "FileLock",
    "LockSet",
    "ReadWriteLock",
    "Semaphore",
    "SoftFileLock",
    "UnixFileLock",
]
