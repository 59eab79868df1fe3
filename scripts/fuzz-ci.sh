#!/usr/bin/env bash
# A bounded fuzz run for CI: every cargo-fuzz target in fuzz/ for
# BNPROOF_FUZZ_SECONDS (default 20) seconds each, starting from fuzz/seeds.
# Fails (exit 1) on any crash, timeout or out-of-memory and prints the input.
#
# Needs only crates.io and a stable toolchain:
#   * cargo-fuzz is installed once into ~/.cache/bnproof/cargo-fuzz (pinned,
#     --locked) and reused afterwards;
#   * the targets are built with RUSTC_BOOTSTRAP=1, which lets stable rustc
#     accept the nightly flags cargo-fuzz passes (-Zsanitizer=address,
#     sanitizer coverage). AddressSanitizer works this way against the
#     prebuilt (uninstrumented) standard library; only --build-std would need
#     nightly, and it is not used;
#   * the build goes to ~/.cache/bnproof/fuzz-target, outside the clone, so a
#     second run on the same machine only rebuilds bnproof itself;
#   * the corpus grows in a temporary directory, never in the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
cache="${BNPROOF_CACHE:-$HOME/.cache/bnproof}"
fuzz_root="$cache/cargo-fuzz"
target_dir="$cache/fuzz-target"
seconds="${BNPROOF_FUZZ_SECONDS:-20}"
targets=(parse prove check_proof)

if ! "$fuzz_root/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $fuzz_root"
  cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$fuzz_root" --force
fi
export PATH="$fuzz_root/bin:$PATH"

echo "== cargo fuzz build (target dir $target_dir)"
# The fuzz crate has its own workspace; start it from the main lock file so it
# builds the same dependency versions the tests ran against.
cp Cargo.lock fuzz/Cargo.lock
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --target-dir "$target_dir" --codegen-units 16)
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

work="$(mktemp -d "${TMPDIR:-/tmp}/bnproof-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/seeds/"$t"/* "$corpus"/
  echo "== fuzz $t for ${seconds}s"
  log="$work/$t.log"
  rc=0
  "$bin_dir/$t" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  echo "   $t: ${runs:-?} executions, exit $rc"
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    failed=1
    tail -n 40 "$log"
    # Keep the failing inputs after the temporary directory is removed.
    keep="${BNPROOF_FUZZ_ARTIFACTS:-$PWD/target/fuzz-artifacts}/$t"
    mkdir -p "$keep"
    for f in "$artifacts"/*; do
      [ -e "$f" ] || continue
      cp "$f" "$keep/"
      echo "   crashing input: $keep/$(basename "$f")"
      echo "   reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $t $keep/$(basename "$f"))"
    done
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (inputs above)"
  exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets × ${seconds}s"
