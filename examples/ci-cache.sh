#!/bin/sh
# Cookbook: a cache shared by parallel CI jobs on one runner.
# The first job to need the cache fills it under the exclusive lock; the
# others wait for that, then use it together under shared locks:
#   jlock run ~/.cache/deps.lock -c '[ -e ~/.cache/deps/ready ] || fetch-deps'
#   jlock run -s ~/.cache/deps.lock -- make test
#   usage: examples/ci-cache.sh [JOBS]      (default 4)
set -eu
jobs=${1:-4}
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/cache"

i=0
while [ "$i" -lt "$jobs" ]; do
    (
        "$JLOCK" run "$dir/cache.lock" -c \
            "[ -e '$dir/cache/ready' ] || { sleep 0.3; echo filled >> '$dir/log'; touch '$dir/cache/ready'; }"
        "$JLOCK" run -s "$dir/cache.lock" -c \
            "[ -e '$dir/cache/ready' ] && echo used >> '$dir/log'"
    ) &
    i=$((i + 1))
done
wait

filled=$(grep -c filled "$dir/log")
used=$(grep -c used "$dir/log")
echo "ci-cache: filled $filled time(s), used by $used of $jobs jobs"
[ "$filled" -eq 1 ] && [ "$used" -eq "$jobs" ]
