"""jlock: coordinate processes through files.

* :class:`FileLock` — a ``flock(2)`` lock, a superset of py-filelock's
  ``FileLock`` (same names and semantics), which excludes and is excluded by
  py-filelock, ``jlock run`` and util-linux ``flock`` on the same path;
  :class:`ReadWriteLock` (shared / exclusive) and :class:`Semaphore` (N slots).
* :class:`AsyncFileLock` — the same lock for asyncio (``async with``).
* :class:`LockSet` — several lock files at once, all or none, in one
  canonical order (no deadlock), within one deadline.
* :class:`Store` — a JSON file several processes share: ``get``, ``set``,
  ``delete``, ``incr``, ``update``, ``with store.transaction() as doc:``, and
  a work queue in an array (``push``; ``pop``, waiting for a push),
  each atomic and serialized by the lock, crash-safe, and lossless (untouched
  bytes and number spellings stay). The same files and locks as the ``jlock``
  command line (``jlock incr counter.json`` and ``Store("counter.json").incr()``
  can run side by side).

Where a path is accepted, an ``etcd://HOST:PORT[,...]/NAME`` target works too
when the package was built with etcd (:data:`HAS_ETCD`): the store's document
on etcd, and leased locks with a ``fence`` and :class:`LockLost`.

Numbers come back exactly: integers of any size as ``int``; other numbers as
``float`` when a float holds exactly the number written (``0.1``, ``2.5``,
``1E2``), else as ``decimal.Decimal`` (``0.10000000000000000001``, ``1e400``).
"""

from ._errors import (
    BadPathError,
    ConflictError,
    DataError,
    Empty,
    Error,
    EtcdConnectionError,
    EtcdError,
    FileError,
    IndexOutOfRangeError,
    InvalidJSONError,
    LockLost,
    NotWritableError,
    NumberOverflowError,
    RefusedError,
    Timeout,
    UnsafePathError,
    UsageError,
    WrongTypeError,
)
from ._jlock import HAS_ETCD, HAS_ETCD_TLS, Store, Transaction
from ._locks import (
    AcquireReturnProxy,
    AsyncAcquireReturnProxy,
    AsyncFileLock,
    AsyncSoftFileLock,
    AsyncUnixFileLock,
    BaseAsyncFileLock,
    BaseFileLock,
    FileLock,
    LockSet,
    ReadWriteLock,
    Semaphore,
    SoftFileLock,
    UnixFileLock,
)

__version__ = "0.1.0"

__all__ = [
    "AcquireReturnProxy",
    "AsyncAcquireReturnProxy",
    "AsyncFileLock",
    "AsyncSoftFileLock",
    "AsyncUnixFileLock",
    "BadPathError",
    "BaseAsyncFileLock",
    "BaseFileLock",
    "ConflictError",
    "DataError",
    "Empty",
    "Error",
    "EtcdConnectionError",
    "EtcdError",
    "FileError",
    "HAS_ETCD",
    "HAS_ETCD_TLS",
    "FileLock",
    "IndexOutOfRangeError",
    "InvalidJSONError",
    "LockLost",
    "LockSet",
    "NotWritableError",
    "NumberOverflowError",
    "ReadWriteLock",
    "RefusedError",
    "Semaphore",
    "SoftFileLock",
    "Store",
    "Timeout",
    "Transaction",
    "UnixFileLock",
    "UnsafePathError",
    "UsageError",
    "WrongTypeError",
]
