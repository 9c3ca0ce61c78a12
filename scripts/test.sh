#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test of the workspace
# (unit, CLI, cache, steady-state allocation, the differential tests against clamscan,
# and the clamd-protocol tests that drive `ringscan serve` with clamdscan and python-clamd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
cargo test --workspace "$@"
