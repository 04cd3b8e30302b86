#!/usr/bin/env bash
# The etcd backend through the jlock CLI, one process per operation (as shell scripts use
# it), against a shell loop of `etcdctl lock` + `etcdctl get`/`put`, and the file backend.
# Starts its own one-member etcd on 127.0.0.1 (data in a temporary directory) and checks
# every final count.
#
#   cargo build --release --features etcd
#   bash crates/etcd/examples/cli_bench.sh target/release/jlock [OPS_PER_PROCESS]
set -euo pipefail
J=$(realpath "$1")
N=${2:-100}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
peer=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
etcd --name b --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "b=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
epid=$!
trap 'kill $epid; wait $epid 2>/dev/null; rm -rf "$dir"' EXIT
export ETCDCTL_API=3 EP=127.0.0.1:$port J
until etcdctl --endpoints=$EP endpoint health >/dev/null 2>&1; do sleep 0.1; done
cd "$dir"

# bench NAME PROCS OPS_EACH SCRIPT CHECK: runs PROCS loops of SCRIPT at once, then CHECK
# must print PROCS*OPS_EACH.
bench() {
    local name=$1 procs=$2 each=$3 script=$4 check=$5
    local t0 t1 pid
    local pids=()
    t0=$(date +%s%N)
    for _ in $(seq "$procs"); do
        (for _ in $(seq "$each"); do eval "$script" || exit 1; done) &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    t1=$(date +%s%N)
    local got
    got=$(eval "$check")
    if [ "$got" != "$((procs * each))" ]; then
        echo "$name: count $got, expected $((procs * each))" >&2
        exit 1
    fi
    awk -v n="$name" -v p="$procs" -v ops=$((procs * each)) -v ns=$((t1 - t0)) \
        'BEGIN { printf "%-52s %3d procs %8.1f ops/s %8.2f ms/op\n", n, p, ops / (ns / 1e9), ns / 1e6 / ops }'
}

E=etcd://$EP
echo 0 >f
bench "etcdctl lock + etcdctl get + etcdctl put" 1 $((N / 5 > 10 ? N / 5 : 10)) \
    "etcdctl --endpoints=\$EP lock shellbench -- sh -c 'v=\$(etcdctl --endpoints=\$EP get --print-value-only shellcount); etcdctl --endpoints=\$EP put shellcount \$(( \${v:-0} + 1 )) >/dev/null'" \
    "etcdctl --endpoints=\$EP get --print-value-only shellcount"
for p in 1 16; do
    each=$((p == 1 ? N : N / 4 > 5 ? N / 4 : 5))
    bench "jlock incr etcd:// (compare-and-swap)" $p $each \
        "\"\$J\" incr -q $E/cas$p" "\"\$J\" get $E/cas$p"
    echo 0 >"f$p"
    bench "jlock run etcd:// -c 'read f; write f+1' (lock)" $p $each \
        "\"\$J\" run $E/lock$p -c 'n=\$(cat f$p); echo \$((n + 1)) > f$p'" "cat f$p"
    bench "jlock incr FILE (file backend)" $p $each \
        "\"\$J\" incr -q file$p.json" "cat file$p.json"
done
