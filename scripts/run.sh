#!/usr/bin/env bash
# Runs the ringscan service on its embedded defaults: no config file, the built-in
# signature set, the clamd protocol on ./ringscan.sock and 127.0.0.1:3310, one
# executor per CPU. Extra arguments go to `ringscan serve` (see `--help`), e.g.
#   scripts/run.sh --db /var/lib/clamav --allow-root /srv
# Stop it with Ctrl-C (SIGINT) or SIGTERM; reload databases with SIGHUP.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cargo build --release --manifest-path "$root/Cargo.toml" -p ringscan
exec "$root/target/release/ringscan" serve "$@"
