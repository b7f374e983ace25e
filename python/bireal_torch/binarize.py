"""1-bit activations and weights with bireal's gradient estimators (src/binarize/index.ts).

sign(0) = +1, so every binary value is exactly -1 or +1. Weight tensors are PyTorch's
[cOut, cIn, kh, kw]; alpha is the mean of |W| per output channel, a constant in the backward pass.
"""
import torch

ESTIMATORS = ("ste", "clipped-ste", "approx-sign")
BINARIZERS = ("sign", "scaled", "magnitude-aware", "magnitude-aware-authors")


def check_name(kind, name, valid):
    """Returns `name` if it is one of `valid`, else raises ValueError listing them."""
    if name not in valid:
        raise ValueError(f"unknown {kind} '{name}'; valid: {', '.join(valid)}")
    return name


def sign(x):
    """sign(x) in {-1, +1} with sign(0) = +1 (torch.sign gives 0 there)."""
    return (x >= 0).to(x.dtype) * 2 - 1


def estimator_gradient(x, estimator):
    """d sign(x)/dx of an estimator: 1 (ste), 1{|x| <= 1} (clipped-ste), max(0, 2 - 2|x|) (approx-sign)."""
    if estimator == "ste":
        return torch.ones_like(x)
    if estimator == "clipped-ste":
        return (x.abs() <= 1).to(x.dtype)
    return torch.clamp(2 - 2 * x.abs(), min=0)


def channel_scale(w):
    """alpha = mean(|W|) over every axis but the first (the output channel), kept for broadcasting."""
    return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


class _SignActivation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, estimator):
        ctx.save_for_backward(x)
        ctx.estimator = estimator
        return sign(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * estimator_gradient(x, ctx.estimator), None


class _SignWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, binarizer):
        ctx.save_for_backward(w)
        ctx.binarizer = binarizer
        return sign(w) if binarizer == "sign" else sign(w) * channel_scale(w)

    @staticmethod
    def backward(ctx, dy):
        (w,) = ctx.saved_tensors
        if ctx.binarizer == "magnitude-aware":
            return dy * channel_scale(w) * (w.abs() < 1).to(dy.dtype), None
        return dy * (w.abs() <= 1).to(dy.dtype), None


def binarize_activation(x, estimator):
    """Forward sign(x); backward dy * estimator_gradient(x, estimator)."""
    return _SignActivation.apply(x, check_name("estimator", estimator, ESTIMATORS))


def binarize_weight(w, binarizer):
    """Forward sign(W) ('sign') or alpha * sign(W); backward dL/dWb * alpha * 1{|W| < 1}
    ('magnitude-aware', the paper) or dL/dWb * 1{|W| <= 1} (the others)."""
    return _SignWeight.apply(w, check_name("binarizer", binarizer, BINARIZERS))
