#!/usr/bin/env bash
# The LibTorch cross-check on a CUDA machine, with a carried pre-built
# binary (built here with `--features torch`; see README): every built-in
# model on cuda in f32 and f64, cuDNN on and off, orders 1–2, plus the
# third order of batch norm; prints one summary table; then a TorchScript
# backward through `verify --against MODULE.pt` on the device.
#
#   scripts/gpu-check.sh [BINARY]       (default target/torch/release/bnproof)
#
# The machine's own Python torch 2.11 provides LibTorch: its lib folder goes
# first on LD_LIBRARY_PATH (the binary's RUNPATH names the build machine's
# folder). BNPROOF_GPU_CHECK_DEVICE=cpu runs the same suite on the CPU
# (to test this script where there is no GPU). Exit: 0 all agree (known
# upstream bugs reported), 1 a mismatch, 4 no CUDA or no LibTorch.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 4
bin="${1:-target/torch/release/bnproof}"
device="${BNPROOF_GPU_CHECK_DEVICE:-cuda}"
py="${PYTHON:-python3}"

if [ ! -x "$bin" ]; then
  echo "error: no bnproof binary at $bin (build it with --features torch)" >&2
  exit 4
fi
torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
if [ -z "$torch_lib" ] && [ -n "${LIBTORCH:-}" ]; then torch_lib="$LIBTORCH/lib"; fi
if [ -n "$torch_lib" ]; then export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
card="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
echo "card: ${card:-none found}; torch: $("$py" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo "no python torch")"
echo "libtorch: ${torch_lib:-RUNPATH of the binary}; device: $device"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
run() { # name, args...
  local name="$1"; shift
  local t0=$EPOCHREALTIME
  "$bin" verify "$@" --backend torch --device "$device" --format json >"$out/$name.json" 2>"$out/$name.err"
  local rc=$?
  echo "$rc $t0 $EPOCHREALTIME" >"$out/$name.rc"
  if [ "$rc" -eq 4 ]; then
    cat "$out/$name.err" >&2
    exit 4
  fi
  if [ "$rc" -ne 0 ]; then status=1; fi
}
run f64 --all --dtype f64 --order 2
run f32 --all --dtype f32
run bn3 batchnorm --dtype f64 --order 3

"$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
print()
print(f"{'suite':<24} {'variant':<22} {'checks':>6} {'ok':>5} {'failed':>6} {'known':>5} {'skip':>4} {'max rel, ok rows':>16} {'wall s':>7} {'exit':>4}")
for name, label in [("f64", "all models, orders 1-2"), ("f32", "all models, order 1"), ("bn3", "batchnorm, order 3")]:
    rc, t0, t1 = open(os.path.join(out, name + ".rc")).read().split()
    wall = float(t1) - float(t0)
    try:
        checks = json.load(open(os.path.join(out, name + ".json")))["checks"]
    except Exception as e:
        print(f"{label:<24} could not read the report: {e}")
        continue
    variants = sorted({c["form"].rsplit(" · ", 1)[-1] for c in checks})
    for v in variants:
        cs = [c for c in checks if c["form"].endswith(v)]
        count = lambda s: sum(1 for c in cs if c["status"] == s)
        rels = [c["rel_err"] for c in cs if c["status"] == "ok" and c["rel_err"] is not None and "≈ 0" not in c["detail"]]
        print(f"{label:<24} {v:<22} {len(cs):>6} {count('ok'):>5} {count('failed'):>6} {count('known-upstream'):>5} {count('skipped'):>4} {max(rels) if rels else float('nan'):>16.2e} {wall:>7.1f} {rc:>4}")
    for c in checks:
        if c["status"] in ("failed", "known-upstream"):
            print(f"  {c['status']}: {c['model']} {c['tensor']} order {c['order']} {c['shape']} {c['form']}: {c['detail']}"[:400])
PY

# The user's backward as TorchScript (verify --against MODULE.pt) on the
# device: the correct module must pass, the N - 1 one must be caught.
echo
if PYTHONDONTWRITEBYTECODE=1 "$py" examples/ci/export_torchscript.py "$out/bn.pt" >/dev/null &&
   PYTHONDONTWRITEBYTECODE=1 "$py" examples/ci/export_torchscript.py "$out/bn-bug.pt" --bug >/dev/null; then
  for case in "bn.pt 0" "bn-bug.pt 1"; do
    read -r module want <<<"$case"
    "$bin" verify batchnorm --against "$out/$module" --shape n=16 --device "$device" >"$out/pt.txt" 2>&1
    rc=$?
    verdict=$([ "$rc" -eq "$want" ] && echo "as expected" || echo "WRONG")
    echo "TorchScript $module on $device: exit $rc (want $want), $verdict; $(tail -n 1 "$out/pt.txt")"
    if [ "$rc" -ne "$want" ]; then status=1; fi
  done
else
  echo "TorchScript modules: could not export (python torch missing)"
  status=1
fi
exit $status
