#!/usr/bin/env bash
# net.core.somaxconn A/B: for each setting (interleaved 128, 4096, 128, 4096), a fresh
# `ringscan serve --cores 2` (listen(2) caps its backlog at somaxconn when it is called),
# then burst.py against its TCP and its UNIX socket. Restores somaxconn at the end.
# usage: somaxconn-ab.sh RINGSCAN [N] [ROUNDS]   (root: writes /proc/sys/net/core/somaxconn)
set -uo pipefail
bin=$1; n=${2:-2000}; rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
w=/tmp/tuning-work/somaxconn; mkdir -p "$w"
orig=$(cat /proc/sys/net/core/somaxconn)
trap 'echo "$orig" > /proc/sys/net/core/somaxconn' EXIT
port=3390
for setting in 128 4096 128 4096; do
  echo "$setting" > /proc/sys/net/core/somaxconn
  port=$((port - 1))   # a fresh port: the last server's TIME_WAIT sockets hold the old one
  "$bin" serve --cores 2 --unix "$w/s.sock" --tcp "127.0.0.1:$port" --http "" --no-cache >"$w/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -S "$w/s.sock" ] && ss -ltn "( sport = :$port )" | grep -q LISTEN && break; sleep 0.1; done
  sleep 0.5
  echo "== somaxconn=$setting; listen queues (Send-Q = backlog):"
  ss -ltn "( sport = :$port )" | tail -n +2 | awk '{print "   tcp  " $4 " backlog " $3}'
  ss -lxn | grep "$w/s.sock" | awk '{print "   unix " $5 " backlog " $4}'
  echo "-- TCP"; python3 "$here/burst.py" --tcp "127.0.0.1:$port" -n "$n" --rounds "$rounds"
  echo "-- UNIX"; python3 "$here/burst.py" --unix "$w/s.sock" -n "$n" --rounds "$rounds"
  kill -TERM $pid; wait $pid
done
echo "somaxconn restored to $orig"
