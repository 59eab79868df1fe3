#!/usr/bin/env bash
# Adversarial inputs through the release binary: exit code, wall time and
# peak RSS of each (docs/PERFORMANCE.md, "Adversarial inputs: peak memory").
# Extra arguments go to run.py (--markdown, --only NAME,...).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, commit $(git rev-parse --short HEAD)"
exec python3 bench/adversarial/run.py target/release/bnproof "$@"
