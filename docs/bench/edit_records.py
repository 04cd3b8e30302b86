#!/usr/bin/env python3
"""One-key edits of a realistic 1 MB document, one jlock process per edit, builds side by side.

The document is what `jlock bench --approaches edit:records` edits: about 6,800
small records (`{"id", "name", "price", "tags", "ok"}`), pretty-printed, 0.99 MB.
Each run restores the file, then times one process (`jlock incr d.json PATH`)
from spawn to exit. Builds and paths are interleaved round by round, so a
change in the machine's load hits every build alike; medians are reported.

    python3 docs/bench/edit_records.py [--runs 21] BUILD [BUILD ...]

e.g. with the build before a change kept as /tmp/jlock-old:
    cargo build --release && python3 docs/bench/edit_records.py /tmp/jlock-old target/release/jlock
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

# The paths edited: the first key, a record deep in the array, and a key that
# does not exist yet (added to the root object).
PATHS = [".count", ".items[6000].price", ".added"]


def document():
    items = [
        {"id": i, "name": f"item-{i}", "price": 12.5, "tags": ["a", "b"], "ok": True}
        for i in range(6800)
    ]
    return json.dumps({"count": 0, "items": items}, indent=2) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("builds", nargs="+")
    args = ap.parse_args()
    builds = [os.path.abspath(b) for b in args.builds]
    with tempfile.TemporaryDirectory() as d:
        orig = os.path.join(d, "orig.json")
        data = os.path.join(d, "d.json")
        with open(orig, "w") as f:
            f.write(document())
        size = os.path.getsize(orig)
        times = {(b, p): [] for b in builds for p in PATHS}
        results = {}
        for _ in range(args.runs):
            for p in PATHS:
                for b in builds:
                    shutil.copyfile(orig, data)
                    t = time.perf_counter()
                    out = subprocess.run([b, "incr", data, p], capture_output=True, check=True)
                    times[(b, p)].append(time.perf_counter() - t)
                    with open(data, "rb") as f:
                        results.setdefault(p, set()).add((out.stdout, f.read()))
        # Every build wrote the same bytes and printed the same value.
        for p, seen in results.items():
            assert len(seen) == 1, f"builds disagree on {p}"
        print(f"document: {size} bytes; {args.runs} runs per build and path; ms per edit (median)")
        print(f"{'path':<22}" + "".join(f"{os.path.basename(os.path.dirname(b)) + '/' + os.path.basename(b):>28}" for b in builds))
        for p in PATHS:
            row = [statistics.median(times[(b, p)]) * 1e3 for b in builds]
            print(f"{p:<22}" + "".join(f"{x:>28.2f}" for x in row))


if __name__ == "__main__":
    main()
