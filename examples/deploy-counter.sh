#!/bin/sh
# Cookbook: a deploy counter. Every deploy takes the next number and records
# itself, even when several deploy at once:
#   n=$(jlock incr /srv/deploys.json .count)
#   jlock set /srv/deploys.json .last "{\"n\": $n, \"by\": \"$USER\"}"
#   usage: examples/deploy-counter.sh [DEPLOYS]      (default 6)
set -eu
deploys=${1:-6}
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
db="$dir/deploys.json"

i=0
while [ "$i" -lt "$deploys" ]; do
    (
        n=$("$JLOCK" incr "$db" .count)
        "$JLOCK" set "$db" ".history[$((n - 1))]" "\"deploy $i got number $n\""
        echo "$n" >>"$dir/numbers"
    ) &
    i=$((i + 1))
done
wait

count=$("$JLOCK" get "$db" .count)
distinct=$(sort -n "$dir/numbers" | uniq | wc -l)
echo "deploy-counter: $deploys deploys, counter at $count, $distinct distinct numbers"
"$JLOCK" get -r "$db" .history[0]
[ "$count" -eq "$deploys" ] && [ "$distinct" -eq "$deploys" ]
