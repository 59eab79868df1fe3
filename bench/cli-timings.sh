#!/usr/bin/env bash
# Release wall time (median of N runs) and peak memory (max RSS) of the
# main commands. Not part of CI: the machine is shared and noisy.
#   bench/cli-timings.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-7}
cargo build --release --quiet
bin=./target/release/bnproof
seed='u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]'

measure() {
  local label=$1; shift
  local times=() mem=0
  for _ in $(seq "$n"); do
    local out tmp
    tmp=$(mktemp)
    /usr/bin/time -o "$tmp" -f '%e %M' "$@" >/dev/null 2>&1 || true
    out=$(tail -n 1 "$tmp")
    rm -f "$tmp"
    times+=("${out% *}")
    local m=${out#* }
    (( m > mem )) && mem=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-46s median %6.3f s   peak %6d KB   (%d runs)\n' "$label" "$median" "$mem" "$n"
}

measure "prove seed-eq1" "$bin" prove "$seed"
measure "theorems (16 entries)" "$bin" theorems
measure "derive batchnorm" "$bin" derive batchnorm
measure "derive batchnorm --order 2" "$bin" derive batchnorm --order 2
for m in centering batchnorm2d batchnorm-eval layernorm instancenorm groupnorm rmsnorm; do
  measure "derive $m" "$bin" derive "$m"
done
measure "verify --all --backend exact" "$bin" verify --all --backend exact
measure "verify --all (exact,f64)" "$bin" verify --all
measure "verify batchnorm --order 3 --backend exact" "$bin" verify batchnorm --order 3 --backend exact
measure "explain seed" "$bin" explain seed
