#!/usr/bin/env bash
# Installs the system packages ringscan builds and tests against, only when missing:
# libhyperscan-dev + pkg-config (the engine links the system libhs) and, with --test,
# clamav (clamscan is the reference in the differential tests), clamdscan and a Python
# venv in target/test-venv holding the PyPI clamd client (the clamd-protocol tests drive
# `ringscan serve` with both), and curl + openssl (the KAV HTTP-mode tests drive it with
# curl, over TLS with a certificate made by openssl), and systemd for systemd-analyze
# (tests/tuning.rs verifies tuning/ringscan.service with it), and the archivers the
# container tests build their fixtures with (zip, 7z, gcab, cpio, xz, bzip2, zstd). With --test --clamd also Debian's
# clamd (clamav-daemon),
# for RINGSCAN_TEST_SERVER=clamd, which runs those tests against real clamd.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
test=""; clamd=""
for a in "$@"; do
  case "$a" in
    --test) test=1 ;;
    --clamd) clamd=1 ;;
    *) echo "usage: $0 [--test [--clamd]]" >&2; exit 2 ;;
  esac
done
need=()
pkg-config --exists libhs 2>/dev/null || need+=(libhyperscan-dev pkg-config)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ -n "$test" ]; then
  command -v clamscan >/dev/null || need+=(clamav)
  command -v clamdscan >/dev/null || need+=(clamdscan)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  # Container tests build their archives with the standard tools.
  command -v zip >/dev/null || need+=(zip)
  command -v unzip >/dev/null || need+=(unzip)
  command -v 7z >/dev/null || need+=(p7zip-full)
  command -v gcab >/dev/null || need+=(gcab)
  command -v cpio >/dev/null || need+=(cpio)
  command -v xz >/dev/null || need+=(xz-utils)
  command -v bzip2 >/dev/null || need+=(bzip2)
  command -v zstd >/dev/null || need+=(zstd)
  # Debian's python3 makes venvs only with python3-venv (ensurepip).
  python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
fi
if [ -n "$clamd" ]; then
  [ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # (clamav-daemon: whether apt starts its service or not, the tests run their own clamd.)
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -n "$test" ]; then
  venv="$root/target/test-venv"
  if ! "$venv/bin/python" -c 'import clamd' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'clamd==1.0.2'
  fi
fi
