#!/usr/bin/env bash
# ringscan serve vs ClamAV's clamd, side by side, end to end, on a fresh machine:
#   1. installs what is missing (libhyperscan-dev, pkg-config, clamav, clamav-daemon)
#      and builds release;
#   2. generates (or reuses) the inputs with bench-corpus, outside the repository:
#      10k .ndb + 100k .hdb + 100 .ldb signatures (+ EICAR, + 10 hash hits on corpus
#      files) and a 200 MB mixed corpus; the same inputs as perf/engine.sh;
#   3. starts clamd (a clamd.conf written here) and `ringscan serve` on those signatures,
#      each timed from spawn until zPING answers PONG (database load);
#   4. closed-loop INSTREAM load over the UNIX socket with `ringscan-perf closed`, the
#      same client concurrency for both, rounds alternating clamd, ringscan, clamd, ...;
#      verdicts checked against the corpus manifest; server RSS and CPU sampled;
#   5. zRELOAD on each, idle, with the RSS sampled until the new database serves;
#   6. the raw engine in process on the same cores: engine-bench throughput --threads N;
#   7. writes perf/results/<YYYY-MM-DD>/server/: *.json, the logs, clamd.conf,
#      machine.txt and summary.md.
#
#   perf/server.sh                 full run: about 2 minutes on 2 cores once built
#                                  (1 minute for clamd alone); the inputs take seconds
#   perf/server.sh --only-clamd    clamd alone (also automatic while `ringscan serve`
#                                  does not exist in this tree)
#   perf/server.sh --smoke         1k signatures, 20 MB, one 5 s round: checks the
#                                  tooling; results go to the work directory
#
# Environment (defaults in brackets):
#   RINGSCAN_PERF_WORK         work directory [/tmp/ringscan-perf]
#   RINGSCAN_PERF_OUT          results directory; server/ is made in it
#                              [perf/results/<date>]
#   RINGSCAN_PERF_SERVER_CPUS  CPUs the servers run on, taskset list [all]
#   RINGSCAN_PERF_CLIENT_CPUS  CPUs the load client runs on [all]
#   RINGSCAN_PERF_CORES        server worker threads: clamd MaxThreads, ringscan
#                              --cores, engine-bench --threads [CPUs in the server set]
#   RINGSCAN_PERF_CONCURRENCY  clients [2 x cores]
#   RINGSCAN_PERF_DURATION     measured time per round [15s]
#   RINGSCAN_PERF_WARMUP       warm-up per round [3s]
#   RINGSCAN_PERF_ROUNDS       rounds per server [3]
#   RINGSCAN_PERF_CHUNK        INSTREAM chunk size [64K]
#   RINGSCAN_PERF_RINGSCAN_BIN         the ringscan binary to serve with (e.g. one built in
#                              another tree) [the one built here]
#   RINGSCAN_PERF_RINGSCAN_ARGS        extra `ringscan serve` arguments (e.g. --config F)
#   RINGSCAN_PERF_RINGSCAN_RELOAD_WAIT how to see ringscan's reload finish: none (sample
#                              for RINGSCAN_PERF_RELOAD_WINDOW), version, pong, or
#                              log:FILE:TEXT [its log line "publishing to every core"]
#   RINGSCAN_PERF_RELOAD_WINDOW        RSS sampling after RELOAD when there is no done
#                              signal, and after it otherwise [10s / 3s]
#   CARGO_TARGET_DIR           as for cargo
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

only_clamd=0 smoke=0
for a in "$@"; do
  case "$a" in
    --only-clamd) only_clamd=1 ;;
    --smoke) smoke=1 ;;
    *) echo "usage: $0 [--only-clamd] [--smoke]" >&2; exit 2 ;;
  esac
done

say() { echo "server.sh: $*" >&2; }

# CPUs in a taskset list such as 0-3,6.
cpu_count() {
  local n=0 part a b
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then a=${part%-*} b=${part#*-}; n=$((n + b - a + 1)); else n=$((n + 1)); fi
  done
  echo "$n"
}

W="${RINGSCAN_PERF_WORK:-/tmp/ringscan-perf}"
all_cpus="0-$(($(nproc) - 1))"
server_cpus="${RINGSCAN_PERF_SERVER_CPUS:-$all_cpus}"
client_cpus="${RINGSCAN_PERF_CLIENT_CPUS:-$all_cpus}"
cores="${RINGSCAN_PERF_CORES:-$(cpu_count "$server_cpus")}"
conc="${RINGSCAN_PERF_CONCURRENCY:-$((2 * cores))}"
duration="${RINGSCAN_PERF_DURATION:-15s}"
warmup="${RINGSCAN_PERF_WARMUP:-3s}"
rounds="${RINGSCAN_PERF_ROUNDS:-3}"
chunk="${RINGSCAN_PERF_CHUNK:-64K}"
if [ "$smoke" = 1 ]; then
  ndb=1000 hdb=1000 ldb=20 total=20MB hits=5 plant=0.2
  duration="${RINGSCAN_PERF_DURATION:-5s}" warmup="${RINGSCAN_PERF_WARMUP:-1s}"
  rounds="${RINGSCAN_PERF_ROUNDS:-1}"
  W="$W/smoke"
  out="${RINGSCAN_PERF_OUT:-$W/results}/server"
else
  ndb=10000 hdb=100000 ldb=100 total=200MB hits=10 plant=0.02
  out="${RINGSCAN_PERF_OUT:-$root/perf/results/$(date +%F)}/server"
fi
W="$(mkdir -p "$W" && cd "$W" && pwd)"
case "$W/" in
  "$root"/*) say "the work dir $W is inside the repository; pick another"; exit 2 ;;
esac

# 1. Dependencies and build.
scripts/deps.sh --test
# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"
ensure_clamd
cargo build --release -p ringscan -p ringscan-bench-corpus -p ringscan-perf
bin="${CARGO_TARGET_DIR:-target}/release"
bin="$(cd "$bin" && pwd)"
rp="$bin/ringscan-perf"

# 2. Inputs, shared by perf/engine.sh and perf/server.sh (perf/inputs.sh).
# shellcheck source=perf/inputs.sh
. "$root/perf/inputs.sh"
make_inputs

# Is there a ringscan server to measure?
ringscan="${RINGSCAN_PERF_RINGSCAN_BIN:-$bin/ringscan}"
have_ringscan=1
skip_reason=""
if [ "$only_clamd" = 1 ]; then
  have_ringscan=0 skip_reason="--only-clamd was given."
elif ! "$ringscan" serve --help >/dev/null 2>&1; then
  have_ringscan=0 skip_reason="\`$ringscan serve\` does not exist (this tree: $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
fi
[ "$have_ringscan" = 1 ] || say "ringscan: not measured: $skip_reason"

# 3. Servers. Sockets, clamd's temporary files and ringscan's compiled-database cache
# live in a fresh run directory; clamd's cache of clean results is off, so that every
# request is scanned (the clients cycle through the same corpus).
run="$W/server-run"
rm -rf "$run" "$out"
mkdir -p "$run/clamd-tmp" "$run/ringscan-cache" "$out"
write_clamd_conf "$out/clamd.conf" "$run/clamd.sock" "$W/db" "$run/clamd-tmp" "$out/clamd.log" "$cores"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do "$rp" stop --pid "$p" --grace 5s || true; done
}
trap cleanup EXIT

{
  echo "date:        $(date -Is)"
  echo "cpu:         $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "cores:       $(nproc) online; servers on CPUs $server_cpus ($cores workers), client on CPUs $client_cpus"
  echo "memory:      $(free -m | awk '/^Mem:/ {printf "%.1f GiB", $2 / 1024}')"
  echo "kernel:      $(uname -srm)"
  echo "os:          $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
  echo "hyperscan:   $(pkg-config --modversion libhs 2>/dev/null || echo unknown)"
  echo "clamd:       $("$clamd" --version 2>/dev/null || echo unknown); MaxThreads $cores, DisableCache yes"
  echo "tree:        $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "ringscan:    $ringscan$([ "$have_ringscan" = 1 ] || echo ' (serve not measured)'); cores $cores; compiled-database cache empty at start"
  echo "rustc:       $(rustc --version)"
  echo "load:        closed loop, $conc clients, INSTREAM over UNIX, chunk $chunk, $rounds x $duration per server after $warmup warm-up"
  echo "inputs:      $params"
  echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
} >"$out/machine.txt"

start_server() { # name, target, command...
  local name="$1" target="$2"
  shift 2
  say "starting $name"
  taskset -c "$server_cpus" "$rp" launch --label "$name" --target "$target" \
    --log "$out/$name.log" --pidfile "$run/$name.pid" --json "$out/$name-launch.json" -- "$@"
  pids+=("$(cat "$run/$name.pid")")
}

# taskset on `launch` is inherited by the server it spawns.
start_server clamd "clamd+unix:$run/clamd.sock" "$clamd" --foreground --config-file="$out/clamd.conf"
servers=(clamd)
if [ "$have_ringscan" = 1 ]; then
  # shellcheck disable=SC2086 # RINGSCAN_PERF_RINGSCAN_ARGS is split on purpose
  RINGSCAN_CACHE_DIR="$run/ringscan-cache" start_server ringscan "clamd+unix:$run/ringscan.sock" \
    "$ringscan" serve --db "$W/db" --unix "$run/ringscan.sock" --tcp "" --http "" --cores "$cores" --no-cache \
    ${RINGSCAN_PERF_RINGSCAN_ARGS:-}
  servers+=(ringscan)
else
  echo "$skip_reason" >"$out/ringscan-skipped.txt"
fi

# 4. Closed-loop rounds, alternating servers.
for round in $(seq 1 "$rounds"); do
  for name in "${servers[@]}"; do
    say "round $round: $name"
    taskset -c "$client_cpus" "$rp" closed --label "$name" --target "clamd+unix:$run/$name.sock" \
      --corpus "$W/corpus" --hash-hits "$W/sigs/hash-hits.tsv" --concurrency "$conc" \
      --duration "$duration" --warmup "$warmup" --chunk "$chunk" \
      --server-pid "$(cat "$run/$name.pid")" --json "$out/$name-closed-$round.json"
  done
done

# 5. Reload, idle. clamd reloads in a second thread and logs the switch.
window="${RINGSCAN_PERF_RELOAD_WINDOW:-}"
for name in "${servers[@]}"; do
  say "reload: $name"
  if [ "$name" = clamd ]; then
    wait_for="log:$out/clamd.log:Activating the newly loaded database" settle="${window:-3s}"
  else
    # --no-cache above: the reload compiles everything again, the worst case (an
    # unchanged database would come from the compiled-database cache).
    wait_for="${RINGSCAN_PERF_RINGSCAN_RELOAD_WAIT:-log:$out/ringscan.log:publishing to every core}" settle="${window:-10s}"
    [ "$wait_for" = none ] || settle="${window:-3s}"
  fi
  "$rp" reload --label "$name" --target "clamd+unix:$run/$name.sock" --pid "$(cat "$run/$name.pid")" \
    --wait "$wait_for" --settle "$settle" --json "$out/$name-reload.json"
done
cleanup
pids=()

# 6. The raw engine in process, on the servers' CPUs with as many threads.
say "raw engine: engine-bench throughput --threads $cores"
taskset -c "$server_cpus" "$bin/engine-bench" throughput --sigs "$W/db" --corpus "$W/corpus" \
  --threads "$cores" --passes 3 --no-raw --no-anchors --json "$out/engine.json" \
  | tee "$out/engine.txt"

# 7. Summary.
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)" >>"$out/machine.txt"
"$rp" summary --dir "$out" >"$out/summary.md"
say "results in $out (summary.md)"
cat "$out/summary.md"
