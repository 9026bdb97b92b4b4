"""Test oracle (torch ops, replaced by smcheck.kernels.cellmetrics).

The accuracy of a method's log-probabilities against the exact log-softmax (docs/design.md §4).

A log-probability can be badly wrong where the probability is fine: torch's float16
log_softmax returns exactly 0 for a top class whose exact log p is -1.855e-4 (its p rounds to 1),
which no probability metric sees. Errors are in ulps of D at the exact log p, and in nats.

The reference's log p is off by (|log p| + 8) 2^-52 (float64) or 2^-59 (double-double) in
absolute terms: too coarse, relative to log p, for a top class with p close to 1. There
log p = log1p(-rest), rest = the sum of the row's other probabilities, which keeps its relative
accuracy (as the exact loss does in smcheck.analysis.gradients); it is used where p > 1/2
(float64 reference) or |log p| < 2^-7 (double-double, whose own error is smaller above).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import DDReference
from tests.analysis.oracle_blockshared import Shared, format_ulp

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

DD_TOP_REST = 2.0**-7
"""Double-double cells take the top class's log p from log1p(-rest) only below this rest."""


@dataclass
class LogShared:
    """The exact log-softmax of a block as the log-error metric reads it (shared by its cells)."""

    hi: torch.Tensor
    """Exact log p, rounded to float64 (the reference's)."""
    lo: torch.Tensor | None
    """The double-double reference's low part (float64 cells), else None."""
    scale: torch.Tensor
    """1 / D's spacing at |log p| (0 at -inf and NaN); float64 cells: the spacing itself (its
    reciprocal overflows for |log p| < 2^-970), divided by instead."""
    top: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None
    """Rows, columns, log p and scale of the top classes whose log p is log1p(-rest)."""
    neginf: bool
    """Whether any exact log p of a judged row is -inf (a -inf mask in the format)."""


def log_shared(b: Block, sh: Shared) -> LogShared:
    """Compute (once) and cache the block's exact log p for the log-error metric."""
    import torch

    got = b.cache.get("oracle_log")
    if got is not None:
        return got
    lo = b.ref.parts.ll if isinstance(b.ref, DDReference) else None
    hi = sh.logp
    top = None
    fix = (sh.rest < (DD_TOP_REST if lo is not None else 0.5)) & (sh.rest > 0) & sh.valid
    if bool(fix.any()):
        rows = fix.nonzero()[:, 0]
        cols = sh.ref_arg[rows]
        log_top = torch.log1p(-sh.rest[rows])
        top = (rows, cols, log_top, _scale(log_top, b.fmt, lo is not None))
    scale = _scale(hi, b.fmt, lo is not None)
    # -inf in the exact log p only where a judged row has a -inf mask (live is None: none)
    neginf = sh.live is not None and bool((torch.isneginf(hi) & sh.valid[:, None]).any())
    got = LogShared(hi, lo, scale, top, neginf)
    b.cache["oracle_log"] = got
    return got


def _scale(logp: torch.Tensor, f: FloatFormat, dd: bool) -> torch.Tensor:
    """D's spacing at |log p| for double-double cells, its reciprocal for the others (whose
    spacing is at least 2^-149); -inf and NaN (unjudged rows) get a reciprocal of 0."""
    ulp = format_ulp(logp, f)
    if dd:
        return ulp
    return ulp.reciprocal_().nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


class LogErrors(NamedTuple):
    """Per row: the largest log-probability errors; every judged error in ulps; the finite
    log p̂ where the exact log p is -inf."""

    max_ulp: torch.Tensor
    max_abs: torch.Tensor
    ulp_values: torch.Tensor
    finite_at_neginf: torch.Tensor | None


def log_errors(b: Block, sh: Shared, logq: torch.Tensor, lf_all: bool) -> LogErrors:
    """Errors of ``logq`` (the method's log p̂) on the judged rows' live entries where finite.

    Args:
        b: the block.
        sh: its shared tensors.
        logq: the method's log-probabilities (any float dtype).
        lf_all: whether every element of ``logq`` is finite (a screen the caller has).
    """
    import torch

    ls = log_shared(b, sh)
    lq = logq  # 16-bit log p̂ is promoted inside the subtraction: no float64 copy
    d = torch.sub(lq, ls.hi)
    if ls.lo is not None:
        d.sub_(ls.lo)
    d.abs_()  # NaN where log p̂ is NaN or both are -inf; never measured
    fin_at_neginf = None
    sel = None
    if not (lf_all and sh.live is None):  # live None: every row judged, every entry live
        sel = sh.live if sh.live is not None else sh.valid[:, None].expand_as(d)
        if not lf_all:
            finite = torch.isfinite(lq)
            sel = sel & finite
            if ls.neginf:
                hit = finite & torch.isneginf(ls.hi) & sh.valid[:, None]
                fin_at_neginf = hit.sum(-1, dtype=torch.int64)
        elif ls.neginf:  # every log p̂ finite: each -inf of the exact one is one
            hit = torch.isneginf(ls.hi) & sh.valid[:, None]
            fin_at_neginf = hit.sum(-1, dtype=torch.int64)
        d.masked_fill_(~sel, 0.0)
    dd = ls.lo is not None
    err = d / ls.scale if dd else d * ls.scale
    if ls.top is not None:  # the top classes' log p from log1p(-rest): their own errors
        rows, cols, log_top, top_scale = ls.top
        dt = (lq[rows, cols] - log_top).abs_()
        if sel is not None:
            dt.masked_fill_(~sel[rows, cols], 0.0)
        d[rows, cols] = dt
        err[rows, cols] = dt / top_scale if dd else dt * top_scale
    if dd and sel is not None:
        err.masked_fill_(~sel, 0.0)  # 0 / NaN spacing at -inf and in unjudged rows
    max_abs, max_ulp = d.amax(-1), err.amax(-1)
    if sel is not None:
        nothing = ~sel.any(-1)  # rows with no judged entry have no maximum
        max_abs = max_abs.masked_fill(nothing, -np.inf)
        max_ulp = max_ulp.masked_fill(nothing, -np.inf)
        values = err[sel]
    else:
        values = err.reshape(-1)
    return LogErrors(max_ulp, max_abs, values, fin_at_neginf)
