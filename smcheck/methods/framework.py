"""The softmax methods under the ``framework`` model: PyTorch ops on tensors of the format.

Each element-wise op rounds to the format; reductions accumulate as PyTorch does (float32 inside
for 16-bit types) and round their result to the format -- exactly what user code does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from smcheck.methods.base import MethodOutput, NanCause

if TYPE_CHECKING:
    import torch


def _np(t: torch.Tensor) -> np.ndarray:
    """Exact float64 copy of a tensor of any float format."""
    import torch

    return t.to(torch.float64).numpy()


def division_nan_cause(num: torch.Tensor, den: torch.Tensor) -> np.ndarray:
    """NaN cause codes for ``num / den`` (inf/inf, 0/0, else other)."""
    import torch

    q = num / den
    cause = torch.zeros(q.shape, dtype=torch.int8)
    nan = torch.isnan(q)
    den = den.expand_as(num)
    cause[nan] = NanCause.OTHER
    cause[nan & torch.isinf(num) & torch.isinf(den)] = NanCause.INF_OVER_INF
    cause[nan & (num == 0) & (den == 0)] = NanCause.ZERO_OVER_ZERO
    return cause.numpy()


def shift_nan_cause(x: torch.Tensor, p: torch.Tensor) -> np.ndarray:
    """NaN cause codes for methods that subtract the row max: a +inf logit makes x - m = inf - inf."""
    import torch

    cause = torch.where(torch.isnan(p), int(NanCause.OTHER), 0).to(torch.int8)
    cause[torch.isnan(p) & torch.isposinf(x).any(-1, keepdim=True)] = NanCause.INF_MINUS_INF
    return cause.numpy()


def _exp_route(x: torch.Tensor, w: torch.Tensor) -> MethodOutput:
    """Shared tail of the probability routes: p = w / sum(w), log p = log(p)."""
    import torch

    s = w.sum(-1, keepdim=True)
    p = w / s
    over = torch.isinf(w) & torch.isfinite(x)
    sum_over = torch.isinf(s[..., 0]) & ~torch.isinf(w).any(-1)
    cause = division_nan_cause(w, s)
    cause[(cause == NanCause.OTHER) & (shift_nan_cause(x, p) == NanCause.INF_MINUS_INF)] = (
        NanCause.INF_MINUS_INF
    )
    return MethodOutput(
        p=_np(p),
        logp=_np(torch.log(p)),
        overflow=over.numpy(),
        sum_overflow=sum_over.numpy(),
        nan_cause=cause,
    )


def naive(x: torch.Tensor) -> MethodOutput:
    """``w = exp(x); p = w / sum(w)``: overflows once x exceeds ln(max) of the format."""
    import torch

    return _exp_route(x, torch.exp(x))


def shifted(x: torch.Tensor) -> MethodOutput:
    """``w = exp(x - max x); p = w / sum(w)``: w <= 1 cannot overflow; tiny p can still underflow."""
    import torch

    # shift invariance: softmax(x) = softmax(x - m); with m the row max every exp argument is <= 0
    return _exp_route(x, torch.exp(x - x.amax(-1, keepdim=True)))


def logdomain(x: torch.Tensor) -> MethodOutput:
    """``z = (x - m) - log(sum exp(x - m)); p = exp(z)``: log-probabilities stay finite."""
    import torch

    d = x - x.amax(-1, keepdim=True)
    z = d - torch.log(torch.exp(d).sum(-1, keepdim=True))
    p = torch.exp(z)
    return MethodOutput(p=_np(p), logp=_np(z), nan_cause=shift_nan_cause(x, p))


def fused(x: torch.Tensor) -> MethodOutput:
    """The framework's own kernels ``torch.softmax`` and ``torch.log_softmax``."""
    import torch

    p = torch.softmax(x, -1)
    return MethodOutput(
        p=_np(p), logp=_np(torch.log_softmax(x, -1)), nan_cause=shift_nan_cause(x, p)
    )
