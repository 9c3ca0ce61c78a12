#!/usr/bin/env bash
# The engine benchmark, end to end, on a fresh machine:
#   1. installs what is missing (libhyperscan-dev, pkg-config, clamav) and builds release;
#   2. generates the signature set and corpus with bench-corpus, outside the repository
#      (default /tmp/ringscan-perf; regenerated only when the parameters change);
#   3. runs the three measurements pinned to one core with taskset:
#      throughput (ringscan vs raw Hyperscan on the same patterns), scale (1k/10k/100k
#      content signatures) and clamscan (the command-line scanners end to end);
#   4. writes perf/results/<YYYY-MM-DD>/: throughput/scale/clamscan .json (+ .csv, .txt),
#      machine.txt, progress.log and summary.md.
#
#   perf/engine.sh            full run; wants a quiet machine (roughly 15-30 minutes)
#   perf/engine.sh --smoke    small and quick (1k signatures, 20 MB): checks the tooling;
#                             results go to the work directory, not the repository
#
# Environment: RINGSCAN_PERF_WORK (work dir, default /tmp/ringscan-perf),
# RINGSCAN_PERF_CPU (core to pin to, default 1), RINGSCAN_PERF_PASSES (default 3),
# RINGSCAN_PERF_SCALE (default 1000,10000,100000), RINGSCAN_PERF_OUT (results dir),
# RINGSCAN_PERF_RAW_TIMEOUT (seconds per raw Hyperscan compile, default 300),
# CARGO_TARGET_DIR (as for cargo).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

W="${RINGSCAN_PERF_WORK:-/tmp/ringscan-perf}"
cpu="${RINGSCAN_PERF_CPU:-1}"
passes="${RINGSCAN_PERF_PASSES:-3}"
raw_timeout="${RINGSCAN_PERF_RAW_TIMEOUT:-300}"
if [ "$smoke" = 1 ]; then
  ndb=1000 hdb=1000 ldb=20 total=20MB hits=5 plant=0.2
  scale="${RINGSCAN_PERF_SCALE:-1000,2000}"
  W="$W/smoke"
  out="${RINGSCAN_PERF_OUT:-$W/results}"
else
  ndb=10000 hdb=100000 ldb=100 total=200MB hits=10 plant=0.02
  scale="${RINGSCAN_PERF_SCALE:-1000,10000,100000}"
  out="${RINGSCAN_PERF_OUT:-$root/perf/results/$(date +%F)}"
fi
W="$(mkdir -p "$W" && cd "$W" && pwd)"
case "$W/" in
  "$root"/*) echo "engine.sh: the work dir $W is inside the repository; pick another" >&2; exit 2 ;;
esac
if [ "$cpu" -ge "$(nproc)" ]; then
  echo "engine.sh: CPU $cpu does not exist here; pinning to CPU 0" >&2
  cpu=0
fi

# 1. Dependencies and build.
scripts/deps.sh --test
cargo build --release -p ringscan -p ringscan-bench-corpus -p ringscan-perf
bin="${CARGO_TARGET_DIR:-target}/release"
bin="$(cd "$bin" && pwd)"

# 2. Inputs, shared by perf/engine.sh and perf/server.sh (perf/inputs.sh).
# shellcheck source=perf/inputs.sh
. "$root/perf/inputs.sh"
make_inputs

# 3. Measurements, one core.
mkdir -p "$out"
: >"$out/progress.log"
pin() { taskset -c "$cpu" "$@" 2> >(tee -a "$out/progress.log" >&2); }
eb="$bin/engine-bench"

{
  echo "date:      $(date -Is)"
  echo "cpu:       $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "cores:     $(nproc) online; measured on CPU $cpu (taskset), single thread"
  echo "governor:  $(cat "/sys/devices/system/cpu/cpu$cpu/cpufreq/scaling_governor" 2>/dev/null || echo n/a)"
  echo "memory:    $(free -m | awk '/^Mem:/ {printf "%.1f GiB", $2 / 1024}')"
  echo "kernel:    $(uname -srm)"
  echo "os:        $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
  echo "hyperscan: $(pkg-config --modversion libhs 2>/dev/null || echo unknown)"
  echo "clamav:    $(clamscan --version 2>/dev/null || echo 'not installed')"
  echo "rustc:     $(rustc --version)"
  echo "ringscan:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
  echo "inputs:    $params"
} >"$out/machine.txt"

pin "$eb" throughput --sigs "$W/db" --corpus "$W/corpus" --passes "$passes" \
  --raw-timeout "$raw_timeout" --work "$W/hs" \
  --json "$out/throughput.json" --csv "$out/throughput.csv" | tee "$out/throughput.txt"
pin "$eb" scale --corpus "$W/corpus" --ndb "$scale" --hdb 0 --passes "$passes" \
  --raw-timeout "$raw_timeout" --work "$W/scale" \
  --json "$out/scale.json" --csv "$out/scale.csv" | tee "$out/scale.txt"
pin "$eb" clamscan --sigs "$W/db" --corpus "$W/corpus" --ringscan "$bin/ringscan" \
  --work "$W/cli" --json "$out/clamscan.json" | tee "$out/clamscan.txt"

# 4. Summary.
"$eb" summary --dir "$out" >"$out/summary.md"
echo "engine.sh: results in $out (summary.md)" >&2
