#!/usr/bin/env bash
# Starts `ringscan serve` under a given RLIMIT_MEMLOCK and reports whether it answered
# PING, what it logged about locked memory, and how much the kernel accounted.
# usage: memlock-probe.sh RINGSCAN MEMLOCK_BYTES CORES [IO_MEMORY] [USER]
#   USER: run as this user (setpriv; needs root). io_uring does not account registered
#   buffers for a process holding CAP_IPC_LOCK, so only an unprivileged user shows the
#   limit that matters for a service (the unit runs with no capabilities).
set -uo pipefail
bin=$1; limit=$2; cores=$3; io=${4:-512K}; user=${5:-}
work=$(mktemp -d /tmp/tuning-work/memlock.XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[server]\ncores = %s\nio_memory = "%s"\nunix_socket = ""\ntcp = "127.0.0.1:%s"\n[database]\ncache = false\n[http]\ntcp = ""\n' \
  "$cores" "$io" "$port" > "$work/ringscan.toml"
chmod 644 "$work/ringscan.toml"
run=(prlimit --memlock="$limit:$limit")
[ -n "$user" ] && run+=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups --inh-caps=-all)
"${run[@]}" "$bin" serve --config "$work/ringscan.toml" >"$work/log" 2>&1 &
pid=$!
ok=no
for _ in $(seq 1 100); do
  kill -0 $pid 2>/dev/null || break
  r=$(python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"zPING\0"); print(s.recv(16))
PY
)
  case "$r" in *PONG*) ok=yes; break ;; esac
  sleep 0.1
done
locked=$(grep -h VmPin /proc/$pid/status 2>/dev/null | awk '{print $2" kB"}')
kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
echo "memlock=$limit cores=$cores io_memory=$io user=${user:-$(id -un)} ping=$ok VmPin=${locked:-n/a} exit=$rc"
grep -iE "memlock|lock|regist|error|warn" "$work/log" | sed 's/^/  log: /' | head -5
rm -rf "$work"
