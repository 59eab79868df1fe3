"""Run a batch-norm implementation forward and backward on seeded inputs and
write everything `bnproof verify batchnorm --against` reads to an .npz.

    python3 write_vectors.py IMPLEMENTATION.py OUT.npz [--n N] [--seed S]
                             [--dtype float64|float32]

IMPLEMENTATION.py must define `batch_norm(x, gamma, beta, eps)` (here a
custom torch.autograd.Function with a hand-written backward). Arrays follow
the built-in model `batchnorm` (`axis n`, `input x[n]`, `param gamma, beta`,
`const eps > 0`, output y): x of shape (N,); gamma, beta, eps 0-d; dy (the
upstream gradient of y) of shape (N,); and the implementation's gradients
grad_x (N,), grad_gamma and grad_beta 0-d.
"""

import argparse
import importlib.util
import pathlib

import numpy as np
import torch


def load(path):
    path = pathlib.Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("implementation", help="a .py file defining batch_norm")
    ap.add_argument("out", help="the .npz to write")
    ap.add_argument("--n", type=int, default=16, help="batch size N")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = ap.parse_args()

    impl = load(args.implementation)
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(args.seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)

    # Leaves of the graph; eps is a 0-d tensor of the same dtype so the
    # value the forward adds is exactly the value written to the file.
    x = (randn(args.n) * 1.5 + 0.3).requires_grad_()
    gamma = (randn(()) + 1.0).requires_grad_()
    beta = randn(()).requires_grad_()
    eps = torch.tensor(1e-5, dtype=dtype)
    dy = randn(args.n)  # the upstream gradient dL/dy

    y = impl.batch_norm(x, gamma, beta, eps)
    y.backward(dy)

    def a(t):
        return t.detach().numpy()

    np.savez(
        args.out,
        x=a(x), gamma=a(gamma), beta=a(beta), eps=a(eps), dy=a(dy),
        grad_x=a(x.grad), grad_gamma=a(gamma.grad), grad_beta=a(beta.grad),
    )
    print(f"wrote {args.out} ({args.implementation}, N={args.n}, {args.dtype}, seed {args.seed})")


if __name__ == "__main__":
    main()
