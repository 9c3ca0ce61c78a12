#!/usr/bin/env bash
# Does `ringscan serve` start again on the same TCP port right after a stop, while the
# previous instance's closed connections sit in TIME_WAIT (60 s on Linux)?
# usage: restart-timewait.sh RINGSCAN PORT
set -uo pipefail
bin=$1; port=$2
start() {
  "$bin" serve --cores 2 --unix "" --tcp "127.0.0.1:$port" --http "" --no-cache >"/tmp/tuning-work/restart.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    python3 - "$port" 2>/dev/null <<'PY' && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"zPING\0"); assert s.recv(16) == b"PONG\0"
PY
    kill -0 $pid 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
start && echo "first start: ok"
# A few requests: the server closes after each, so its side of each connection goes to
# TIME_WAIT.
python3 - "$port" <<'PY'
import socket, sys
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"zPING\0"); s.recv(16); s.close()
PY
kill -TERM $pid; wait $pid
echo "TIME_WAIT sockets on port $port: $(ss -tan state time-wait "( sport = :$port )" | tail -n +2 | wc -l)"
if start; then echo "restart at once: ok"; kill -TERM $pid; wait $pid
else echo "restart at once: FAILED: $(tail -n 1 /tmp/tuning-work/restart.log)"; fi
