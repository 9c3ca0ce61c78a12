#!/usr/bin/env bash
# Containers (issue 7), two measurements, results in perf/results/<date>/containers/:
#
# 1. Throughput on a container-heavy corpus (zips, zips nested three deep, tar.gz,
#    mail with base64 attachments; bench-corpus files with planted signatures as the
#    leaves) against clamd with the same signatures: `ringscan-perf compare`, A B A B,
#    clamd INSTREAM over UNIX on both. The first pass runs on clamd, so every object on
#    which ringscan's verdict differs from clamd's counts as an error.
# 2. Small requests on the core that unpacks a 200 MB archive: ringscan with ONE core;
#    4 KiB INSTREAM requests at a fixed rate (open loop, latency from the intended send
#    time), first alone, then while a second client sends a 200 MB archive over and over
#    (a zip of 200 deflated 1 MiB files, then a tar.gz of the same files). p99 of the
#    small requests is the figure (issue 7 asks for under 5 ms).
#
# usage: perf/containers.sh [--smoke]     (--smoke: small inputs, short runs)
# Environment: RINGSCAN_PERF_WORK (default /tmp/ringscan-perf), RINGSCAN_PERF_OUT,
# RINGSCAN_PERF_ONLY=latency (measurement 2 only).
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
say() { echo "containers.sh: $*" >&2; }
die() { say "$*"; exit 1; }
. "$root/perf/lib.sh"

W="${RINGSCAN_PERF_WORK:-/tmp/ringscan-perf}/containers"
if [ "$smoke" = 1 ]; then
  ndb=1000 hdb=1000 ldb=20 leaves=300 plant=0.05 count=100 big_mb=20
  duration=3s warmup=1s pairs=1 rate=100
  out="${RINGSCAN_PERF_OUT:-$W/results}/containers"
else
  ndb=10000 hdb=100000 ldb=100 leaves=3000 plant=0.05 count=1000 big_mb=200
  duration=10s warmup=2s pairs=3 rate=200
  out="${RINGSCAN_PERF_OUT:-$root/perf/results/$(date +%F)}/containers"
fi
mkdir -p "$W"
W="$(cd "$W" && pwd)"

scripts/deps.sh --test
ensure_clamd
cargo build --release -p ringscan -p ringscan-bench-corpus -p ringscan-perf
bin="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
rp="$bin/ringscan-perf"

params="seed=1 ndb=$ndb hdb=$hdb ldb=$ldb leaves=$leaves (1KiB-256KiB) plant=$plant count=$count big=$big_mb"
if [ "$(cat "$W/params" 2>/dev/null)" != "$params" ]; then
  say "generating inputs in $W ($params)"
  rm -rf "$W/sigs" "$W/leaves" "$W/corpus" "$W/big" "$W/db" "$W/params"
  "$bin/bench-corpus" sigs --seed 1 --ndb "$ndb" --hdb "$hdb" --ldb "$ldb" --out "$W/sigs"
  # Leaves of the sizes mail attachments and archive members have: 1 KiB to 256 KiB.
  "$bin/bench-corpus" corpus --seed 1 --files "$leaves" --max 256KiB --plants "$W/sigs/plants.txt" \
    --plant-share "$plant" --eicar-share 0.02 --out "$W/leaves"
  python3 perf/container-corpus.py "$W/leaves" "$W/corpus" "$count" 1
  mkdir -p "$W/big" "$W/db"
  python3 - "$W/big" "$big_mb" <<'PY'
import io, os, random, sys, tarfile, zipfile
out, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
def member(i):
    # Text-like bytes that deflate about 3:1, like documents and logs.
    out, n = [], 0
    while n < (1 << 20):
        w = rng.choice(words) + b" "
        out.append(w); n += len(w)
    return b"".join(out)[: 1 << 20]
members = [("files/part-%03d.txt" % i, member(i)) for i in range(mb)]
with zipfile.ZipFile(os.path.join(out, "big.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in members:
        z.writestr(name, data)
with tarfile.open(os.path.join(out, "big.tar.gz"), "w:gz") as t:
    for name, data in members:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 1700000000
        t.addfile(info, io.BytesIO(data))
PY
  cp "$W/sigs/gen.ndb" "$W/sigs/gen.hdb" "$W/sigs/gen.ldb" "$W/db/"
  write_eicar_ndb "$W/db/perf-eicar.ndb"
  echo "$params" >"$W/params"
fi

run="$W/run"
rm -rf "$run" "$out"
mkdir -p "$run/clamd-tmp" "$run/big-zip" "$run/big-targz" "$out"
ln "$W/big/big.zip" "$run/big-zip/" 2>/dev/null || cp "$W/big/big.zip" "$run/big-zip/"
ln "$W/big/big.tar.gz" "$run/big-targz/" 2>/dev/null || cp "$W/big/big.tar.gz" "$run/big-targz/"
tree="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "date:      $(date -Is)"
  echo "cpu:       $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) online"
  echo "clamd:     $("$clamd" --version 2>/dev/null || echo unknown)"
  echo "ringscan:  tree $tree$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "inputs:    $params (bench-corpus sigs + perf-eicar.ndb)"
  echo "corpus:    $(ls "$W/corpus" | wc -l) objects, $(du -sh "$W/corpus" | cut -f1); big.zip $(du -h "$W/big/big.zip" | cut -f1), big.tar.gz $(du -h "$W/big/big.tar.gz" | cut -f1)"
  echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
} >"$out/machine.txt"

# Both servers with limits that let the 200 MB archive in whole.
write_clamd_conf "$out/clamd.conf" "$run/clamd.sock" "$W/db" "$run/clamd-tmp" "$out/clamd.log" "$(nproc)"
sed -i 's/^StreamMaxLength .*/StreamMaxLength 300M/' "$out/clamd.conf"
printf 'MaxFileSize 300M\nMaxScanSize 1000M\n' >>"$out/clamd.conf"
cat >"$out/ringscan.toml" <<TOML
[clamd]
stream_max_length = "300M"
[limits]
max_file_size = "300M"
max_scan_size = "1000M"
TOML

declare -A pid=()
cleanup() { local p; for p in "${pid[@]}"; do "$rp" stop --pid "$p" --grace 5s || true; done; }
trap cleanup EXIT
start_server() { # name cores-note command...
  local name="$1"; shift
  say "starting $name"
  "$rp" launch --label "$name" --target "clamd+unix:$run/$name.sock" --timeout 300s \
    --log "$out/$name.log" --pidfile "$run/$name.pid" --json "$out/$name-launch.json" -- "$@" ||
    { tail -n 20 "$out/$name.log" >&2 || true; die "$name did not start"; }
  pid[$name]="$(cat "$run/$name.pid")"
}
target() { echo "clamd+unix:$run/$1.sock"; }

# 1. Throughput on the container corpus (RINGSCAN_PERF_ONLY=latency skips it).
if [ "${RINGSCAN_PERF_ONLY:-}" != latency ]; then
start_server clamd "$clamd" --foreground --config-file="$out/clamd.conf"
start_server ringscan "$bin/ringscan" serve --config "$out/ringscan.toml" --db "$W/db" \
  --unix "$run/ringscan.sock" --tcp "" --http "" --no-cache
say "compare on the container corpus: $pairs pairs"
"$rp" compare --a "$(target clamd)" --a-label clamd --b "$(target ringscan)" --b-label ringscan \
  --corpus "$W/corpus" --mode closed --concurrency 4 --pairs "$pairs" \
  --duration "$duration" --warmup "$warmup" --timeout 120s \
  --a-pid "${pid[clamd]}" --b-pid "${pid[ringscan]}" \
  --out "$out/compare-containers" --json "$out/compare-containers.json" | tee "$out/runs.txt"
"$rp" stop --pid "${pid[ringscan]}" --grace 5s; unset 'pid[ringscan]'
"$rp" stop --pid "${pid[clamd]}" --grace 5s; unset 'pid[clamd]'
fi

# 2. Small requests beside the 200 MB archive, one core.
start_server ringscan1 "$bin/ringscan" serve --config "$out/ringscan.toml" --db "$W/db" \
  --unix "$run/ringscan1.sock" --tcp "" --http "" --no-cache --cores 1
small() { # label
  "$rp" open --target "$(target ringscan1)" --size 4K --eicar-share 0.1 --rate "$rate" \
    --connections 4 --duration "$duration" --warmup "$warmup" --timeout 60s \
    --json "$out/small-$1.json" | tee -a "$out/runs.txt"
}
say "small requests alone"
small alone
for big in zip targz; do
  say "small requests while big.$big is scanned over and over"
  "$rp" closed --target "$(target ringscan1)" --corpus "$run/big-$big" --expect first-pass \
    --concurrency 1 --duration "$((${duration%s} + ${warmup%s} + 4))s" --timeout 300s \
    --json "$out/big-$big.json" >"$out/big-$big.txt" 2>&1 &
  bg=$!
  sleep 2
  small "beside-$big"
  wait "$bg" || die "the big-archive client failed: $(tail -5 "$out/big-$big.txt")"
done

{
  echo "| run | p50 ms | p99 ms | p99.9 ms | max ms | achieved req/s | errors |"
  echo "|---|---|---|---|---|---|---|"
  for f in alone beside-zip beside-targz; do
    j="$out/small-$f.json"
    python3 - "$j" "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency_ms"]
print("| 4 KiB %s | %.2f | %.2f | %.2f | %.1f | %.0f | %d |" % (sys.argv[2], l["p50"], l["p99"], l["p999"], l["max"], r["achieved_rate"], r["errors"]))
PY
  done
  for big in zip targz; do
    python3 - "$out/big-$big.json" "$big" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("\nbig.%s: %d scans, %.0f MB/s, p50 %.0f ms per archive, errors %d" % (sys.argv[2], r["requests"], r["mb_s"], r["latency_ms"]["p50"], r["errors"]))
PY
  done
} | tee "$out/summary.md"
for log in "$out"/*.log; do trim_log "$log"; done
say "results in $out"
