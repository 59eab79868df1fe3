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
echo "== bnproof theorems (release)"
cargo build --release --quiet
./target/release/bnproof theorems
