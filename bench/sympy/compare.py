#!/usr/bin/env python3
"""SymPy side of the bnproof comparison.

For a fixed batch size N, with explicit scalar symbols x_1..x_N (and
u_i, dy_i, ...), SymPy checks three statements bnproof proves for every N
at once:

  seed      Ioffe & Szegedy's Eq. (1): u_i + (b + Δb) − mean(u + b + Δb)
            = u_i + b − mean(u + b), for every i;
  variance  mean((x − mean x)²) = mean(x²) − mean(x)²;
  bn-dx     reverse-mode ∂ℓ/∂x_i of training-mode batch norm, with
            ℓ = Σ dy_i y_i and `sympy.diff`, equals the three-term form
            γ/√(σ²+ε) · (dy_i − mean(dy) − x̂_i · mean(dy · x̂)), for every i.

Each (statement, N, method) point runs in a fresh subprocess with a time
limit; a timeout is a result.  The child reports its wall time (building
the expressions, differentiating and simplifying) and its peak RSS
(ru_maxrss).  Once a method times out at some N it is not tried at larger N.

  python compare.py [--ns 2,4,8] [--limit 60] [--methods expand,cancel]
                    [--statements seed,variance,bn-dx] [--bnproof FILE]

--bnproof names a TSV file written by run.sh (statement, seconds, peak KB)
with bnproof's medians; they are joined into the table with the ratio
SymPy fastest / bnproof.  --torch-python names a Python with torch 2.11
(scripts/setup-libtorch.sh): torch_check.py then adds what a LibTorch user
does instead — both sides evaluated at one random point in f64 (a numeric
check, not a proof) — in its own columns.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

METHODS = ["expand", "cancel", "together+expand", "radsimp"]
STATEMENTS = ["seed", "variance", "bn-dx"]


def build(statement, n):
    """The differences that must all simplify to 0."""
    import sympy as sp

    def mean(v):
        return sp.Add(*v) / n

    if statement == "seed":
        u = sp.symbols(f"u1:{n + 1}")
        b, db = sp.symbols("b Delta_b")
        lhs_in = [ui + (b + db) for ui in u]
        rhs_in = [ui + b for ui in u]
        return [
            (lhs_in[i] - mean(lhs_in)) - (rhs_in[i] - mean(rhs_in)) for i in range(n)
        ]
    if statement == "variance":
        x = sp.symbols(f"x1:{n + 1}")
        mu = mean(x)
        return [mean([(xi - mu) ** 2 for xi in x]) - (mean([xi**2 for xi in x]) - mu**2)]
    if statement == "bn-dx":
        x = sp.symbols(f"x1:{n + 1}")
        dy = sp.symbols(f"dy1:{n + 1}")
        gamma, beta = sp.symbols("gamma beta")
        eps = sp.Symbol("epsilon", positive=True)
        mu = mean(x)
        var = mean([(xi - mu) ** 2 for xi in x])
        s = sp.sqrt(var + eps)
        xhat = [(xi - mu) / s for xi in x]
        y = [gamma * h + beta for h in xhat]
        loss = sp.Add(*[d * yi for d, yi in zip(dy, y)])
        mdy = mean(dy)
        mdyx = mean([d * h for d, h in zip(dy, xhat)])
        return [
            sp.diff(loss, x[i]) - gamma / s * (dy[i] - mdy - xhat[i] * mdyx)
            for i in range(n)
        ]
    raise ValueError(statement)


def simplify(method, e):
    import sympy as sp

    if method == "expand":
        return sp.expand(e)
    if method == "cancel":
        return sp.cancel(e)
    if method == "together+expand":
        return sp.expand(sp.together(e))
    if method == "radsimp":
        return sp.expand(sp.radsimp(e))
    raise ValueError(method)


def child(statement, n, method):
    import sympy  # noqa: F401  (import time excluded from the measurement)

    start = time.perf_counter()
    diffs = build(statement, n)
    ok = all(simplify(method, d) == 0 for d in diffs)
    secs = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ok": ok, "seconds": secs, "peak_kb": peak_kb}))


def point(statement, n, method, limit):
    cmd = [sys.executable, __file__, "--child", statement, str(n), method]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"ok": None, "seconds": None, "peak_kb": None, "note": f"timeout >{limit:g}s"}
    if p.returncode != 0:
        return {"ok": None, "seconds": None, "peak_kb": None, "note": "error: " + p.stderr.strip()[-80:]}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["note"] = "" if r["ok"] else "not shown 0"
    return r


def torch_point(python, statement, n, limit):
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [python, os.path.join(here, "torch_check.py"), statement, str(n)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, ValueError):
        return None


def load_bnproof(path):
    out = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4:
                    out[parts[0]] = (max(float(parts[1]), 1e-4), int(parts[2]), parts[3])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--ns", default=os.environ.get("BNPROOF_SYMPY_NS", "2,4,8,16,32,64"))
    ap.add_argument("--limit", type=float, default=float(os.environ.get("BNPROOF_SYMPY_LIMIT", "60")))
    ap.add_argument("--methods", default=os.environ.get("BNPROOF_SYMPY_METHODS", ",".join(METHODS)))
    ap.add_argument("--statements", default=os.environ.get("BNPROOF_SYMPY_STATEMENTS", ",".join(STATEMENTS)))
    ap.add_argument("--bnproof")
    ap.add_argument("--torch-python", default=os.environ.get("BNPROOF_TORCH_PYTHON"))
    ap.add_argument("--json", help="also write every point as JSON here")
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.child[2])
        return

    import sympy

    ns = [int(v) for v in a.ns.replace(" ", ",").split(",") if v]
    methods = [m for m in a.methods.split(",") if m]
    statements = [s for s in a.statements.split(",") if s]
    bn = load_bnproof(a.bnproof)
    print(f"# SymPy {sympy.__version__}, Python {sys.version.split()[0]}, per-point limit {a.limit:g} s", flush=True)
    hdr = f"{'statement':<9} {'N':>3} {'SymPy method':<16} {'SymPy s':>9} {'SymPy MB':>9} {'bnproof s':>9} {'bnproof MB':>10} {'ratio':>9} {'LibTorch s':>10} {'LibTorch MB':>11}  note"
    print(hdr)
    print("-" * len(hdr), flush=True)
    points = []
    for st in statements:
        dead = set()
        b = bn.get(st)
        for n in ns:
            rows = []
            for m in methods:
                if m in dead:
                    r = {"ok": None, "seconds": None, "peak_kb": None, "note": "skipped (timed out at smaller N)"}
                else:
                    r = point(st, n, m, a.limit)
                    if r["seconds"] is None:
                        dead.add(m)
                rows.append((m, r))
                points.append({"statement": st, "n": n, "method": m, **r})
            t = torch_point(a.torch_python, st, n, a.limit) if a.torch_python else None
            ts = f"{t['seconds']:.5f}" if t and t["ok"] else "—"
            tmb = f"{t['peak_kb'] / 1024:.0f}" if t and t["ok"] else "—"
            if t:
                points.append({"statement": st, "n": n, "method": "libtorch (one point)", **t})
            good = [r["seconds"] for _, r in rows if r["ok"]]
            fastest = min(good) if good else None
            for m, r in rows:
                s = f"{r['seconds']:.3f}" if r["seconds"] is not None else "—"
                mb = f"{r['peak_kb'] / 1024:.0f}" if r["peak_kb"] else "—"
                bs = f"{b[0]:.4f}" if b else "—"
                bmb = f"{b[1] / 1024:.0f}" if b else "—"
                if b and r["ok"]:
                    ratio = f"{r['seconds'] / b[0]:.1f}×"
                elif b and r["seconds"] is None and r["note"].startswith("timeout"):
                    ratio = f">{a.limit / b[0]:.0f}×"
                else:
                    ratio = "—"
                note = r["note"]
                if r["ok"] and r["seconds"] == fastest:
                    note = (note + " fastest").strip()
                print(f"{st:<9} {n:>3} {m:<16} {s:>9} {mb:>9} {bs:>9} {bmb:>10} {ratio:>9} {ts:>10} {tmb:>11}  {note}", flush=True)
    if bn:
        print()
        for st in statements:
            if st in bn:
                print(f"bnproof {st}: {bn[st][2]} (one proof covers every N)")
    if a.torch_python:
        print("LibTorch: torch_check.py, both sides at one random point in f64 (torch.allclose), import excluded — a numeric check at one point, not a proof")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(points, f, indent=1)


if __name__ == "__main__":
    main()
