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

# ---- rendering checks (issue 6): the docs site in headless Chromium, and
# the LaTeX output through pdfLaTeX. Each script installs what it needs
# (Debian's chromium / texlive-latex-base with apt-get, playwright-core from
# npm) and caches it outside the clone, in ~/.cache/bnproof.
echo "== browser check (docs site in headless chromium)"
./scripts/browser-check.sh
echo "== LaTeX check (pdflatex)"
./scripts/latex-check.sh
