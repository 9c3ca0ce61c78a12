#!/usr/bin/env bash
# Does it matter to ringscan whether glommio could register its io_memory buffers with
# io_uring? A: RLIMIT_MEMLOCK 8 MiB (2 executors x 3 rings x 512 KiB registered);
# B: 512 KiB (glommio's floor: it starts, but every registration fails with a warning).
# Both unprivileged (root is exempt from the accounting) and with MIMALLOC_ALLOW_THP=0
# so that A fits in 8 MiB; interleaved A B A B. Load: ringscan-perf closed over the
# UNIX socket with a corpus, 4 clients.
# usage: registration-ab.sh RINGSCAN RINGSCAN_PERF DB_DIR CORPUS_DIR [DURATION]   (root)
set -uo pipefail
bin=$1; perf=$2; db=$3; corpus=$4; dur=${5:-8s}
w=/tmp/tuning-work/registration; mkdir -p "$w"; chmod 777 "$w"
for round in 1 2; do
  for limit in 8388608 524288; do
    rm -f "$w/s.sock"
    MIMALLOC_ALLOW_THP=0 prlimit --memlock=$limit:$limit \
      setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
      "$bin" serve --cores 2 --db "$db" --no-cache --unix "$w/s.sock" --tcp "" --http "" >"$w/log" 2>&1 &
    pid=$!
    until python3 - "$w/s.sock" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"zPING\0")
assert s.recv(16) == b"PONG\0"
PY
    do kill -0 $pid || break; sleep 0.2; done
    spid=$(pgrep -P $pid -x ringscan || echo $pid)
    echo "== round $round RLIMIT_MEMLOCK=$limit: VmPin $(awk '/VmPin/{print $2 " kB"}' /proc/$spid/status);" \
      "registration warnings: $(grep -c 'registering buffers' "$w/log")"
    "$perf" closed --concurrency 4 --duration "$dur" --warmup 2s --corpus "$corpus" \
      --expect none --target "clamd+unix:$w/s.sock" --server-pid $spid 2>&1 \
      | grep -E "^(errors|throughput|latency|server)"
    kill -TERM $spid; wait $pid
  done
done
