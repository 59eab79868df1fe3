#!/usr/bin/env bash
# Runs the modules `bnproof emit` writes (issue 15): for every built-in model
# and the fixtures in tests/emit/, reference vectors from `bnproof vectors`,
# the NumPy and the torch module, and scripts/emit_check.py, which calls
# each module's backward() (and, for torch, its autograd.Function) on the
# vectors' arrays and compares every grad_* with them (max relative error
# <= 1e-12). Prints the table; exits non-zero on any failure.
#
# usage: scripts/emit-check.sh [BINARY]   (default target/release/bnproof)
# Python: ${BNPROOF_TORCH_VENV:-~/.cache/bnproof/torch-2.11.0}/bin/python3
# (numpy and torch, from scripts/setup-libtorch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/bnproof}"
py="${BNPROOF_TORCH_VENV:-$HOME/.cache/bnproof/torch-2.11.0}/bin/python3"
if [ ! -x "$py" ]; then
  echo "emit-check: no Python at $py (run scripts/setup-libtorch.sh)" >&2
  exit 2
fi
dir=target/emit-check
rm -rf "$dir"
mkdir -p "$dir"
names=()
# Every built-in model: models/*.bn (the binary embeds the same files).
models=$(basename -s .bn models/*.bn)
for m in $models tests/emit/*.bn; do
  name="$(basename "$m" .bn)"
  "$bin" vectors "$m" --out "$dir/$name.npz" >/dev/null
  for lang in numpy torch; do
    "$bin" emit "$m" --lang "$lang" --out "$dir/${name}_$lang.py" 2>/dev/null
  done
  names+=("$name")
done
"$py" scripts/emit_check.py "$dir" "${names[@]}"
