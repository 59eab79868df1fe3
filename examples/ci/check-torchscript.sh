#!/usr/bin/env bash
# CI check of a batch-norm backward exported as TorchScript
# (examples/ci/README.md). Needs a bnproof built with `--features torch`.
#
#   examples/ci/check-torchscript.sh BNPROOF
#
# export_torchscript.py writes the correct module and the one with the
# N - 1 bug; `bnproof verify batchnorm --against MODULE.pt` draws seeded
# arrays, calls each module's forward(x, gamma, beta, eps, dy) and compares
# the returned grad_x, grad_gamma, grad_beta with the derived gradients:
#   correct module, float64 and float32 arguments   must pass     (exit 0)
#   module with the bug                             must be caught (exit 1)
# Exits 0 when all hold, 1 when one does not, 2 on bad usage.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 BNPROOF" >&2
  exit 2
fi
bnproof=$1
python="${BNPROOF_TORCH_VENV:-$HOME/.cache/bnproof/torch-2.11.0}/bin/python3"
if [ ! -x "$python" ]; then
  echo "$0: no Python at $python (set BNPROOF_TORCH_VENV to a venv with torch)" >&2
  exit 2
fi
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" "$here/export_torchscript.py" "$work/bn.pt"
"$python" "$here/export_torchscript.py" "$work/bn-bug.pt" --bug

failed=0
expect() {
  local want=$1 module=$2
  shift 2
  echo "\$ bnproof verify batchnorm --against $(basename "$module") $*"
  set +e
  output=$("$bnproof" verify batchnorm --against "$module" --shape n=16 "$@" 2>&1)
  rc=$?
  set -e
  echo "$output"
  if [ "$rc" -ne "$want" ]; then
    echo "-> exit $rc, expected $want" >&2
    failed=1
  else
    echo "-> exit $rc, as expected"
  fi
}
expect 0 "$work/bn.pt"
expect 0 "$work/bn.pt" --dtype f32
expect 1 "$work/bn-bug.pt"
if ! grep -Eq 'worst.*grad_x\[' <<<"$output"; then
  echo "-> the buggy module's output does not name grad_x and its worst index" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "examples/ci: TorchScript module passes (f64, f32), buggy module caught"
