"""What a Python user writes to share a JSON counter between processes:
filelock around json.load, a temp file and os.replace. Prints "ops seconds ops/s".

    python filelock_counter.py DIR N
"""
import json
import os
import sys
import tempfile
import time

from filelock import FileLock

directory, n = sys.argv[1], int(sys.argv[2])
path = os.path.join(directory, "py.json")
lock = FileLock(path + ".lock")
with open(path, "w") as f:
    json.dump({"count": 0}, f)

start = time.perf_counter()
for _ in range(n):
    with lock:
        with open(path) as f:
            doc = json.load(f)
        doc["count"] += 1
        fd, tmp = tempfile.mkstemp(dir=directory)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
seconds = time.perf_counter() - start

with open(path) as f:
    assert json.load(f)["count"] == n, "lost updates"
print(f"{n} {seconds:.6f} {n / seconds:.1f}")
