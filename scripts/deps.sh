#!/usr/bin/env bash
# Installs the system packages ringscan builds and tests against, only when missing:
# libhyperscan-dev + pkg-config (the engine links the system libhs) and, with --test,
# clamav (clamscan is the reference in the differential tests).
set -euo pipefail
need=()
pkg-config --exists libhs 2>/dev/null || need+=(libhyperscan-dev pkg-config)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ "${1:-}" = "--test" ]; then
  command -v clamscan >/dev/null || need+=(clamav)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
