#!/usr/bin/env python3
"""LibTorch side of the comparison: what a LibTorch user does instead of a
proof — evaluate both sides of each statement at one random point in f64
and compare (torch.allclose), for a fixed batch size N.

  seed      u + (b + Δb) − mean(u + b + Δb)  vs  u + b − mean(u + b)
  variance  mean((x − mean x)²)  vs  mean(x²) − mean(x)²
  bn-dx     autograd ∂ℓ/∂x of F.batch_norm (training), ℓ = Σ dy·y,
            vs the three-term form γ/√(σ²+ε) · (dy − mean(dy) − x̂ mean(dy x̂))

  python torch_check.py STATEMENT N    → one JSON line: ok, seconds, peak_kb

Import time is excluded; the time covers building the tensors, autograd
and the comparison. A check at one point shows nothing for other points or
other N: that is the difference from a proof.
"""

import json
import resource
import sys
import time

import torch


def run(statement, n):
    g = torch.Generator().manual_seed(n)
    r = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64) * 4 - 2
    if statement == "seed":
        u, b, db = r(n), r(()), r(())
        lhs = u + (b + db) - (u + (b + db)).mean()
        rhs = u + b - (u + b).mean()
    elif statement == "variance":
        x = r(n)
        lhs = ((x - x.mean()) ** 2).mean()
        rhs = (x**2).mean() - x.mean() ** 2
    elif statement == "bn-dx":
        x = r(n, 1).requires_grad_(True)
        gamma, beta, dy, eps = r(1), r(1), r(n, 1), 1e-3
        y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, True, 0.1, eps)
        (lhs,) = torch.autograd.grad((y * dy).sum(), x)
        xd = x.detach()
        mu = xd.mean()
        var = ((xd - mu) ** 2).mean()
        xhat = (xd - mu) / torch.sqrt(var + eps)
        rhs = gamma / torch.sqrt(var + eps) * (dy - dy.mean() - xhat * (dy * xhat).mean())
    else:
        raise ValueError(statement)
    return bool(torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-12))


def main():
    statement, n = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    run(statement, 2)  # warm-up: first-call dispatch set-up is not the check
    start = time.perf_counter()
    ok = run(statement, n)
    secs = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ok": ok, "seconds": secs, "peak_kb": peak_kb}))


if __name__ == "__main__":
    main()
