#!/usr/bin/env bash
# Transparent huge pages A/B/C: /sys/kernel/mm/transparent_hugepage/enabled set to
# always, madvise, never (interleaved, twice); for each, a fresh
# `ringscan serve --cores 2 --no-cache` on a large signature set, loaded by
# `ringscan-perf closed` over the UNIX socket with a corpus; then the server's
# AnonHugePages. Restores the setting at the end.
# usage: thp-ab.sh RINGSCAN RINGSCAN_PERF DB_DIR CORPUS_DIR [DURATION]   (root)
set -uo pipefail
bin=$1; perf=$2; db=$3; corpus=$4; dur=${5:-10s}
thp=/sys/kernel/mm/transparent_hugepage/enabled
w=/tmp/tuning-work/thp; mkdir -p "$w"
orig=$(sed -E 's/.*\[([a-z]+)\].*/\1/' "$thp")
trap 'echo "$orig" > "$thp"' EXIT
for round in 1 2; do
  for setting in always madvise never; do
    echo "$setting" > "$thp"
    rm -f "$w/s.sock"
    t0=$(date +%s.%N)
    "$bin" serve --cores 2 --db "$db" --no-cache --unix "$w/s.sock" --tcp "" --http "" >"$w/log" 2>&1 &
    pid=$!
    until python3 - "$w/s.sock" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"zPING\0")
assert s.recv(16) == b"PONG\0"
PY
    do kill -0 $pid || break; sleep 0.2; done
    echo "== round $round THP=$setting (server ready after $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s)"
    "$perf" closed --concurrency 4 --duration "$dur" --warmup 3s --corpus "$corpus" \
      --expect none --target "clamd+unix:$w/s.sock" --server-pid $pid 2>&1 \
      | grep -E "^(window|errors|throughput|latency|server)"
    echo "server $(grep -E 'AnonHugePages' /proc/$pid/smaps_rollup | tr -s ' ')"
    kill -TERM $pid; wait $pid
  done
done
echo "THP restored to $orig"
