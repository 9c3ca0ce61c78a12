#!/usr/bin/env bash
# Where ringscan's executors run when the process is started with a narrower CPU set:
#   1. taskset -c 0 (what systemd's CPUAffinity= does: sched_setaffinity on the process);
#   2. a cgroup-v1 cpuset with cpus=0 (what systemd's AllowedCPUs= does on cgroup v2),
#      with --cores 2 and --cores 1.
# usage: affinity-check.sh RINGSCAN   (root; part 2 needs the cgroup-v1 cpuset hierarchy)
set -uo pipefail
bin=$1
w=/tmp/tuning-work/affinity; mkdir -p "$w"
threads() {
  for t in /proc/$1/task/*; do
    printf '   %-16s allowed CPUs %s\n' "$(cat $t/comm)" "$(awk '/Cpus_allowed_list/{print $2}' $t/status)"
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ping_tcp() {
  python3 - "$1" 2>/dev/null <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"zPING\0"); print(s.recv(16))
PY
}
echo "== taskset -c 0 ringscan serve --cores 2 (CPUs online: $(cat /sys/devices/system/cpu/online))"
port=$(free_port)
taskset -c 0 "$bin" serve --cores 2 --unix "" --tcp 127.0.0.1:$port --http "" --no-cache >"$w/log1" 2>&1 &
pid=$!; sleep 1.5
threads $pid
echo "   PING: $(ping_tcp $port)"
kill -TERM $pid; wait $pid
cg=/sys/fs/cgroup/cpuset/ringscan-tuning
if [ -d /sys/fs/cgroup/cpuset ]; then
  for cores in 2 1; do
    mkdir "$cg"; echo 0 > "$cg/cpuset.cpus"; echo 0 > "$cg/cpuset.mems"
    echo "== cpuset cpus=0: ringscan serve --cores $cores"
    port=$(free_port)
    sh -c "echo \$\$ > $cg/cgroup.procs; exec $bin serve --cores $cores --unix '' --tcp 127.0.0.1:$port --http '' --no-cache" >"$w/log2" 2>&1 &
    pid=$!; sleep 3
    threads $pid
    echo "   PING: $(ping_tcp $port)"
    echo "   CPU time after 3 s: $(awk '{printf "%.1f s", ($14+$15)/100}' /proc/$pid/stat)"
    kill -TERM $pid; sleep 2
    if kill -0 $pid 2>/dev/null; then
      echo "   still running 2 s after SIGTERM: killed with SIGKILL"; kill -KILL $pid
    else
      echo "   exited after SIGTERM"
    fi
    wait $pid 2>/dev/null
    sed 's/^/   log: /' "$w/log2" | grep -v "^   log: *$" | tail -n 4
    rmdir "$cg"
  done
fi
