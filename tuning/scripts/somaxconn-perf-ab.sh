#!/usr/bin/env bash
# net.core.somaxconn A/B under load: 1000 clients, each opening a new connection per
# 4 KiB INSTREAM (ringscan-perf closed), 5000 requests, against a fresh
# `ringscan serve --cores 2` per setting; settings interleaved 128, 4096, 128, 4096;
# TCP then UNIX. Restores somaxconn at the end.
# usage: somaxconn-perf-ab.sh RINGSCAN RINGSCAN_PERF   (root)
set -uo pipefail
bin=$1; perf=$2
w=/tmp/tuning-work/somaxconn; mkdir -p "$w"
orig=$(cat /proc/sys/net/core/somaxconn)
trap 'echo "$orig" > /proc/sys/net/core/somaxconn' EXIT
port=3370
for setting in 128 4096 128 4096; do
  echo "$setting" > /proc/sys/net/core/somaxconn
  port=$((port - 1))   # a fresh port: the last server's TIME_WAIT sockets hold the old one
  "$bin" serve --cores 2 --unix "$w/s.sock" --tcp "127.0.0.1:$port" --http "" --no-cache >"$w/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -S "$w/s.sock" ] && ss -ltn "( sport = :$port )" | grep -q LISTEN && break; sleep 0.1; done
  sleep 0.5
  for target in "clamd+tcp:127.0.0.1:$port" "clamd+unix:$w/s.sock"; do
    echo "== somaxconn=$setting $target"
    "$perf" closed --concurrency 1000 --requests 5000 --target "$target" --size 4K \
      --eicar-share 0 2>&1 | grep -E "^(window|errors|throughput|latency)"
  done
  kill -TERM $pid; wait $pid
done
echo "somaxconn restored to $orig"
