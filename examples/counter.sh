#!/bin/sh
# JOBS background jobs each add 1 to one counter file TIMES times with
# `jlock incr`; then check that not one increment was lost.
#   usage: examples/counter.sh [JOBS] [TIMES]      (defaults: 8 100)
#   JLOCK=path/to/jlock picks the binary (default: jlock on PATH, else target/release/jlock)
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
. "$(dirname "$0")/counter-common.sh"

increment() {
    "$JLOCK" incr "$counter" >/dev/null
}

run_counter "jlock incr:"
[ "$total" -eq "$expected" ]
