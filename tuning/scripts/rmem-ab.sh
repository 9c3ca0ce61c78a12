#!/usr/bin/env bash
# net.ipv4.tcp_rmem A/B/C: 1 MiB INSTREAMs over TCP loopback (ringscan-perf closed,
# 4 clients, a connection per request, no EICAR: the built-in EICAR signature is a
# whole-file hash, which EICAR inside 1 MiB of noise does not match) against a fresh `ringscan serve --cores 2`
# (built-in database) per setting, settings interleaved A B B' C, twice:
#   A default  "4096 131072 33554432"   (this machine's; autotuning up to 32 MiB)
#   B 1 MiB    "4096 1048576 33554432"  (a 1 MiB upload fits the first window)
#   B' 4 MiB   "4096 4194304 33554432"
#   C small    "4096 16384 65536"       (64 KiB at most: what a tight maximum does)
# Restores tcp_rmem at the end.
# usage: rmem-ab.sh RINGSCAN RINGSCAN_PERF [DURATION]   (root)
set -uo pipefail
bin=$1; perf=$2; dur=${3:-10s}
w=/tmp/tuning-work/rmem; mkdir -p "$w"
orig=$(cat /proc/sys/net/ipv4/tcp_rmem)
trap 'echo "$orig" > /proc/sys/net/ipv4/tcp_rmem' EXIT
port=3360
for round in 1 2; do
  for setting in "4096 131072 33554432" "4096 1048576 33554432" "4096 4194304 33554432" "4096 16384 65536"; do
    echo "$setting" > /proc/sys/net/ipv4/tcp_rmem
    port=$((port - 1))
    "$bin" serve --cores 2 --unix "" --tcp "127.0.0.1:$port" --http "" --no-cache >"$w/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do ss -ltn "( sport = :$port )" | grep -q LISTEN && break; sleep 0.1; done
    sleep 0.3
    echo "== round $round tcp_rmem=\"$setting\""
    "$perf" closed --concurrency 4 --duration "$dur" --warmup 2s --size 1M --eicar-share 0 \
      --target "clamd+tcp:127.0.0.1:$port" --server-pid $pid 2>&1 \
      | grep -E "^(window|errors|throughput|latency|server)"
    kill -TERM $pid; wait $pid
  done
done
echo "tcp_rmem restored to \"$orig\""
