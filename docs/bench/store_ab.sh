#!/usr/bin/env bash
# In-process store rates of two jlock builds side by side: `jlock bench` of one
# approach at a time (1 process, the bare counter), the builds alternating within
# each round, ROUNDS rounds (default 5); prints each approach's median ops/s and
# the ratio AFTER/BEFORE.
#
#   bash docs/bench/store_ab.sh BEFORE AFTER [ROUNDS]
set -euo pipefail
before=$1 after=$2 rounds=${3:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
    for b in "$before" "$after"; do
        for a in store:journal store:rename store:fsync; do
            v=$("$b" bench --procs 1 --sizes counter --approaches "$a" --json |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["ops_per_sec"])')
            echo "$b $a $v" >>"$out"
        done
    done
done
python3 - "$before" "$after" "$out" <<'PY'
import collections, statistics, sys
before, after, path = sys.argv[1:]
d = collections.defaultdict(list)
for line in open(path):
    b, a, v = line.split()
    d[(a, b)].append(float(v))
for a in ["store:journal", "store:rename", "store:fsync"]:
    o, n = statistics.median(d[(a, before)]), statistics.median(d[(a, after)])
    print(f"{a:14} before {o:9.0f}  after {n:9.0f} ops/s   after/before {n / o:.2f}")
PY
