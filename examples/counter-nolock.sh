#!/bin/sh
# The counter without any lock: read, add, write back, from JOBS jobs at
# once. Increments are lost — and since `>` truncates before it writes, a
# reader can even see an empty file. This script shows the loss; it exits 0.
#   usage: examples/counter-nolock.sh [JOBS] [TIMES]      (defaults: 8 100)
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
            n=$(cat "$dir/counter")
            echo $((${n:-0} + 1)) >"$dir/counter"
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
    printf "no lock:      %d of %d increments (%d lost) in %.2f s, %.2f ms per increment\n",
        t, e, e - t, f - s, (f - s) * 1000 / e }'
