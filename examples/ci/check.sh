#!/usr/bin/env bash
# CI check of a batch-norm backward pass with bnproof (examples/ci/README.md).
#
#   examples/ci/check.sh BNPROOF
#
# BNPROOF is the bnproof binary (a path, or a name on PATH). Python (with
# torch and numpy) is $BNPROOF_TORCH_VENV/bin/python3, by default
# ~/.cache/bnproof/torch-2.11.0/bin/python3 (scripts/setup-libtorch.sh).
#
# For each implementation: write_vectors.py runs it forward and backward on
# seeded inputs and saves x, gamma, beta, eps, dy, grad_x, grad_gamma,
# grad_beta to an .npz; `bnproof verify batchnorm --against` compares the
# grad_ arrays with the exactly derived gradients at those inputs.
#   batchnorm.py        float64  must pass       (exit 0)
#   batchnorm.py        float32  must pass       (exit 0, f32 tolerances)
#   batchnorm_buggy.py  float64  must be caught  (exit 1, naming grad_x and
#                                                 its worst index)
# Exits 0 when all three hold, 1 when one does not, 2 on bad usage.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 BNPROOF" >&2
  exit 2
fi
bnproof=$1
if ! command -v "$bnproof" >/dev/null; then
  echo "$0: no bnproof binary at '$bnproof'" >&2
  exit 2
fi
python="${BNPROOF_TORCH_VENV:-$HOME/.cache/bnproof/torch-2.11.0}/bin/python3"
if [ ! -x "$python" ]; then
  echo "$0: no Python at $python (set BNPROOF_TORCH_VENV to a venv with torch and numpy)" >&2
  exit 2
fi
# No __pycache__ next to the example (it is imported from a path).
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
output=

# run IMPL DTYPE WANT_RC: write the vectors, verify them, compare the exit
# status with WANT_RC; the verify output is left in $output.
run() {
  local impl=$1 dtype=$2 want=$3 npz rc
  npz="$work/${impl%.py}-$dtype.npz"
  echo "== $impl ($dtype): expect bnproof exit $want"
  "$python" "$here/write_vectors.py" "$here/$impl" "$npz" --dtype "$dtype"
  echo "\$ bnproof verify batchnorm --against $(basename "$npz")"
  set +e
  output=$("$bnproof" verify batchnorm --against "$npz" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$output"
  if [ "$rc" -eq "$want" ]; then
    echo "-> exit $rc, as expected"
  else
    echo "-> exit $rc, expected $want" >&2
    failures=$((failures + 1))
  fi
  echo
}

run batchnorm.py float64 0
run batchnorm.py float32 0
run batchnorm_buggy.py float64 1
# The failure must say which tensor and where.
if ! grep -Eq 'worst.*grad_x\[' <<<"$output"; then
  echo "-> the buggy run's output does not name grad_x and its worst index" >&2
  failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
  echo "examples/ci: $failures check(s) did not hold" >&2
  exit 1
fi
echo "examples/ci: correct implementation passes (f64, f32), buggy copy caught"
