#!/usr/bin/env python3
"""Adversarial inputs through the release binary: exit code, wall time and
peak RSS of each run (the child's own ru_maxrss, from wait4).

    bench/adversarial/run.py [BIN] [--only NAME,...] [--markdown]

Every input is generated here, deterministically (seeded), into a temporary
directory. A run passes when it exits with one of the documented verdicts
(0/1/2/3; never 101 = panic, never killed by a signal), with the expected
code where one is listed, within its time limit (`--timeout` plus slack
for `prove`; `LIMIT` seconds for commands without one), and under
`RSS_BOUND_MB`. Exit status: 0 if every run passed, 1 otherwise.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time

RSS_BOUND_MB = 1024
# Commands without their own --timeout (check-proof, derive, verify) must
# finish within this many seconds; prove gets its --timeout plus 10 % or
# plus MIN_SLACK seconds, whichever is larger (the README's promise).
LIMIT = 30.0
MIN_SLACK = 0.2


def nest(template, inner, depth):
    for _ in range(depth):
        inner = template.format(inner)
    return inner


def axes(k):
    return ",".join(f"a{j}" for j in range(k))


def random_model(rng, n_defs):
    """A random chain of definitions over one axis: every definition uses
    earlier ones through +, -, *, /, sqrt and means."""
    lines = ["# random model (bench/adversarial)", "axis n", "input x[n]",
             "param g, b", "assume e > 0"]
    names = ["x", "g", "b"]
    for k in range(n_defs):
        a, c = rng.choice(names), rng.choice(names[-4:])
        form = rng.choice([
            "{a} + {c}", "{a} * {c}", "{a} - mean[n]({c})",
            "({a} - mean[n]({a})) / sqrt(mean[n](({a} - mean[n]({a}))^2) + e)",
            "g * {a} + b", "{a} * {a} + {c}",
        ])
        name = f"t{k}"
        lines.append(f"{name} = " + form.format(a=a, c=c))
        names.append(name)
    lines.append(f"y = {names[-1]}")
    lines.append("output y")
    return "\n".join(lines) + "\n"


def cert(lhs, rhs, steps, assumptions=()):
    return json.dumps({
        "version": 1,
        "statement": {"lhs": lhs, "rhs": rhs},
        "assumptions": list(assumptions),
        "steps": steps,
        "checked": True,
    })


def ring_step(expr):
    return {"expr": expr, "rule": "ring", "direction": "forward", "position": []}


def cases(tmp):
    """(name, argv after the binary, expected exit codes or None, files)."""
    rng = random.Random(0)
    out = []

    def prove(name, stmt, expect=None, timeout=5, extra=()):
        out.append((name, ["prove", stmt, "--timeout", str(timeout), *extra], expect))

    def file_case(name, fname, text, argv, expect=None):
        path = os.path.join(tmp, fname)
        with open(path, "w") as f:
            f.write(text)
        out.append((name, [a.replace("@", path) for a in argv], expect))

    # Parser limits.
    prove("parens-10000", "(" * 10000 + "x" + ")" * 10000 + " = x", {2})
    prove("sqrt-chain-450", nest("sqrt({})", "x", 450) + " = " + nest("sqrt({})", "x", 450), {0})
    # Each "-(" is two levels (parenthesis and negation): 240 is within the limit.
    prove("neg-chain-240", "x = " + nest("-({})", "x", 240), {0, 3})
    right = nest("x + ({})", "x", 240)
    prove("right-nested-sum-240", right + " = 241 * x", {0, 3})
    # Huge literals.
    big = "9" * 1000
    prove("literal-1000-digits", f"{big} * x + x = ({big} + 1) * x", {0})
    huge = "7" * 50000  # twice in one argument: just under Linux's 128 KiB
    prove("literal-50000-digits", f"x * {huge} = {huge} * x", {0, 3})
    prove("power-9e3035^66", "x = 9e3035^66", {1, 2, 3}, timeout=1)
    prove("power-2^(10^6)", "x * 2^(10^6) = 2^(10^6) * x", {0, 2, 3})
    # High-degree powers.
    prove("binomial-64", "(x+y)^64 = (x+y)^32 * (x+y)^32", {0, 3})
    prove("binomial-64-false", "(x+y)^64 = x^64 + y^64", {1})
    prove("quadrinomial-64", "(x+y+z+w)^64 = (x+y+z+w)^63 * (x+y+z+w)", {0, 3})
    prove("power-tower", "((x+y)^64)^64 = ((y+x)^64)^64", {0, 3})
    # Wide sums and products. A chain `a + b + …` is not nesting: the parser
    # takes up to 10 000 terms (a left-leaning tree, as the certificates'
    # positions expect) and the kernel counts a chain as one level.
    terms = [f"s{k}" for k in range(450)]
    prove("sum-450-reversed", " + ".join(terms) + " = " + " + ".join(reversed(terms)), {0})
    prove("sum-450-false", " + ".join(terms) + " = " + " + ".join(terms[1:]), {1})
    t2000 = [f"s{k}" for k in range(2000)]
    prove("sum-2000", " + ".join(t2000) + " = " + " + ".join(reversed(t2000)), {0})
    prove("flat-sum-10000", " + ".join(["x"] * 10000) + " = 10000 * x", {0})
    prove("flat-product-10000", " * ".join(["x"] * 10000) + " = x^10000", {0})
    prove("flat-sum-10001", " + ".join(["x"] * 10001) + " = 10001 * x", {2})

    def balanced(ts):
        if len(ts) == 1:
            return ts[0]
        m = len(ts) // 2
        return "(" + balanced(ts[:m]) + " + " + balanced(ts[m:]) + ")"

    t520 = [f"s{k}" for k in range(520)]
    prove("balanced-sum-520", balanced(t520) + " = " + balanced(t520[::-1]), {0, 3})
    # Nested trivial powers: each level is one e-graph union, but egg's own
    # flattening of the explanation copied every term at every level (71.7 s
    # at 250 deep under --timeout 5; 7.8 s at 140 deep and 4.75 s for 150
    # nested ^(-1) under --timeout 1).
    prove("pow-one-250", nest("({})^1", "x", 250) + " = x", {0, 3})
    prove("pow-one-140-t1", nest("({})^1", "x", 140) + " = x", {0, 3}, timeout=1)
    prove("pow-minus-one-150-t1", nest("({})^(-1)", "x", 150) + " = x", {0, 3}, timeout=1)
    # E-graph blow-up: associativity/commutativity/distributivity.
    t40 = [f"s{k}" for k in range(40)]
    prove("ac-sum-40", " + ".join(t40) + " = " + " + ".join(reversed(t40)), {0})
    prove("ac-product-40", " * ".join(t40) + " = " + " * ".join(reversed(t40)), {0})
    a20 = " + ".join(f"a{k}" for k in range(20))
    b20 = " + ".join(f"b{k}" for k in range(20))
    prove("distribute-20x20", f"({a20}) * ({b20}) = ({b20}) * ({a20})", {0})
    prove("ac-node-limit-10^7", " + ".join(t40) + " = " + " + ".join(reversed(t40)) + " + 0 * s0",
          {0, 3}, extra=("--node-limit", "10000000", "--iter-limit", "1000"))
    # Many distinct axes.
    prove("axes-40-mean", f"mean[{axes(40)}](x[{axes(40)}]) = mean[{axes(40)}](x[{axes(40)}] + 0)", {0, 3})
    prove("axes-12-false", f"mean[{axes(12)}](x[{axes(12)}]^2) = mean[{axes(12)}](x[{axes(12)}])^2", {1, 3})
    prove("axes-30-nested-var",
          "".join(f"var[a{j}](" for j in range(30)) + f"x[{axes(30)}]"
          + ")" * 30 + " = 0", {1, 3})
    # Long chains of reductions and roots.
    prove("mean-chain-200", nest("mean[i]({})", "x[i]", 200) + " = mean[i](x[i])", {0, 3})
    prove("var-chain-100", nest("var[i]({})", "x[i]", 100) + " = 0", {0, 1, 3})
    prove("sqrt-mean-chain-100", nest("sqrt(mean[i]({}))", "x[i]^2", 100) + " = " +
          nest("sqrt(mean[i]({}))", "x[i]^2", 99), {0, 1, 3})
    prove("sqrt-mean-chain-100-eps", nest("sqrt(mean[i]({}) + eps)", "x[i]^2", 100) + " = 0",
          {1, 3}, extra=("--assume", "eps > 0"))
    # Model files.
    # Adjoints are trees: a model whose definitions reuse earlier ones grows
    # them exponentially, up to diff::MAX_DERIVATION_SIZE (then exit 2).
    file_case("model-random-300", "random.bn", random_model(rng, 300), ["derive", "@"], {0, 1, 2})
    file_case("model-random-3000", "random3000.bn", random_model(random.Random(1), 3000),
              ["derive", "@"], {0, 1, 2})
    file_case("model-random-500-verify", "random500.bn", random_model(random.Random(1), 500),
              ["verify", "@"], {0, 1, 2})
    # Chains in model files stay at 500 operands: derive's product rule makes
    # n products of n - 1 factors (2000 factors took 2.1 GB).
    file_case("model-product-500", "prod500.bn",
              "axis n\ninput x[n]\ny = " + " * ".join(["x"] * 500) + "\noutput y\n",
              ["derive", "@"], {0, 1, 2})
    file_case("model-product-501", "prod501.bn",
              "axis n\ninput x[n]\ny = " + " * ".join(["x"] * 501) + "\noutput y\n",
              ["derive", "@"], {2})
    file_case("model-deep-line", "deep.bn",
              "axis n\ninput x[n]\ny = " + "(" * 10000 + "x" + ")" * 10000 + "\noutput y\n",
              ["derive", "@"], {2})
    # Certificates.
    perm = list(range(300))
    steps = []
    for _ in range(500):
        rng.shuffle(perm)
        steps.append(ring_step(" + ".join(f"s{k}" for k in perm)))
    s300 = " + ".join(f"s{k}" for k in range(300))
    file_case("cert-500-steps-300-terms", "big.json", cert(s300, steps[-1]["expr"], steps),
              ["check-proof", "@"], {0})
    chain = " + ".join(["x"] * 10000)
    file_case("cert-chain-10000", "chain.json", cert(chain, "10000 * x", [ring_step("10000 * x")]),
              ["check-proof", "@"], {0})
    deep = nest("sqrt({})", "x", 490)
    file_case("cert-deep-490", "deep.json",
              cert(deep, deep, [ring_step(deep)] * 200), ["check-proof", "@"], {0})
    # A true statement (Fubini). Re-normalizing 40 nested means once took 2^40
    # steps and the kernel's work bound (ring::MAX_NORM_WORK) rejected the
    # step; with memoized normal forms it is checked (valid) in well under a
    # second. Either verdict is sound; a hang or a crash is not.
    a40 = axes(40)
    nested = "".join(f"mean[a{j}](" for j in range(40)) + f"x[{a40}]" + ")" * 40
    file_case("cert-linear-nested-means-40", "linear.json",
              cert(nested, f"mean[{a40}](x[{a40}])",
                   [{"expr": f"mean[{a40}](x[{a40}])", "rule": "linear", "direction": "forward",
                     "position": []}]), ["check-proof", "@"], {0, 1})
    quad = "(x+y+z+w)^256"
    file_case("cert-ring-power-256", "pow.json",
              cert(quad, "(x+y+z+w)^255 * (x+y+z+w)", [ring_step("(x+y+z+w)^255 * (x+y+z+w)")]),
              ["check-proof", "@"], {0, 1})
    file_case("cert-ring-power-tower", "tower.json",
              cert("((x+y+z)^64)^64", "(x+y+z)^4096", [ring_step("(x+y+z)^4096")]),
              ["check-proof", "@"], {0, 1})
    file_case("cert-bignum-malformed", "bignum.json",
              '{"version": 1e99999, "statement": {"lhs": "x * ' + huge + '", "rhs": "9e3035^66"},'
              ' "assumptions": ["x > 1e999999"], "steps": [{"expr": "' + huge + '", "rule": "ring",'
              ' "direction": "forward", "position": [' + "9" * 5000 + ", 1e400, -1]}],"
              ' "checked": true}', ["check-proof", "@"], {1})
    file_case("cert-bignum-substitution", "subst.json",
              cert("mean[i](x[i] + 9e3035^66)", "mean[i](x[i]) + 9e3035^66",
                   [{"expr": "mean[i](x[i]) + 9e3035^66", "rule": "mean-add", "direction": "forward",
                     "position": [], "substitution": {"a": "x[i]", "b": "9e3035^66", "i": "[i]"}}]),
              ["check-proof", "@"], {0, 1})
    return out


def run(binary, argv, limit):
    start = time.monotonic()
    err = tempfile.TemporaryFile()
    p = subprocess.Popen([binary, *argv], stdout=subprocess.DEVNULL, stderr=err)
    killed = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > limit:
            p.kill()
            killed = True
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - start
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    return code, wall, ru.ru_maxrss / 1024.0, killed, stderr


def main():
    args = sys.argv[1:]
    md = "--markdown" in args
    args = [a for a in args if a != "--markdown"]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i:i + 2]
    binary = args[0] if args else "target/release/bnproof"
    ok = True
    worst = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="bnproof-adversarial-") as tmp:
        rows = [c for c in cases(tmp) if only is None or c[0] in only]
        if md:
            print("| input | command | exit | wall s | peak RSS MB | limit s | ok |")
            print("|---|---|---|---|---|---|---|")
        else:
            print(f"{'input':28} {'cmd':11} {'exit':>4} {'wall s':>7} {'RSS MB':>7} {'limit s':>7}  ok")
        for name, argv, expect in rows:
            if "--timeout" in argv:
                t = float(argv[argv.index("--timeout") + 1])
                limit = t + max(0.1 * t, MIN_SLACK)
            else:
                limit = LIMIT
            # Kill well after the limit so that an overrun is measured, not hidden.
            code, wall, rss, killed, stderr = run(binary, argv, 4 * limit + 10)
            good = (not killed and code in (0, 1, 2, 3) and (expect is None or code in expect)
                    and wall <= limit and rss <= RSS_BOUND_MB and "panicked" not in stderr)
            ok &= good
            worst = max(worst, (rss, name))
            shown = "killed" if killed else str(code)
            if md:
                print(f"| `{name}` | `{argv[0]}` | {shown} | {wall:.2f} | {rss:.0f} | {limit:.1f} | "
                      f"{'yes' if good else '**no**'} |")
            else:
                print(f"{name:28} {argv[0]:11} {shown:>4} {wall:7.2f} {rss:7.0f} {limit:7.1f}  "
                      f"{'yes' if good else 'NO'}", flush=True)
            if not good and stderr:
                print("    stderr: " + stderr.strip().splitlines()[-1][:200], flush=True)
    print(f"\nworst peak RSS: {worst[0]:.0f} MB ({worst[1]}); bound {RSS_BOUND_MB} MB")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
