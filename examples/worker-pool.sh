#!/bin/sh
# Cookbook: a pool of shell workers fed by a queue in a JSON file.
#   jlock push queue.json .todo JOB…                     # producers
#   job=$(jlock pop -c --to ".doing.$me" queue.json .todo)  # a worker takes one
#   … work …; jlock del queue.json ".doing.$me"           # … and acknowledges it
# Each worker's in-progress list holds the one job it is on: a worker that
# dies (kill -9) between taking a job and finishing it leaves the job there,
# and pushes it back first thing when it starts again.
#   usage: examples/worker-pool.sh [WORKERS] [JOBS]     (default 4 and 40)
set -eu
workers=${1:-4}
jobs=${2:-40}
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
q=$dir/queue.json

recover() { # recover NAME: push back what an earlier life of worker NAME left in progress
    while "$JLOCK" pop -n -q --to .todo "$q" ".doing.$1" >/dev/null; do :; done
}

worker() { # worker NAME
    me=$1
    while job=$("$JLOCK" pop -c --to ".doing.$me" "$q" .todo); do
        [ "$job" = '"stop"' ] && { "$JLOCK" del "$q" ".doing.$me"; break; }
        echo "$me $job $((job * job))" >> "$dir/done"      # the work
        "$JLOCK" del "$q" ".doing.$me"                     # the acknowledgement
    done
}

# The jobs, 1 to JOBS, pushed in one update; then one stop per worker.
"$JLOCK" push "$q" .todo $(seq 1 "$jobs")

# Worker w0 takes a job and is killed -9 before it finishes it.
{ sh -c '"$0" pop --to .doing.w0 "$1" .todo > /dev/null; kill -9 $$' "$JLOCK" "$q" || true; } 2>/dev/null
stranded=$("$JLOCK" get -c "$q" .doing.w0)

i=0
while [ "$i" -lt "$workers" ]; do
    recover "w$i"       # before the stops are pushed: a recovered job goes first
    worker "w$i" &
    i=$((i + 1))
done
i=0
while [ "$i" -lt "$workers" ]; do
    "$JLOCK" push "$q" .todo '"stop"'
    i=$((i + 1))
done
wait

total=$(wc -l < "$dir/done")
distinct=$(cut -d' ' -f2 "$dir/done" | sort -u | wc -l)
left=$("$JLOCK" get -c "$q" .todo)
doing=$("$JLOCK" get -c "$q" .doing)
echo "worker-pool: $jobs jobs, $total done by $workers workers, $distinct distinct;" \
     "w0 was killed holding $stranded and recovered it; left $left, in progress $doing"
[ "$total" -eq "$jobs" ] && [ "$distinct" -eq "$jobs" ] && [ "$left" = '[]' ]
