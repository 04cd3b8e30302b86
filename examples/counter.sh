#!/bin/sh
# JOBS background jobs each add 1 to one counter file TIMES times with
# `jlock incr`; then check that not one increment was lost.
#   usage: examples/counter.sh [JOBS] [TIMES]      (defaults: 8 100)
#   JLOCK=path/to/jlock picks the binary (default: jlock on PATH, else target/release/jlock)
set -eu
jobs=${1:-8}
times=${2:-100}
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

start=$(date +%s.%N)
i=0
while [ "$i" -lt "$jobs" ]; do
    (
        j=0
        while [ "$j" -lt "$times" ]; do
            "$JLOCK" incr "$dir/counter.json" >/dev/null
            j=$((j + 1))
        done
    ) &
    i=$((i + 1))
done
wait
end=$(date +%s.%N)

total=$(cat "$dir/counter.json")
expected=$((jobs * times))
awk -v t="$total" -v e="$expected" -v s="$start" -v f="$end" 'BEGIN {
    printf "jlock incr:   %d of %d increments (%d lost) in %.2f s, %.2f ms per increment\n",
        t, e, e - t, f - s, (f - s) * 1000 / e }'
[ "$total" -eq "$expected" ]
