# Shared by counter.sh, counter-flock.sh and counter-nolock.sh (sourced, not
# run): the jobs, the timing and the report; each script brings only its
# `increment` function, which adds 1 to the file "$counter".
#   usage of those scripts: SCRIPT [JOBS] [TIMES]      (defaults: 8 100)
set -eu
jobs=${1:-8}
times=${2:-100}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
counter="$dir/counter"
echo 0 >"$counter"

# run_counter LABEL: JOBS background jobs each call `increment` TIMES times;
# then prints what was counted, what was lost and how long it took, and sets
# $total and $expected.
run_counter() {
    start=$(date +%s.%N)
    i=0
    while [ "$i" -lt "$jobs" ]; do
        (
            j=0
            while [ "$j" -lt "$times" ]; do
                increment
                j=$((j + 1))
            done
        ) &
        i=$((i + 1))
    done
    wait
    end=$(date +%s.%N)
    total=$(cat "$counter")
    expected=$((jobs * times))
    awk -v l="$1" -v t="$total" -v e="$expected" -v s="$start" -v f="$end" 'BEGIN {
        printf "%-13s %d of %d increments (%d lost) in %.2f s, %.2f ms per increment\n",
            l, t, e, e - t, f - s, (f - s) * 1000 / e }'
}
