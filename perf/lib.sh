# Sourced by the perf/ scripts (server.sh, http.sh, headline.sh): what more than one of
# them needs.
#
#   ensure_clamd                      installs clamav-daemon when /usr/sbin/clamd is
#                                     missing, and stops the system clamd and freshclam
#                                     the package starts (they would compete for the cores)
#   write_clamd_conf FILE SOCKET DB TMP LOG THREADS
#                                     a clamd.conf for a foreground clamd on a UNIX
#                                     socket, cache of clean results off (every request
#                                     is scanned: the clients cycle through the same
#                                     objects), no self-check during measurements
#   write_eicar_ndb FILE              a one-line .ndb that finds the EICAR string anywhere
#                                     (bench-corpus's eicar.hdb and ringscan's built-in
#                                     EICAR signature are hashes of the exact 68-byte file:
#                                     they miss the string inside a bigger synthetic object)
#   trim_log FILE                     keeps the first and last 200 lines of a long log
#                                     (every detection is logged, as clamd does)
#   json_num KEY FILE                 a top-level number from the pretty JSON that
#                                     ringscan-perf writes
clamd=/usr/sbin/clamd

ensure_clamd() {
  [ -x "$clamd" ] && return
  echo "installing clamav-daemon" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clamav-daemon >/dev/null
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now clamav-daemon.service clamav-daemon.socket clamav-freshclam.service 2>/dev/null || true
  fi
}

write_clamd_conf() {
  local file="$1" socket="$2" db="$3" tmp="$4" log="$5" threads="$6"
  cat >"$file" <<CONF
# Written by perf/lib.sh (write_clamd_conf).
Foreground yes
LocalSocket $socket
FixStaleSocket yes
DatabaseDirectory $db
TemporaryDirectory $tmp
LogFile $log
LogTime yes
MaxThreads $threads
StreamMaxLength 64M
DisableCache yes
SelfCheck 0
ConcurrentDatabaseReload yes
CONF
}

write_eicar_ndb() {
  # The EICAR string in hex, in two halves as bench-corpus writes it, so that this file
  # is not itself flagged by scanners.
  local hex="58354f2150254041505b345c505a58353428505e2937434329377d24"
  hex+="45494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a"
  echo "Eicar-Test-Signature:0:*:$hex" >"$1"
}

trim_log() {
  local log="$1" n
  n="$(wc -l <"$log")"
  if [ "$n" -gt 400 ]; then
    { head -n 200 "$log"; echo "... $((n - 400)) lines left out ..."; tail -n 200 "$log"; } >"$log.short"
    mv "$log.short" "$log"
  fi
}

json_num() { sed -n "s/^  \"$1\": \\([0-9.eE+-]*\\),\$/\\1/p" "$2"; }
