#!/usr/bin/env python3
"""Second-order reference vectors against PyTorch's own double backward.

    second-order-check.py BNPROOF OUTDIR

For batchnorm, layernorm and rmsnorm: `bnproof vectors MODEL --order 2`
writes inputs, upstream gradients dy, directions v_<q> and the derived
grad2_<p> = d/dp sum_q <grad_q, v_q> (dy held fixed). Here the forward pass
is written in plain torch (float64), autograd differentiates it twice, and
every grad_ and grad2_ array must agree to 1e-12 relative to its largest
entry. bnproof's symbolic code never enters this computation. Exit 1 on a
disagreement.
"""

import subprocess
import sys

import numpy as np
import torch


def batchnorm(t):
    x, g, b, eps = t["x"], t["gamma"], t["beta"], t["eps"]
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    return g * (x - mu) / torch.sqrt(var + eps) + b


def layernorm(t):
    x, g, b, eps = t["x"], t["gamma"], t["beta"], t["eps"]
    mu = x.mean(dim=1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=1, keepdim=True)
    return g * (x - mu) / torch.sqrt(var + eps) + b


def rmsnorm(t):
    x, g, eps = t["x"], t["gamma"], t["eps"]
    r = 1 / torch.sqrt((x ** 2).mean(dim=1, keepdim=True) + eps)
    return g * x * r


MODELS = {
    "batchnorm": (batchnorm, ["x", "gamma", "beta"], "n=5"),
    "layernorm": (layernorm, ["x", "gamma", "beta"], "n=3,d=4"),
    "rmsnorm": (rmsnorm, ["x", "gamma"], "n=3,d=4"),
}


def main():
    bnproof, outdir = sys.argv[1], sys.argv[2]
    worst = 0.0
    ok = True
    print(f"{'model':<10} {'array':<12} {'max rel err':>12}")
    for name, (forward, wrt, shape) in MODELS.items():
        path = f"{outdir}/{name}-order2.npz"
        subprocess.run([bnproof, "vectors", name, "--order", "2", "--shape", shape,
                        "--seed", "11", "--out", path], check=True, stdout=subprocess.DEVNULL)
        d = np.load(path)
        t = {k: torch.tensor(d[k], dtype=torch.float64, requires_grad=k in wrt) for k in d.files}
        loss = (forward(t) * t["dy"]).sum()
        grads = torch.autograd.grad(loss, [t[q] for q in wrt], create_graph=True)
        pairing = sum((g * t["v_" + q]).sum() for g, q in zip(grads, wrt))
        second = torch.autograd.grad(pairing, [t[q] for q in wrt], allow_unused=True)
        for q, g1, g2 in zip(wrt, grads, second):
            g2 = torch.zeros_like(t[q]) if g2 is None else g2
            for array, got in (("grad_" + q, g1), ("grad2_" + q, g2)):
                ref = d[array]
                scale = max(float(np.abs(ref).max()), 1e-300)
                err = float(np.abs(got.detach().numpy() - ref).max()) / scale
                worst = max(worst, err)
                flag = "" if err <= 1e-12 else "  FAIL"
                ok = ok and err <= 1e-12
                print(f"{name:<10} {array:<12} {err:>12.2e}{flag}")
    print(f"worst {worst:.2e} (bound 1e-12)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
