#!/bin/sh
# The counter without any lock: read, add, write back, from JOBS jobs at
# once. Increments are lost — and since `>` truncates before it writes, a
# reader can even see an empty file. This script shows the loss; it exits 0.
#   usage: examples/counter-nolock.sh [JOBS] [TIMES]      (defaults: 8 100)
. "$(dirname "$0")/counter-common.sh"

increment() {
    n=$(cat "$counter")
    echo $((${n:-0} + 1)) >"$counter"
}

run_counter "no lock:"
