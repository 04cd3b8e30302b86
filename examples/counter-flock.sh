#!/bin/sh
# The same counter with util-linux flock(1) and sh, the way scripts do it
# without jlock: a lock file, then cat, shell arithmetic and a redirect.
#   usage: examples/counter-flock.sh [JOBS] [TIMES]      (defaults: 8 100)
. "$(dirname "$0")/counter-common.sh"

increment() {
    flock "$counter.lock" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"' sh "$counter"
}

run_counter "flock + sh:"
[ "$total" -eq "$expected" ]
