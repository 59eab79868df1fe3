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
# The suite runs once, optimized (it shares target/release with the smoke
# runs below; unoptimized it took 16 of CI's 48 minutes). The release
# profile keeps overflow checks on, so the tests still catch an overflow.
echo "== cargo test (release)"
cargo test --release --all-targets
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
# Every built-in model: models/*.bn (the binary embeds the same files).
models=$(basename -s .bn models/*.bn)
$bin theorems
for m in $models; do
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

# ---- LibTorch suite (feature `torch`): LibTorch from PyPI, cached outside
# the clone; its own target dir so the default build above stays as it is.
echo "== LibTorch: torch==2.11.0 from PyPI (cached under ~/.cache/bnproof)"
LIBTORCH="$(./scripts/setup-libtorch.sh | tail -n 1)"
export LIBTORCH
echo "== CI example (examples/ci): correct batch norm passes verify --against, buggy copy fails"
./examples/ci/check.sh ./target/release/bnproof
torch_python="${BNPROOF_TORCH_VENV:-$HOME/.cache/bnproof/torch-2.11.0}/bin/python3"
echo "== second-order vectors against PyTorch's double backward (Python torch)"
"$torch_python" scripts/second-order-check.py "$bin" target
# The setup above put numpy and torch into its Python: run the modules
# `bnproof emit` writes against `bnproof vectors` (cargo test above skipped
# that half when the environment was not there yet).
echo "== emit: generated NumPy and torch modules against bnproof vectors"
./scripts/emit-check.sh "$bin"
torch_target=target/torch
echo "== cargo clippy --features torch -- -D warnings"
CARGO_TARGET_DIR=$torch_target cargo clippy --release --features torch --all-targets -- -D warnings
# With the feature only the tests whose behaviour it changes run again: the
# LibTorch backend (lib and it `torch::`), the CLI's and `--against`'s
# torch paths, and the address-space limit of the larger binary.
echo "== cargo test --features torch (the tests the feature changes)"
CARGO_TARGET_DIR=$torch_target cargo test --release --features torch --lib --test it -- \
  torch:: cli:: against:: adversarial::
CARGO_TARGET_DIR=$torch_target cargo build --release --features torch --quiet
tbin=$torch_target/release/bnproof
echo "== CI example: a TorchScript backward through verify --against module.pt"
./examples/ci/check-torchscript.sh "$tbin"
echo "== torch-enabled binary keeps libtorch.so and has a RUNPATH"
readelf -d "$tbin" | grep -E 'NEEDED.*\[libtorch\.so\]|RUNPATH'
readelf -d "$tbin" | grep -q 'NEEDED.*\[libtorch\.so\]'
readelf -d "$tbin" | grep -q 'RUNPATH'
echo "== verify --backend torch (cpu)"
$tbin verify --all --backend torch --device cpu --dtype f64 | tail -n 1
$tbin verify --all --backend torch --device cpu --dtype f32 | tail -n 1
$tbin verify --all --backend torch --order 2 --format junit >target/torch-verify-order2.xml
grep -o '<testsuite[^>]*>' target/torch-verify-order2.xml
$tbin verify batchnorm --order 3 --backend torch | grep -c 'known LibTorch bug pytorch#186256'
# No CUDA here: the GPU script must say so and exit 4.
set +e
BNPROOF_GPU_CHECK_DEVICE=cuda ./scripts/gpu-check.sh "$tbin" >/dev/null 2>&1
rc=$?
set -e
if [ "$rc" -ne 4 ] && [ "$rc" -ne 0 ]; then
  echo "scripts/gpu-check.sh exited $rc (want 4 without CUDA, 0 with)" >&2
  exit 1
fi
