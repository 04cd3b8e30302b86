#!/bin/sh
# Cookbook: at most 2 heavy builds at once on a machine, however many are started:
#   jlock run --slots 2 /tmp/heavy-build -- make -j8
# Each build here counts itself in and out of a shared counter and records
# how many were running; the script checks it never saw more than 2.
#   usage: examples/heavy-builds.sh [BUILDS]      (default 5)
set -eu
builds=${1:-5}
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

i=0
while [ "$i" -lt "$builds" ]; do
    "$JLOCK" run --slots 2 "$dir/heavy-build" -c \
        "'$JLOCK' incr '$dir/running.json' >> '$dir/seen'; sleep 0.3; '$JLOCK' -q incr '$dir/running.json' --by -1" &
    i=$((i + 1))
done
wait

max=$(sort -n "$dir/seen" | tail -n 1)
echo "heavy-builds: $builds builds, at most $max ran at once (limit 2)"
[ "$(wc -l <"$dir/seen")" -eq "$builds" ] && [ "$max" -le 2 ]
