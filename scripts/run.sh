#!/usr/bin/env bash
# Runs ringscan on its built-in signature set (no configuration, no database files):
# scans the given paths (default: the current directory) recursively on all cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cargo build --release --manifest-path "$root/Cargo.toml" -p ringscan
[ $# -gt 0 ] || set -- .
exec "$root/target/release/ringscan" scan -r "$@"
