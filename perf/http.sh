#!/usr/bin/env bash
# KAV HTTP (Kaspersky Scan Engine's protocol, v3 and v1) against the clamd protocol, on
# ONE `ringscan serve`, open loop at fixed rates:
#   1. builds release (ringscan, ringscan-perf);
#   2. starts `ringscan serve --no-cache --cores N` with both clamd listeners (UNIX, TCP)
#      and both HTTP listeners (--http TCP, --http-unix), on a one-line .ndb that finds
#      the EICAR string anywhere (the built-in EICAR signature is a hash of the exact
#      68-byte file: it would miss the string inside a bigger object); fails clearly
#      when `ringscan serve` has no --http/--http-unix or refuses them;
#   3. per object size (synthetic: seeded random bytes, 10 % with EICAR at a random
#      offset, made in memory by ringscan-perf; nothing is written to disk):
#      a short closed loop on clamd+unix finds the maximum rate, then open-loop runs at
#      50 % and 90 % of it against every target, interleaved so that drift hits all alike:
#      clamd+unix, kav3+unix, kav1+unix, clamd+tcp, kav3+tcp, kav1+tcp;
#   4. writes perf/results/<YYYY-MM-DD>/http/: machine.txt, closed-*.json, open-*.json
#      (with the latency histograms), runs.txt (every text report), ringscan.log,
#      summary.md (`ringscan-perf open-summary`).
#
#   perf/http.sh            about 4-5 minutes on 2 cores once built
#
# Environment (defaults in brackets):
#   RINGSCAN_PERF_WORK          work directory (sockets, the .ndb) [/tmp/ringscan-perf]
#   RINGSCAN_PERF_OUT           results directory; http/ is made in it [perf/results/<date>]
#   RINGSCAN_PERF_RINGSCAN_BIN  the ringscan binary [the one built here]
#   RINGSCAN_PERF_CORES         ringscan --cores [2]
#   RINGSCAN_PERF_SIZES         object sizes [4K 1M]
#   RINGSCAN_PERF_EICAR_SHARE   share of objects with EICAR [0.1]
#   RINGSCAN_PERF_LOADS         open-loop rates, percent of the closed-loop maximum [50 90]
#   RINGSCAN_PERF_CONNECTIONS   connections per target (and closed-loop clients) [4]
#   RINGSCAN_PERF_DURATION      measured time per open-loop run [8s]
#   RINGSCAN_PERF_WARMUP        warm-up per run [1s]
#   RINGSCAN_PERF_MAX_DURATION  measured time of the closed loop that finds the maximum [5s]
#   RINGSCAN_PERF_CLAMD_PORT    clamd TCP port [13310]
#   RINGSCAN_PERF_HTTP_PORT     HTTP TCP port [19999]
#   RINGSCAN_PERF_CLAMD_SESSION 1: clamd clients keep one IDSESSION each instead of a
#                               connection per request (what clamdscan does) [0]
#   CARGO_TARGET_DIR            as for cargo
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ $# -eq 0 ] || { echo "usage: $0 (no arguments; see the header for the environment)" >&2; exit 2; }

say() { echo "http.sh: $*" >&2; }
die() { say "$*"; exit 1; }

W="${RINGSCAN_PERF_WORK:-/tmp/ringscan-perf}"
cores="${RINGSCAN_PERF_CORES:-2}"
sizes="${RINGSCAN_PERF_SIZES:-4K 1M}"
share="${RINGSCAN_PERF_EICAR_SHARE:-0.1}"
loads="${RINGSCAN_PERF_LOADS:-50 90}"
conns="${RINGSCAN_PERF_CONNECTIONS:-4}"
duration="${RINGSCAN_PERF_DURATION:-8s}"
warmup="${RINGSCAN_PERF_WARMUP:-1s}"
max_duration="${RINGSCAN_PERF_MAX_DURATION:-5s}"
clamd_port="${RINGSCAN_PERF_CLAMD_PORT:-13310}"
http_port="${RINGSCAN_PERF_HTTP_PORT:-19999}"
session=()
[ "${RINGSCAN_PERF_CLAMD_SESSION:-0}" = 1 ] && session=(--session)
out="${RINGSCAN_PERF_OUT:-$root/perf/results/$(date +%F)}/http"
W="$(mkdir -p "$W" && cd "$W" && pwd)"
case "$W/" in
  "$root"/*) die "the work dir $W is inside the repository; pick another" ;;
esac

# shellcheck source=perf/lib.sh
. "$root/perf/lib.sh"

# 1. Build.
scripts/deps.sh
cargo build --release -p ringscan -p ringscan-perf
bin="${CARGO_TARGET_DIR:-target}/release"
bin="$(cd "$bin" && pwd)"
rp="$bin/ringscan-perf"
ringscan="${RINGSCAN_PERF_RINGSCAN_BIN:-$bin/ringscan}"

# Does this ringscan have the HTTP listeners at all?
tree="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
help="$("$ringscan" serve --help 2>&1)" || die "\`$ringscan serve --help\` failed (tree $tree): $help"
for flag in --http --http-unix; do
  grep -q -- "$flag " <<<"$help" ||
    die "\`$ringscan serve\` has no $flag flag (tree $tree): the KAV HTTP mode is not in this build; nothing measured"
done

# 2. The server.
run="$W/http-run"
rm -rf "$run" "$out"
mkdir -p "$run/db" "$out"
write_eicar_ndb "$run/db/perf-eicar.ndb"

pid=""
cleanup() { [ -z "$pid" ] || "$rp" stop --pid "$pid" --grace 5s || true; }
trap cleanup EXIT

{
  echo "date:        $(date -Is)"
  echo "cpu:         $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "cores:       $(nproc) online; ringscan --cores $cores; client on the same CPUs"
  echo "memory:      $(free -m | awk '/^Mem:/ {printf "%.1f GiB", $2 / 1024}')"
  echo "kernel:      $(uname -srm)"
  echo "tree:        $tree$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "ringscan:    $ringscan serve --no-cache --cores $cores --db perf-eicar.ndb (one signature: the EICAR string anywhere)"
  echo "rustc:       $(rustc --version)"
  echo "objects:     synthetic, sizes $sizes, $share of them with EICAR at a random offset, seed 1"
  echo "load:        closed loop on clamd+unix ($conns clients, $max_duration) for the maximum; open loop at $loads % of it, $conns connections per target, $duration after $warmup warm-up; clamd ${session[*]:-connection per request}"
  echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
} >"$out/machine.txt"

say "starting ringscan serve with the HTTP listeners"
if ! "$rp" launch --label ringscan --target "clamd+unix:$run/clamd.sock" --timeout 120s \
  --log "$out/ringscan.log" --pidfile "$run/ringscan.pid" --json "$out/ringscan-launch.json" -- \
  "$ringscan" serve --no-cache --cores "$cores" --db "$run/db/perf-eicar.ndb" \
  --tcp "127.0.0.1:$clamd_port" --unix "$run/clamd.sock" \
  --http "127.0.0.1:$http_port" --http-unix "$run/http.sock"; then
  say "ringscan serve did not start; the end of its log:"
  tail -n 20 "$out/ringscan.log" >&2 || true
  exit 1
fi
pid="$(cat "$run/ringscan.pid")"

# The HTTP listeners may open just after the clamd ones.
for _ in $(seq 50); do
  [ -S "$run/http.sock" ] && (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null && break
  sleep 0.1
done

declare -A targets=(
  [clamd-unix]="clamd+unix:$run/clamd.sock" [clamd-tcp]="clamd+tcp:127.0.0.1:$clamd_port"
  [kav3-unix]="kav3+unix:$run/http.sock" [kav3-tcp]="kav3+tcp:127.0.0.1:$http_port"
  [kav1-unix]="kav1+unix:$run/http.sock" [kav1-tcp]="kav1+tcp:127.0.0.1:$http_port"
)
order=(clamd-unix kav3-unix kav1-unix clamd-tcp kav3-tcp kav1-tcp)


# Every target must answer right before anything is measured.
for name in "${order[@]}"; do
  "$rp" closed --target "${targets[$name]}" --size 4K --count 10 --eicar-share 0.2 \
    --requests 20 --concurrency 1 --timeout 10s --quiet --json "$run/check-$name.json" ||
    die "$name: ringscan-perf failed"
  errors="$(json_num errors "$run/check-$name.json")"
  if [ "$errors" != 0 ]; then
    say "$name (${targets[$name]}): $errors of 20 check requests failed or got a wrong verdict:"
    sed -n '/"error_examples"/,/\]/p' "$run/check-$name.json" >&2
    exit 1
  fi
done
say "every target answers right"

# 3. Per size: the maximum, then the fixed rates, targets interleaved.
for size in $sizes; do
  say "$size: closed loop on clamd+unix for the maximum rate"
  "$rp" closed --label "max $size" --target "${targets[clamd-unix]}" "${session[@]}" \
    --size "$size" --eicar-share "$share" --concurrency "$conns" --duration "$max_duration" \
    --warmup "$warmup" --timeout 10s --server-pid "$pid" --json "$out/closed-$size.json" |
    tee -a "$out/runs.txt"
  max="$(json_num files_s "$out/closed-$size.json")"
  awk -v m="$max" 'BEGIN { exit !(m > 0) }' || die "$size: no maximum rate (files_s=$max)"
  for load in $loads; do
    rate="$(awk -v m="$max" -v p="$load" 'BEGIN { printf "%.1f", m * p / 100 }')"
    for name in "${order[@]}"; do
      say "$size at $load % ($rate req/s): $name"
      extra=()
      [[ "$name" == clamd-* ]] && extra=("${session[@]}")
      "$rp" open --label "$size $load% $name" --target "${targets[$name]}" "${extra[@]}" \
        --size "$size" --eicar-share "$share" --rate "$rate" --connections "$conns" \
        --duration "$duration" --warmup "$warmup" --drain 2s --timeout 10s \
        --server-pid "$pid" --json "$out/open-$size-$load-$name.json" | tee -a "$out/runs.txt"
    done
  done
done
cleanup
pid=""
trim_log "$out/ringscan.log"

# 4. Summary.
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)" >>"$out/machine.txt"
"$rp" open-summary --dir "$out" >"$out/summary.md"
say "results in $out (summary.md)"
cat "$out/summary.md"
