#!/usr/bin/env bash
# Runs `ringscan serve` under strace through a workload that touches every code path the
# unit's sandbox could break (both protocols, UNIX and TCP, INSTREAM, path SCAN, KAV
# scanmemory and scanfile, compiled-database cache write and read, SIGHUP and RELOAD
# reloads, --watch, SIGTERM), then checks:
#   1. every system call it made is in systemd's @system-service set (SystemCallFilter=);
#   2. no mapping was ever made writable and executable, and no mprotect added PROT_EXEC
#      (MemoryDenyWriteExecute=yes kills the process on either).
# usage: syscall-check.sh RINGSCAN NDB_FILE   (NDB_FILE: some .ndb signatures, to compile)
set -euo pipefail
bin=$1; ndb=$2
w=$(mktemp -d /tmp/tuning-work/syscalls.XXXXXX)
mkdir -p "$w/db" "$w/cache" "$w/files"
head -n 200 "$ndb" > "$w/db/some.ndb"
printf 'hello\n' > "$w/files/a.txt"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() {
  # Fresh ports each run: the last run's TIME_WAIT sockets keep its ports from being
  # bound again for a minute (see tuning/README.md, "Restarts").
  port=$(free_port); hport=$(free_port)
  RINGSCAN_CACHE_DIR="$w/cache" strace -f -qq -o "$w/trace.$1" -e trace=all \
    "$bin" serve --cores 2 --db "$w/db" --unix "$w/s.sock" --tcp "127.0.0.1:$port" \
    --http "127.0.0.1:$hport" --allow-root "$w/files" --scanning-path "$w/files" --watch \
    >"$w/log.$1" 2>&1 &
  tracer=$!
  # Signals go to ringscan itself, strace's child: strace does not pass them on.
  pid=""
  for _ in $(seq 1 100); do pid=$(pgrep -P $tracer -x ringscan || true); [ -n "$pid" ] && break; sleep 0.05; done
  for _ in $(seq 1 300); do [ -S "$w/s.sock" ] && python3 - "$port" <<'PY' 2>/dev/null && break
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"zPING\0"); assert s.recv(16) == b"PONG\0"
PY
    sleep 0.1; done
  python3 - "$w" "$port" "$hport" <<'PY'
import base64, http.client, socket, struct, sys
w, port, hport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
def ask(fam, addr, req):
    s = socket.socket(fam, socket.SOCK_STREAM); s.connect(addr); s.sendall(req)
    out = b""
    while True:
        d = s.recv(65536)
        if not d: return out
        out += d
for fam, addr in [(socket.AF_UNIX, w + "/s.sock"), (socket.AF_INET, ("127.0.0.1", port))]:
    for req in [b"zPING\0", b"zVERSION\0", b"zSTATS\0", ("zSCAN %s/files\0" % w).encode(),
                ("zCONTSCAN %s/files\0" % w).encode(), ("zMULTISCAN %s/files\0" % w).encode()]:
        print(ask(fam, addr, req)[:60])
    big = bytes(range(256)) * 4096
    print(ask(fam, addr, b"zINSTREAM\0" + struct.pack(">I", len(eicar)) + eicar
              + struct.pack(">I", len(big)) + big + struct.pack(">I", 0)))
c = http.client.HTTPConnection("127.0.0.1", hport)
for path, body in [("/api/v3.0/scanmemory", '{"object":"%s"}' % base64.b64encode(eicar).decode()),
                   ("/api/v3.0/scanfile", '{"object":"%s/files/a.txt"}' % w)]:
    c.request("POST", path, body); print(c.getresponse().read()[:80])
PY
  kill -HUP $pid; sleep 1
  python3 -c "
import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect('$w/s.sock');s.sendall(b'zRELOAD\0');print(s.recv(64))"
  sleep 1
  kill -TERM $pid; wait $tracer || true
}
run cold   # compiles and writes the cache
run warm   # reads the cache
cat "$w"/trace.* | sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' | sort -u > "$w/used.txt"
python3 - "$w/used.txt" <<'PY'
import subprocess, sys
def expand(name):
    out = set()
    txt = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    for l in txt.splitlines()[1:]:
        l = l.strip()
        if not l or l.startswith("#"): continue
        out |= expand(l) if l.startswith("@") else {l}
    return out
allowed = expand("@system-service")
used = open(sys.argv[1]).read().split()
print("system calls made (%d): %s" % (len(used), " ".join(used)))
print("outside @system-service: %s" % ([u for u in used if u not in allowed] or "none"))
PY
wx=$(grep -hE '^[0-9]+ +(mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC' "$w"/trace.* | grep -E 'PROT_WRITE|mprotect' || true)
echo "W+X mappings or mprotect(PROT_EXEC): ${wx:-none}"
grep -h "from_cache" "$w"/log.* | sed -E 's/.*(from_cache=[a-z]+).*/database load: \1/'
rm -rf "$w"
