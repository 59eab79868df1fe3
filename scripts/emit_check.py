"""Check modules written by `bnproof emit` against `bnproof vectors`.

usage: emit_check.py DIR NAME... [--lang numpy,torch]

For every NAME, DIR holds NAME.npz (from `bnproof vectors`) and
NAME_numpy.py / NAME_torch.py (from `bnproof emit --lang ...`). Each
module's backward() is called on the npz's inputs, params, constants and
upstream gradients, in the module's own ARGUMENTS and UPSTREAM order, and
every grad_* it returns is compared with the npz's: the error of a tensor
is max|got - ref| / max|ref| (the absolute error where the reference is all
zero), and must be <= 1e-12. For torch also the torch.autograd.Function
path: apply(), then backward() of sum(<output> * d<output>), the .grad of
each input and parameter compared the same way, and
torch.autograd.gradcheck of the Function (finite differences of forward()
against backward(), independent of the vectors). forward() must return
finite arrays of the upstream gradients' shapes.

Prints one row per module and tensor; exits 1 when any check fails, 2 on
bad usage.
"""

import importlib.util
import math
import sys

import numpy as np

TOLERANCE = 1e-12


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def error(got, ref):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return math.inf, f"shape {got.shape} != {ref.shape}"
    if not np.all(np.isfinite(got)):
        return math.inf, "not finite"
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return (diff / scale if scale > 0 else diff), ""


def main(argv):
    langs = ["numpy", "torch"]
    args = []
    it = iter(argv)
    for a in it:
        if a == "--lang":
            langs = next(it, "").split(",")
        else:
            args.append(a)
    if len(args) < 2 or any(lang not in ("numpy", "torch") for lang in langs):
        print(__doc__, file=sys.stderr)
        return 2
    folder, names = args[0], args[1:]
    if "torch" in langs:
        import torch
    rows = []  # (model, lang, path, tensor, error, note)
    for name in names:
        data = np.load(f"{folder}/{name}.npz")
        for lang in langs:
            mod = load(f"{folder}/{name}_{lang}.py", f"emitted_{lang}_{len(rows)}")
            want = list(mod.GRADIENTS)
            missing = [g for g in data.files if g.startswith("grad_") and g not in want]
            if missing:
                rows.append((name, lang, "backward", ",".join(missing), math.inf, "not returned"))
            if lang == "numpy":
                conv = lambda a: np.array(a)
                back = lambda a: np.asarray(a)
            else:
                conv = lambda a: torch.from_numpy(np.array(a, dtype=np.float64))
                back = lambda a: a.detach().cpu().numpy()
            args_ = [conv(data[n]) for n in mod.ARGUMENTS]
            ups = [conv(data[n]) for n in mod.UPSTREAM]
            outs = mod.forward(*args_)
            if len(mod.OUTPUTS) == 1:
                outs = (outs,)
            for y, o, u in zip(mod.OUTPUTS, outs, mod.UPSTREAM):
                o = back(o)
                ok = o.shape == data[u].shape and bool(np.all(np.isfinite(o)))
                rows.append((name, lang, "forward", y, 0.0 if ok else math.inf,
                             "" if ok else f"shape {o.shape} or not finite"))
            grads = mod.backward(*args_, *ups)
            for g in want:
                e, note = error(back(grads[g]), data[g])
                rows.append((name, lang, "backward", g, e, note))
            # The comparison itself can fail: a gradient off by one part in
            # 1e9 must be rejected.
            g0 = want[0]
            ref = np.asarray(data[g0], dtype=np.float64)
            if np.max(np.abs(ref)) > 0:
                bumped = ref + 1e-9 * np.max(np.abs(ref))
                e, _ = error(bumped, ref)
                rows.append((name, lang, "control", g0 + "+1e-9", 0.0 if e > TOLERANCE else math.inf,
                             "" if e > TOLERANCE else "a perturbed gradient was accepted"))
            if lang == "torch":
                fn = [v for k, v in vars(mod).items()
                      if k.endswith("Function") and isinstance(v, type)
                      and issubclass(v, torch.autograd.Function)]
                if len(fn) != 1:
                    rows.append((name, lang, "apply", "class", math.inf, "no autograd.Function"))
                    continue
                n_diff = len(mod.GRADIENTS)
                leaves = [a.clone().requires_grad_(k < n_diff) for k, a in enumerate(args_)]
                outs = fn[0].apply(*leaves)
                if len(mod.OUTPUTS) == 1:
                    outs = (outs,)
                loss = sum((o * u).sum() for o, u in zip(outs, ups))
                loss.backward()
                # Independently of the vectors: torch's finite-difference
                # check of backward() against forward().
                try:
                    ok = torch.autograd.gradcheck(
                        fn[0].apply, tuple(a.detach().clone().requires_grad_(k < n_diff)
                                           for k, a in enumerate(args_)))
                    note = ""
                except Exception as e:  # gradcheck raises on a mismatch
                    ok, note = False, str(e).splitlines()[0]
                rows.append((name, lang, "gradchk", "all", 0.0 if ok else math.inf, note))
                for k, g in enumerate(want):
                    got = leaves[k].grad
                    if got is None:
                        rows.append((name, lang, "apply", g, math.inf, "no .grad"))
                        continue
                    e, note = error(back(got), data[g])
                    rows.append((name, lang, "apply", g, e, note))
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  lang   path      tensor          max rel. error  verdict")
    failed = 0
    for name, lang, path, tensor, e, note in rows:
        ok = e <= TOLERANCE
        failed += not ok
        shown = "-" if path in ("forward", "control", "gradchk") else f"{e:.3e}"
        verdict = "ok" if ok else "FAIL " + note
        print(f"{name:<{width}}  {lang:<5}  {path:<8}  {tensor:<14}  {shown:>14}  {verdict}")
    worst = max((r[4] for r in rows if r[2] in ("backward", "apply")), default=0.0)
    print(f"{len(rows) - failed}/{len(rows)} checks ok; worst gradient error {worst:.3e} (tolerance {TOLERANCE:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
