#!/usr/bin/env bash
# The memlock measurements of tuning/README.md: memlock-probe.sh over executors,
# io_memory, THP mode and mimalloc's THP use, as an unprivileged user (root holds
# CAP_IPC_LOCK, which exempts it from the accounting), and once as root for contrast.
# usage: memlock-sweep.sh RINGSCAN   (root: switches THP modes and users; restores THP)
set -uo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
probe="$here/memlock-probe.sh"
thp=/sys/kernel/mm/transparent_hugepage/enabled
orig=$(sed -E 's/.*\[([a-z]+)\].*/\1/' "$thp")
trap 'echo "$orig" > "$thp"' EXIT
hard=$(ulimit -H -l)
echo "RLIMIT_MEMLOCK hard limit here: ${hard} KiB; THP: $(cat $thp)"
echo "== THP madvise (this machine's), mimalloc defaults (it madvises its heap for THP)"
echo madvise > "$thp"
for cores in 1 2; do "$probe" "$bin" 8388608 "$cores" 512K nobody; done
for io in 64K 1M 2M; do "$probe" "$bin" 8388608 1 "$io" nobody; done
echo "== THP madvise, MIMALLOC_ALLOW_THP=0 (mimalloc neither madvises nor allows THP)"
for cores in 1 2 4 5 6; do MIMALLOC_ALLOW_THP=0 "$probe" "$bin" 8388608 "$cores" 512K nobody; done
echo "== THP never"
echo never > "$thp"
for io in 64K 512K 1M 2M; do "$probe" "$bin" 8388608 1 "$io" nobody; done
"$probe" "$bin" 8388608 2 512K nobody
echo "== THP always"
echo always > "$thp"
"$probe" "$bin" 8388608 1 512K nobody
MIMALLOC_ALLOW_THP=0 "$probe" "$bin" 8388608 1 512K nobody
echo madvise > "$thp"
echo "== limits under glommio's 512 KiB floor"
for limit in 524288 262144 0; do "$probe" "$bin" "$limit" 2 512K nobody; done
echo "== root (CAP_IPC_LOCK: not accounted, the limit is only glommio's floor check)"
"$probe" "$bin" 8388608 2 512K
