"""The softmax methods under the ``framework`` model: PyTorch ops on tensors of the format.

Each element-wise op rounds to the format; reductions accumulate as PyTorch does (float32 inside
for 16-bit types) and round their result to the format -- exactly what user code does. Results
stay tensors (:class:`TorchResult`), so the gradient diagnostics can back-propagate through each
method's own log-probabilities; the metrics take them as numpy via ``to_output()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.methods.base import MethodOutput, NanCause

if TYPE_CHECKING:
    import torch


def _np(t: torch.Tensor) -> np.ndarray:
    """Exact float64 (or bool/int) numpy copy of a tensor of any format."""
    import torch

    t = t.detach()
    return (t.to(torch.float64) if t.is_floating_point() else t).numpy()


@dataclass(frozen=True)
class TorchResult:
    """A framework method's tensors; ``logp`` keeps its autograd graph when the input needs grad."""

    p: torch.Tensor
    logp_or_fn: torch.Tensor | Callable[[], torch.Tensor]
    """log p, or a function computing it when :attr:`logp` is first read (methods whose log p
    is a pass of its own: the critical-temperature search reads p alone)."""
    overflow: torch.Tensor | None = None
    sum_overflow: torch.Tensor | None = None
    nan_cause: torch.Tensor | Callable[[], torch.Tensor] | None = None
    """The NaN cause codes, or a function that computes them: a whole pass over p, which the
    metrics make only for a chunk where they counted a NaN (most have none). The function keeps
    the method's operands (x, and for the probability routes exp and its row sum) until the
    result is dropped."""

    @property
    def logp(self) -> torch.Tensor:
        """log p, computed on the first read and kept in place of its function (not 3.11's
        cached_property, whose one lock every result of the class would share)."""
        v = self.logp_or_fn
        if callable(v):
            v = v()
            object.__setattr__(self, "logp_or_fn", v)
        return v

    def nan_causes(self) -> torch.Tensor | None:
        """:attr:`nan_cause`, computed if it was left to a function."""
        c = self.nan_cause
        return c() if callable(c) else c

    def to_output(self) -> MethodOutput:
        """A :class:`MethodOutput` whose float64 numpy arrays are made on first read.

        The metrics read :attr:`TensorOutput.tensors` directly, so no float64 copy is made.
        """
        return TensorOutput(self)


class TensorOutput(MethodOutput):
    """A MethodOutput backed by a TorchResult; each numpy field is converted when first read."""

    tensors: TorchResult

    def __init__(self, tensors: TorchResult) -> None:
        object.__setattr__(self, "tensors", tensors)
        for name in ("overflow", "sum_overflow"):  # bool: numpy views, no copy
            t = getattr(tensors, name)
            object.__setattr__(self, name, None if t is None else _np(t))

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in ("p", "logp"):
            raise AttributeError(name)
        val = _np(getattr(self.tensors, name))
        object.__setattr__(self, name, val)
        return val

    @cached_property
    def nan_cause(self) -> np.ndarray | None:  # type: ignore[override]
        t = self.tensors.nan_causes()
        return None if t is None else _np(t)


def division_nan_cause(
    num: torch.Tensor, den: torch.Tensor, nan: torch.Tensor | None = None
) -> torch.Tensor:
    """NaN cause codes for ``num / den`` (inf/inf, 0/0, else other); ``nan`` = isnan(num/den).

    Only the NaN elements are classified (few, as a rule): the one whole pass is the codes'."""
    import torch

    with torch.no_grad():
        if nan is None:
            nan = torch.isnan(num / den)
        at = nan.nonzero(as_tuple=True)
        n, d = num[at], den.expand_as(num)[at]
        codes = torch.full(n.shape, int(NanCause.OTHER), dtype=torch.int8)
        codes[torch.isinf(n) & torch.isinf(d)] = NanCause.INF_OVER_INF
        codes[(n == 0) & (d == 0)] = NanCause.ZERO_OVER_ZERO
        cause = torch.zeros(nan.shape, dtype=torch.int8)
        cause[at] = codes
    return cause


def _shift_codes(x: torch.Tensor, at: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The codes of NaNs at ``at`` made by subtracting the row max: inf - inf where the row
    holds a +inf logit, else other."""
    import torch

    inf_row = torch.isposinf(x).any(-1)[at[:-1]]
    codes = torch.where(inf_row, int(NanCause.INF_MINUS_INF), int(NanCause.OTHER))
    return codes.to(torch.int8)


def shift_nan_cause(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """NaN cause codes of methods that subtract the row max: a +inf logit gives inf - inf."""
    import torch

    with torch.no_grad():
        nan = torch.isnan(p)
        at = nan.nonzero(as_tuple=True)
        cause = torch.zeros(nan.shape, dtype=torch.int8)
        if at[0].numel():
            cause[at] = _shift_codes(x, at)
    return cause


def _later(fn: Callable[..., torch.Tensor], *args: Any) -> Callable[[], torch.Tensor]:
    """fn(*args) when called, in the autograd mode of now, when the method ran: a log p read
    later has the graph it would have had if computed at once."""
    import torch

    grad = torch.is_grad_enabled()

    def run() -> torch.Tensor:
        with torch.set_grad_enabled(grad):
            return fn(*args)

    return run


def _exp_route(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor | None = None) -> TorchResult:
    """Shared tail of the probability routes: p = w / sum(w), log p = log(p)."""
    import torch

    if s is None:
        s = _row_sum(w)
    p = w / s
    over, sum_over = _exp_overflows(x, w, s)
    causes = partial(_quotient_causes, x, w, s, p)
    return TorchResult(p, _later(torch.log, p), over, sum_over, causes)


def _exp_overflows(
    x: torch.Tensor, w: torch.Tensor, s: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The overflow masks of the exponentials ``w`` of ``x`` and their row sum ``s``: elements
    whose exp became +inf from a finite x; rows whose sum became +inf with every term finite."""
    import torch

    with torch.no_grad():
        # the masks cost whole passes. A finite positive row sum of w >= 0 leaves no w infinite
        # or NaN (a sum keeps both) and no p NaN: then there is nothing for them to mark
        if bool(((s > 0) & (s < torch.inf)).all()):
            return None, None
        winf = torch.isinf(w)
        return winf & torch.isfinite(x), torch.isinf(s[..., 0]) & ~winf.any(-1)


def _quotient_causes(x: torch.Tensor, num: torch.Tensor, den: torch.Tensor, p: torch.Tensor):  # type: ignore[no-untyped-def]
    """NaN cause codes of p = num / den computed from x: the division's, where x's +inf made
    the NaN by a subtraction first, inf - inf."""
    import torch

    with torch.no_grad():
        cause = division_nan_cause(num, den, torch.isnan(p))
        at = (cause == NanCause.OTHER).nonzero(as_tuple=True)
        if at[0].numel():
            cause[at] = _shift_codes(x, at)
    return cause


_MEMO = threading.local()
"""Per thread: the last input's shifted exponentials, shared by methods doing the same ops."""


def _memo(key: str, x: torch.Tensor, fn):  # type: ignore[no-untyped-def]
    """fn(x), reused when called again on the same unchanged tensor outside autograd.

    The ops are deterministic, so a reused value is bit-identical to a recomputed one; with
    autograd on, each method keeps its own graph.
    """
    import torch

    if x.requires_grad and torch.is_grad_enabled():
        return fn(x)
    memo = _MEMO.__dict__
    hit = memo.get(key)
    if hit is not None and hit[0] is x and hit[1] == x._version:
        return hit[2]
    val = fn(x)
    memo[key] = (x, x._version, val)  # holds x, so its id cannot be reused while cached
    return val


def _row_sum(w: torch.Tensor) -> torch.Tensor:
    return w.sum(-1, keepdim=True)


def _shifted_exp(x: torch.Tensor):  # type: ignore[no-untyped-def]
    """(x - max x, exp(x - max x), its row sum): the common start of shifted and logdomain."""
    import torch

    d = x - x.amax(-1, keepdim=True)
    w = torch.exp(d)
    return d, w, _row_sum(w)


def naive(x: torch.Tensor) -> TorchResult:
    """``w = exp(x); p = w / sum(w)``: overflows once x exceeds ln(max) of the format."""
    import torch

    return _exp_route(x, torch.exp(x))


def shifted(x: torch.Tensor) -> TorchResult:
    """``w = exp(x - max x); p = w / sum(w)``: w <= 1 cannot overflow; tiny p may underflow."""

    # shift invariance: softmax(x) = softmax(x - m); with m the row max every exp argument is <= 0
    _, w, s = _memo("shifted_exp", x, _shifted_exp)
    return _exp_route(x, w, s)


def logdomain(x: torch.Tensor) -> TorchResult:
    """``z = (x - m) - log(sum exp(x - m)); p = exp(z)``: log-probabilities stay finite."""
    import torch

    d, w, s = _memo("shifted_exp", x, _shifted_exp)
    z = d - torch.log(s)
    p = torch.exp(z)
    # the row sum is shifted's: where it overflows, z = -inf and every p is 0 as there
    over, sum_over = _exp_overflows(x, w, s)
    return TorchResult(p, z, over, sum_over, partial(shift_nan_cause, x, p))


def fused(x: torch.Tensor) -> TorchResult:
    """The framework's own kernels ``torch.softmax`` and ``torch.log_softmax``."""
    import torch

    p = torch.softmax(x, -1)
    log = _later(torch.log_softmax, x, -1)
    return TorchResult(p, log, nan_cause=partial(shift_nan_cause, x, p))


def lse_direct(x: torch.Tensor) -> TorchResult:
    """``z = x - logsumexp(x)`` in one step; ``p = exp(z)`` (PyTorch issue #11752).

    The logsumexp y is rounded to the format before the subtraction, which costs |y|·u in every
    log-probability: for large logits the spacing of the format at y swamps them (float32,
    x = (1e8, 1e8): y rounds to 1e8, so z = (0, 0) and p = (1, 1)).
    """
    import torch

    y = torch.logsumexp(x, -1, keepdim=True)
    z = x - y
    p = torch.exp(z)
    return TorchResult(
        p, z, sum_overflow=_lse_overflow(x, y), nan_cause=partial(shift_nan_cause, x, p)
    )


def _lse_overflow(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Rows whose logsumexp ``y`` is +inf from finite logits: its row sum overflowed.

    torch.logsumexp rounds the sum of exp(x - max) to the format before its log (float16: a
    row of 65520 zeros gives +inf), so z = -inf and every p is 0, as for shifted. The log of a
    finite sum cannot reach +inf itself (float16: max + log(65504) rounds to at most max).
    """
    import torch

    with torch.no_grad():
        if bool((y < torch.inf).all()):  # per row: no whole pass where nothing overflowed
            return None
        return torch.isposinf(y[..., 0]) & ~torch.isposinf(x).any(-1)


ONLINE_BLOCK = 128
"""Columns per step of the framework ``online`` method (FlashAttention tiles keys by 64-128)."""


def online(x: torch.Tensor) -> TorchResult:
    """Single-pass softmax with a running max and normaliser (Milakov & Gimelshein 2018).

    As FlashAttention runs it: blocks of ONLINE_BLOCK columns in order; per block
    ``m' = max(m, max x_blk)`` and ``d' = d·exp(m - m') + sum exp(x_blk - m')``; finally
    ``p = exp(x - m) / d``, everything in the format. Guarded against leading -inf blocks:
    while the running max is -inf it is replaced by 0 in the subtractions, so no -inf - -inf
    (NaN) is ever formed and gradients stay finite.
    """
    import torch

    n = x.shape[-1]
    m = torch.full_like(x[..., :1], -torch.inf)
    d = torch.zeros_like(m)
    for start in range(0, n, ONLINE_BLOCK):
        blk = x[..., start : start + ONLINE_BLOCK]
        new = torch.maximum(m, blk.amax(-1, keepdim=True))
        ref = torch.where(torch.isneginf(new), torch.zeros_like(new), new)
        d = d * torch.exp(m - ref) + torch.exp(blk - ref).sum(-1, keepdim=True)
        m = new
    ref = torch.where(torch.isneginf(m), torch.zeros_like(m), m)
    num = torch.exp(x - ref)
    p = num / d
    with torch.no_grad():
        sum_over = torch.isinf(d[..., 0]) & ~torch.isposinf(x).any(-1)
    cause = partial(_quotient_causes, x, num, d, p)
    return TorchResult(p, _later(torch.log, p), sum_overflow=sum_over, nan_cause=cause)
