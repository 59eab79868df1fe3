#!/usr/bin/env bash
# bnproof against SymPy on the same statements (see compare.py).
#   bench/sympy/run.sh
# Environment:
#   BNPROOF_SYMPY_NS="2 4 8 16 32 64"   batch sizes SymPy is asked about
#   BNPROOF_SYMPY_LIMIT=60              seconds per (statement, N, method) point
#   BNPROOF_SYMPY_METHODS=expand,cancel,together+expand,radsimp
#   BNPROOF_SYMPY_VENV=~/.cache/bnproof/sympy-venv
#   BNPROOF_RUNS=5                      runs of each bnproof command (median)
# A method that times out at some N is not tried at larger N, so the whole
# run stays within about 15 minutes at the default limit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${BNPROOF_SYMPY_VENV:-$HOME/.cache/bnproof/sympy-venv}
runs=${BNPROOF_RUNS:-5}
export BNPROOF_SYMPY_NS=${BNPROOF_SYMPY_NS:-2 4 8 16 32 64}

if [ ! -x "$venv/bin/python" ]; then
  echo "# creating $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

cd "$root"
cargo build --release --quiet --bin bnproof --example bn_dx
bin=${CARGO_TARGET_DIR:-$root/target}/release/bnproof
bn_dx=${CARGO_TARGET_DIR:-$root/target}/release/examples/bn_dx
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 1; }

seed='u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]'
variance='mean[i]((x[i] − mean[i](x[i]))^2) = mean[i](x[i]^2) − mean[i](x[i])^2'
tsv=$(mktemp)
tf=$(mktemp)
trap 'rm -f "$tsv" "$tf"' EXIT

# median wall seconds (date +%N; /usr/bin/time's %e is only 10 ms) and peak KB of `runs` runs; fails if the command fails
measure() {
  local label=$1 shown=$2; shift 2
  local times=() mem=0 t m rc
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -o "$tf" -f '%M %x' "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    read -r m rc < <(tail -n 1 "$tf")
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')
    [ "$rc" = 0 ] || { echo "bnproof failed ($rc): $shown" >&2; exit 1; }
    times+=("$t")
    (( m > mem )) && mem=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%s\t%s\t%s\t%s\n' "$label" "$median" "$mem" "$shown" >>"$tsv"
}

measure seed "\`bnproof prove '<Eq. (1)>'\`, process wall, median of $runs" "$bin" prove "$seed"
measure variance "\`bnproof prove '<variance identity>'\`, process wall, median of $runs" "$bin" prove "$variance"
# The same work as SymPy's bn-dx: reverse mode, then a kernel-checked proof
# that ∂ℓ/∂x is the three-term form. SymPy's seconds are timed inside its
# process (import excluded), so bn-dx's are too: the median of 21 runs that
# examples/bn_dx reports; peak memory from /usr/bin/time. (The process wall
# of one run is printed after the table.)
BNPROOF_RUNS=1 measure bn-dx-process "examples/bn_dx, one run, whole process" "$bn_dx"
/usr/bin/time -o "$tf" -f '%M' "$bn_dx" >"$tf.out"
inproc=$(grep -o 'median [0-9.]* ms' "$tf.out" | awk '{printf "%.5f", $2 / 1000}')
printf 'bn-dx\t%s\t%s\t%s\n' "$inproc" "$(tail -n 1 "$tf")" \
  "examples/bn_dx: reverse mode + kernel-checked proof of the three-term form, in-process median of 21 runs" >>"$tsv"
# For reference, not in the ratio: the whole derivation with every claim and fact.
BNPROOF_RUNS=1 measure bn-dx-derive "bnproof derive batchnorm --wrt x" "$bin" derive batchnorm --wrt x

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
# LibTorch's column when torch 2.11 is installed (scripts/setup-libtorch.sh).
torch_py=${BNPROOF_TORCH_PYTHON:-$HOME/.cache/bnproof/torch-2.11.0/bin/python3}
torch_args=()
[ -x "$torch_py" ] && torch_args=(--torch-python "$torch_py")
"$venv/bin/python" "$here/compare.py" --bnproof "$tsv" "${torch_args[@]}" "$@"
grep -E '^bn-dx-(derive|process)' "$tsv" | awk -F'\t' -v runs="$runs" '{printf "for reference, process wall (median of %d): %s: %s s, %.0f MB\n", runs, $4, $2, $3/1024}'
rm -f "$tf.out"
