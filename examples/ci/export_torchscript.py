"""Export a batch-norm backward pass as TorchScript, for
`bnproof verify batchnorm --against module.pt` (a build with LibTorch).

    python export_torchscript.py OUT.pt [--bug]

The module's forward takes the model's arrays positionally, in declaration
order -- x, gamma, beta, eps, dy -- and returns the gradients in
declaration order: grad_x, grad_gamma, grad_beta. bnproof draws the arrays
itself (seeded; --shape, --seed, --dtype, --device), calls the module, and
compares what it returns with the exactly derived gradients. It never
differentiates the module: whatever `forward` computes is what is checked.
With --bug the backward divides mean(dy * xhat) by N - 1 (a classic bug).
"""

import sys

import torch


class BatchNormBackward(torch.nn.Module):
    def __init__(self, bug: bool):
        super().__init__()
        self.bug = bug

    def forward(self, x, gamma, beta, eps, dy):
        n = x.shape[0]
        mu = x.sum(0) / n
        var = ((x - mu) ** 2).sum(0) / n
        invstd = 1.0 / torch.sqrt(var + eps)
        xhat = (x - mu) * invstd
        mean_dy = dy.sum(0) / n
        m = n - 1 if self.bug else n
        mean_dy_xhat = (dy * xhat).sum(0) / m
        grad_x = gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat)
        grad_gamma = (dy * xhat).sum(0)
        grad_beta = dy.sum(0)
        return grad_x, grad_gamma, grad_beta


def main():
    out = sys.argv[1]
    bug = "--bug" in sys.argv[2:]
    torch.jit.script(BatchNormBackward(bug)).save(out)
    print(f"wrote {out}{' (with the N - 1 bug)' if bug else ''}")


if __name__ == "__main__":
    main()
