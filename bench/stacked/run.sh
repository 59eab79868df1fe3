#!/usr/bin/env bash
# Stacked batch-norm layers (k = 1…64): wall time and peak RSS of
# `bnproof derive` on the whole process, default build (no `torch`).
# Usage: bench/stacked/run.sh [runs]   (median of `runs`, default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
cargo build --release --quiet
bin=./target/release/bnproof
dir=$(mktemp -d)
model() {
  local k=$1
  printf 'axis n\ninput x[n]\nparam gamma, beta\nassume eps > 0\n'
  local prev=x
  for j in $(seq 1 "$k"); do
    printf 'mu_%d = mean[n](%s)\n' "$j" "$prev"
    printf 'v_%d = mean[n]((%s - mu_%d)^2)\n' "$j" "$prev" "$j"
    printf 'h_%d = gamma * (%s - mu_%d) / sqrt(v_%d + eps) + beta\n' "$j" "$prev" "$j" "$j"
    prev="h_$j"
  done
  printf 'output %s\n' "$prev"
}
printf '%4s  %12s  %12s  %s\n' k "median s" "median MB" "exit"
for k in 1 2 4 6 8 16 32 64; do
  model "$k" >"$dir/stack$k.bn"
  times=(); mems=(); code=0
  for _ in $(seq 1 "$runs"); do
    t0=$(date +%s%N)
    out=$( { /usr/bin/time -f '%M' "$bin" derive "$dir/stack$k.bn" >/dev/null; } 2>&1 ) || code=$?
    t1=$(date +%s%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    m=$(tail -n 1 <<<"$out")
    times+=("$t"); mems+=("$m")
  done
  mt=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mm=$(printf '%s\n' "${mems[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1024}')
  printf '%4d  %12s  %12s  %s\n' "$k" "$mt" "$mm" "$code"
done
rm -rf "$dir"
