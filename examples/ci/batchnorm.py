"""Training-mode batch norm for one channel, as a custom autograd.Function.

The backward pass is written by hand (no autograd inside): the compact
three-term form

    dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))

with mean over the batch axis n and the biased variance (divide by N), as
torch.nn.BatchNorm1d uses in training mode. Matches bnproof's built-in model
`batchnorm` (x[n], scalar gamma, beta, eps).
"""

import torch


class BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        n = x.shape[0]
        mu = x.sum(0) / n
        var = ((x - mu) ** 2).sum(0) / n
        invstd = 1.0 / torch.sqrt(var + eps)
        xhat = (x - mu) * invstd
        ctx.save_for_backward(xhat, gamma, invstd)
        return gamma * xhat + beta

    @staticmethod
    def backward(ctx, dy):
        xhat, gamma, invstd = ctx.saved_tensors
        n = xhat.shape[0]
        mean_dy = dy.sum(0) / n
        mean_dy_xhat = (dy * xhat).sum(0) / n
        grad_x = gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat)
        grad_gamma = (dy * xhat).sum(0)
        grad_beta = dy.sum(0)
        return grad_x, grad_gamma, grad_beta, None


def batch_norm(x, gamma, beta, eps):
    return BatchNorm.apply(x, gamma, beta, eps)
