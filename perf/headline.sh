#!/usr/bin/env bash
# The headline comparison: `ringscan serve` against ClamAV's clamd, on the same machine,
# the same signatures, the same objects, measured by the same client code.
#   1. installs what is missing (libhyperscan-dev, pkg-config, clamav, clamav-daemon)
#      and builds release (ringscan, bench-corpus, ringscan-perf);
#   2. generates (or reuses) the inputs with bench-corpus, outside the repository: 10k
#      .ndb + 100k .hdb + 100 .ldb signatures and a 200 MB mixed corpus (perf/inputs.sh,
#      as perf/engine.sh and perf/server.sh), plus a one-line .ndb that finds the EICAR
#      string anywhere, so that synthetic objects carrying it are detected by both;
#   3. starts clamd and `ringscan serve` on that database, each timed from spawn until
#      zPING answers PONG (database load), RSS read;
#   4. checks that each answers right (a wrong verdict stops the script);
#   5. `ringscan-perf compare`, closed loop on the corpus: clamd and ringscan
#      interleaved run by run (A B A B ...), the throughput ratio per pair;
#   6. per object size (4 KiB and 1 MiB, synthetic, 10 % with EICAR at a random offset):
#      `ringscan-perf sweep` on each server (its closed-loop maximum, then open-loop
#      runs at 25/50/75/90/100 % of it, latency from the intended send time), one plot
#      with both; then `compare --mode open` at the same offered rate for both (half of
#      clamd's maximum), the latency ratio at equal load;
#   7. zRELOAD on each, idle, RSS sampled until the new database serves;
#   8. writes perf/results/<YYYY-MM-DD>/headline/: summary.md (the table), the plots
#      (sweep-4K.svg, sweep-1M.svg), every run's JSON and HdrHistogram interval log
#      (*.hlog), the logs, clamd.conf, machine.txt.
#
#   perf/headline.sh           about 12 minutes on 2 cores once built (inputs: 1 minute
#                              the first time)
#   perf/headline.sh --smoke   1k signatures, 20 MB, short runs: checks the tooling in
#                              about 3 minutes; results go to the work directory
#
# Both servers use every CPU (ringscan --cores N, clamd MaxThreads N) and the load client
# runs on the same CPUs: on a small machine the client's own cost is in the figures, the
# same for both. Protocol: clamd INSTREAM over the UNIX socket, a connection per request
# (what clamdscan --stream, pyclamd and most mail filters do).
#
# Environment (defaults in brackets):
#   RINGSCAN_PERF_WORK         work directory [/tmp/ringscan-perf]
#   RINGSCAN_PERF_OUT          results directory; headline/ is made in it
#                              [perf/results/<date>]
#   RINGSCAN_PERF_CORES        clamd MaxThreads and ringscan --cores [every CPU]
#   RINGSCAN_PERF_CONNECTIONS  clients / connections per run [4]
#   RINGSCAN_PERF_SIZES        synthetic object sizes [4K 1M]
#   RINGSCAN_PERF_LOADS        sweep points, percent of each server's maximum
#                              [25,50,75,90,100]
#   RINGSCAN_PERF_DURATION     measured time per sweep point [8s]
#   RINGSCAN_PERF_PAIRS        compare pairs [3]
#   RINGSCAN_PERF_RINGSCAN_BIN the ringscan binary to serve with [the one built here]
#   CARGO_TARGET_DIR           as for cargo
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

smoke=0
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
  esac
done

say() { echo "headline.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"

W="${RINGSCAN_PERF_WORK:-/tmp/ringscan-perf}"
cores="${RINGSCAN_PERF_CORES:-$(nproc)}"
conns="${RINGSCAN_PERF_CONNECTIONS:-4}"
sizes="${RINGSCAN_PERF_SIZES:-4K 1M}"
loads="${RINGSCAN_PERF_LOADS:-25,50,75,90,100}"
share=0.1
if [ "$smoke" = 1 ]; then
  ndb=1000 hdb=1000 ldb=20 total=20MB hits=5 plant=0.2
  duration="${RINGSCAN_PERF_DURATION:-2s}" warmup=0.5s max_duration=2s
  compare_duration=3s compare_warmup=1s pairs="${RINGSCAN_PERF_PAIRS:-1}"
  W="$W/smoke"
  out="${RINGSCAN_PERF_OUT:-$W/results}/headline"
else
  ndb=10000 hdb=100000 ldb=100 total=200MB hits=10 plant=0.02
  duration="${RINGSCAN_PERF_DURATION:-8s}" warmup=1s max_duration=5s
  compare_duration=10s compare_warmup=2s pairs="${RINGSCAN_PERF_PAIRS:-3}"
  out="${RINGSCAN_PERF_OUT:-$root/perf/results/$(date +%F)}/headline"
fi
W="$(mkdir -p "$W" && cd "$W" && pwd)"
case "$W/" in
  "$root"/*) die "the work dir $W is inside the repository; pick another" ;;
esac

# 1. Dependencies and build.
scripts/deps.sh --test
ensure_clamd
cargo build --release -p ringscan -p ringscan-bench-corpus -p ringscan-perf
bin="${CARGO_TARGET_DIR:-target}/release"
bin="$(cd "$bin" && pwd)"
rp="$bin/ringscan-perf"
ringscan="${RINGSCAN_PERF_RINGSCAN_BIN:-$bin/ringscan}"

# 2. Inputs (shared with perf/engine.sh and perf/server.sh), and this run's database:
# the generated set plus the EICAR string signature, hard-linked (or copied) so that
# the shared inputs stay as they are.
# shellcheck source=perf/inputs.sh
. "$root/perf/inputs.sh"
make_inputs
run="$W/headline-run"
rm -rf "$run" "$out"
mkdir -p "$run/db" "$run/clamd-tmp" "$run/ringscan-cache" "$out"
for f in "$W"/db/*; do ln "$f" "$run/db/" 2>/dev/null || cp "$f" "$run/db/"; done
write_eicar_ndb "$run/db/perf-eicar.ndb"

tree="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "date:        $(date -Is)"
  echo "cpu:         $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "cores:       $(nproc) online; both servers $cores workers; client on the same CPUs"
  echo "memory:      $(free -m | awk '/^Mem:/ {printf "%.1f GiB", $2 / 1024}')"
  echo "kernel:      $(uname -srm)"
  echo "os:          $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
  echo "hyperscan:   $(pkg-config --modversion libhs 2>/dev/null || echo unknown)"
  echo "clamd:       $("$clamd" --version 2>/dev/null || echo unknown); MaxThreads $cores, DisableCache yes"
  echo "ringscan:    $ringscan serve --cores $cores --no-cache (tree $tree$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'))"
  echo "rustc:       $(rustc --version)"
  echo "inputs:      $params + perf-eicar.ndb"
  echo "protocol:    clamd INSTREAM over UNIX, a connection per request, chunk 64 KiB"
  echo "load:        $conns connections; sweeps at $loads % of each server's closed-loop maximum ($max_duration), $duration per point after $warmup warm-up; compare $pairs pairs of $compare_duration"
  echo "objects:     sweeps: synthetic, sizes $sizes, $share with EICAR at a random offset, seed 1; compare: the corpus"
  echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
} >"$out/machine.txt"

# 3. Servers.
write_clamd_conf "$out/clamd.conf" "$run/clamd.sock" "$run/db" "$run/clamd-tmp" "$out/clamd.log" "$cores"
declare -A pid=()
cleanup() {
  local p
  for p in "${pid[@]}"; do "$rp" stop --pid "$p" --grace 5s || true; done
}
trap cleanup EXIT
start_server() { # name, command...
  local name="$1"
  shift
  say "starting $name"
  "$rp" launch --label "$name" --target "clamd+unix:$run/$name.sock" --timeout 300s \
    --log "$out/$name.log" --pidfile "$run/$name.pid" --json "$out/$name-launch.json" -- "$@" ||
    { tail -n 20 "$out/$name.log" >&2 || true; die "$name did not start"; }
  pid[$name]="$(cat "$run/$name.pid")"
}
start_server clamd "$clamd" --foreground --config-file="$out/clamd.conf"
RINGSCAN_CACHE_DIR="$run/ringscan-cache" start_server ringscan \
  "$ringscan" serve --db "$run/db" --unix "$run/ringscan.sock" --tcp "" --http "" \
  --cores "$cores" --no-cache
target() { echo "clamd+unix:$run/$1.sock"; }

# 4. Both answer right, on synthetic objects with EICAR and on the corpus.
for name in clamd ringscan; do
  for objects in "--size 4K --count 10 --eicar-share 0.3" \
    "--corpus $W/corpus --hash-hits $W/sigs/hash-hits.tsv"; do
    # shellcheck disable=SC2086 # $objects is split on purpose
    "$rp" closed --target "$(target "$name")" $objects --requests 40 --concurrency 2 \
      --timeout 30s --quiet --json "$run/check.json" || die "$name: ringscan-perf failed"
    errors="$(json_num errors "$run/check.json")"
    [ "$errors" = 0 ] || {
      sed -n '/"error_examples"/,/\]/p' "$run/check.json" >&2
      die "$name: $errors of 40 check requests failed or got a wrong verdict ($objects)"
    }
  done
done
say "both servers answer right"

# 5. Throughput on the corpus, A B A B.
say "compare on the corpus: $pairs pairs"
"$rp" compare --a "$(target clamd)" --a-label clamd --b "$(target ringscan)" --b-label ringscan \
  --corpus "$W/corpus" --hash-hits "$W/sigs/hash-hits.tsv" --mode closed --concurrency "$conns" \
  --pairs "$pairs" --duration "$compare_duration" --warmup "$compare_warmup" --timeout 60s \
  --a-pid "${pid[clamd]}" --b-pid "${pid[ringscan]}" \
  --out "$out/compare-corpus" --json "$out/compare-corpus.json" | tee -a "$out/runs.txt"

# 6. Sweeps and the latency at equal load, per size.
for size in $sizes; do
  for name in clamd ringscan; do
    say "sweep $size: $name"
    "$rp" sweep --label "$name-$size" --target "$(target "$name")" --size "$size" \
      --eicar-share "$share" --connections "$conns" --loads "$loads" \
      --max-duration "$max_duration" --max-warmup "$warmup" --duration "$duration" \
      --warmup "$warmup" --drain 5s --timeout 60s --server-pid "${pid[$name]}" \
      --out "$out/sweep-$size" | tee -a "$out/runs.txt"
  done
  "$rp" plot --title "INSTREAM, $size objects: latency against throughput" \
    --out "$out/sweep-$size.svg" "$out/sweep-$size/clamd-$size-sweep.json" \
    "$out/sweep-$size/ringscan-$size-sweep.json"
  max="$(json_num files_s "$out/sweep-$size/clamd-$size-max.json")"
  rate="$(awk -v m="$max" 'BEGIN { printf "%.1f", m / 2 }')"
  say "compare $size at the same offered rate, half of clamd's maximum: $rate req/s"
  "$rp" compare --a "$(target clamd)" --a-label clamd --b "$(target ringscan)" --b-label ringscan \
    --size "$size" --eicar-share "$share" --mode open --rate "$rate" --connections "$conns" \
    --pairs "$pairs" --duration "$compare_duration" --warmup "$compare_warmup" --timeout 60s \
    --a-pid "${pid[clamd]}" --b-pid "${pid[ringscan]}" \
    --out "$out/compare-$size" --json "$out/compare-$size.json" | tee -a "$out/runs.txt"
done

# 7. Reload, idle. clamd reloads in a second thread and logs the switch; ringscan logs
# when it publishes the new database (--no-cache: it compiles everything again, the
# worst case).
for name in clamd ringscan; do
  say "reload: $name"
  if [ "$name" = clamd ]; then
    wait_for="log:$out/clamd.log:Activating the newly loaded database"
  else
    wait_for="log:$out/ringscan.log:publishing to every core"
  fi
  "$rp" reload --label "$name" --target "$(target "$name")" --pid "${pid[$name]}" \
    --wait "$wait_for" --settle 3s --json "$out/$name-reload.json"
done
cleanup
pid=()
trim_log "$out/ringscan.log"
trim_log "$out/clamd.log"

# 8. The table.
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)" >>"$out/machine.txt"
"$rp" headline-summary --dir "$out" >"$out/summary.md"
say "results in $out (summary.md, sweep-*.svg)"
cat "$out/summary.md"
