#!/usr/bin/env bash
# RLIMIT_NOFILE against idle connections: holds HOLD connections open without a command
# (each costs ringscan one descriptor until command_read_timeout), then asks for PING on
# a fresh connection, with the soft limit at systemd's default (1024) and at this
# machine's hard limit (the unit sets 65536; a process without CAP_SYS_RESOURCE cannot
# go above its hard limit).
# ringscan does not raise its own soft limit, so the unit's LimitNOFILE= is what it gets.
# usage: nofile-check.sh RINGSCAN [HOLD]
set -uo pipefail
bin=$1; hold=${2:-1500}
w=/tmp/tuning-work/nofile; mkdir -p "$w"
hard=$(ulimit -H -n)
for limit in 1024 "$hard" 1024 "$hard"; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  prlimit --nofile=$limit:$hard "$bin" serve --cores 2 --unix "" --tcp "127.0.0.1:$port" --http "" --no-cache >"$w/log" 2>&1 &
  pid=$!
  sleep 1
  echo "== RLIMIT_NOFILE soft $limit, $hold idle connections held"
  python3 - "$port" "$hold" <<'PY'
import socket, sys, time, resource
h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (h, h))
port, hold = int(sys.argv[1]), int(sys.argv[2])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(hold)]
time.sleep(1)
t = time.monotonic()
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5); s.sendall(b"zPING\0"); r = s.recv(16)
    print("   fresh PING: %r after %.0f ms" % (r, (time.monotonic() - t) * 1e3))
except OSError as e:
    print("   fresh PING: no answer within 5 s (%s)" % e)
PY
  echo "   server log: $(grep -c 'accept failed' "$w/log") 'TCP accept failed' warnings; first: $(grep -m1 -o 'error=.*' "$w/log")"
  kill -TERM $pid; wait $pid
done
