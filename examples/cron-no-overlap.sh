#!/bin/sh
# Cookbook: a cron job that must never overlap with itself.
#   crontab:  */5 * * * *  jlock run -n /tmp/report.lock -- /usr/local/bin/make-report
# If the last run is still going, the new one exits 1 at once, silently (as
# flock -n does), so cron sends no mail. This script starts the job twice at
# once and shows the second one skipped.
#   JLOCK=path/to/jlock picks the binary (default: jlock on PATH, else target/release/jlock)
set -eu
JLOCK=${JLOCK:-$(command -v jlock || echo "$(dirname "$0")/../target/release/jlock")}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
lock="$dir/report.lock"
job="echo started >> '$dir/log'; sleep 1; echo finished >> '$dir/log'"

"$JLOCK" run -n "$lock" -c "$job" &
first=$!
# Wait until the first run holds the lock (jlock status reads the kernel's table).
until "$JLOCK" status --json "$lock" | grep -q '"state":"exclusive"'; do sleep 0.02; done

if "$JLOCK" run -n "$lock" -c "$job"; then
    echo "cron-no-overlap: the second run was NOT skipped"
    exit 1
else
    echo "cron-no-overlap: second run skipped with exit $? while the first ran"
fi
wait "$first"
echo "cron-no-overlap: log: $(tr '\n' ' ' <"$dir/log")"
[ "$(cat "$dir/log")" = "$(printf 'started\nfinished')" ]
