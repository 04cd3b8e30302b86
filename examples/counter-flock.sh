#!/bin/sh
# The same counter with util-linux flock(1) and sh, the way scripts do it
# without jlock: a lock file, then cat, shell arithmetic and a redirect.
#   usage: examples/counter-flock.sh [JOBS] [TIMES]      (defaults: 8 100)
set -eu
jobs=${1:-8}
times=${2:-100}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo 0 >"$dir/counter"

start=$(date +%s.%N)
i=0
while [ "$i" -lt "$jobs" ]; do
    (
        j=0
        while [ "$j" -lt "$times" ]; do
            flock "$dir/counter.lock" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"' sh "$dir/counter"
            j=$((j + 1))
        done
    ) &
    i=$((i + 1))
done
wait
end=$(date +%s.%N)

total=$(cat "$dir/counter")
expected=$((jobs * times))
awk -v t="$total" -v e="$expected" -v s="$start" -v f="$end" 'BEGIN {
    printf "flock + sh:   %d of %d increments (%d lost) in %.2f s, %.2f ms per increment\n",
        t, e, e - t, f - s, (f - s) * 1000 / e }'
[ "$total" -eq "$expected" ]
