#!/usr/bin/env bash
# Runs everything CI runs: formatting, lints, docs, the test suite, and the
# theorem library through the release binary. Needs only crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "== cargo test"
cargo test --all-targets
# -- bounded fuzz run (issue 8): ~20 s per cargo-fuzz target, seeds from
# fuzz/seeds, build cached in ~/.cache/bnproof; fails on any crash.
# BNPROOF_SKIP_FUZZ=1 skips it.
if [ "${BNPROOF_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (scripts/fuzz-ci.sh)"
  ./scripts/fuzz-ci.sh
fi
echo "== CLI smoke runs (release)"
cargo build --release --quiet
bin=./target/release/bnproof
$bin theorems
for m in centering batchnorm batchnorm2d batchnorm-eval layernorm instancenorm groupnorm rmsnorm; do
  $bin derive "$m" | tail -n 1
done
$bin verify --all | tail -n 1
$bin verify --all --backend exact --order 2 | tail -n 1
$bin explain seed --plot target/seed.svg | tail -n 1
$bin explain scale --plot target/scale.svg | tail -n 1
$bin explain bn-backward | tail -n 1
