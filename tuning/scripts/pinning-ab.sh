#!/usr/bin/env bash
# CPU pinning A/B/C with `ringscan serve --cores 2` (a ringscan that pins its executors
# to the online CPUs of its affinity mask), interleaved, twice:
#   pinned    as ringscan starts: executor i on CPU i (one per CPU);
#   floating  the same, then each executor thread's affinity widened to all CPUs
#             (taskset -p): the scheduler places and moves them;
#   one-cpu   started under `taskset -c 0`: both executors pinned to CPU 0.
# Load: ringscan-perf closed over the UNIX socket, a corpus, 4 clients (the client runs
# on the same CPUs: a 2-vCPU machine has no spare ones).
# usage: pinning-ab.sh RINGSCAN RINGSCAN_PERF DB_DIR CORPUS_DIR [DURATION]
set -uo pipefail
bin=$1; perf=$2; db=$3; corpus=$4; dur=${5:-8s}
w=/tmp/tuning-work/pinning; mkdir -p "$w"
all=$(cat /sys/devices/system/cpu/online)
for round in 1 2; do
  for mode in pinned floating one-cpu; do
    rm -f "$w/s.sock"
    pre=(); [ "$mode" = one-cpu ] && pre=(taskset -c 0)
    "${pre[@]}" "$bin" serve --cores 2 --db "$db" --no-cache --unix "$w/s.sock" --tcp "" --http "" >"$w/log" 2>&1 &
    pid=$!
    until python3 - "$w/s.sock" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"zPING\0")
assert s.recv(16) == b"PONG\0"
PY
    do kill -0 $pid || break; sleep 0.2; done
    if [ "$mode" = floating ]; then
      # The executors are the threads pinned to a single CPU.
      for t in /proc/$pid/task/*; do
        mask=$(awk '/Cpus_allowed_list/{print $2}' $t/status)
        case "$mask" in *[-,]*) ;; *) taskset -p -c "$all" "$(basename $t)" >/dev/null ;; esac
      done
    fi
    echo "== round $round $mode: $(for t in /proc/$pid/task/*; do printf '%s:%s ' "$(cat $t/comm)" "$(awk '/Cpus_allowed_list/{print $2}' $t/status)"; done)"
    "$perf" closed --concurrency 4 --duration "$dur" --warmup 2s --corpus "$corpus" \
      --expect none --target "clamd+unix:$w/s.sock" --server-pid $pid 2>&1 \
      | grep -E "^(errors|throughput|latency|server)"
    grep -E "^(ctxt)" /proc/stat >/dev/null
    echo "server context switches: $(awk '/^voluntary_ctxt_switches/{v+=$2} /^nonvoluntary_ctxt_switches/{n+=$2} END{print "voluntary " v ", involuntary " n}' /proc/$pid/task/*/status)"
    kill -TERM $pid; wait $pid
  done
done
