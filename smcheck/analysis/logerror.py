"""The accuracy of a method's log-probabilities against the exact log-softmax (docs/design.md §4).

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

from smcheck.analysis.blockshared import Shared, format_ulp
from smcheck.reference.doubledouble import DDReference

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

DD_TOP_REST = 2.0**-7
"""Double-double cells take the top class's log p from log1p(-rest) only below this rest."""


@dataclass
class LogShared:
    """The exact log-softmax of a block as the log-error metric reads it (shared by its cells)."""

    hi: torch.Tensor
    """Exact log p, rounded to float64 (the top class's from log1p(-rest) where p is near 1)."""
    lo: torch.Tensor | None
    """The double-double reference's low part (float64 cells), else None."""
    ulp: torch.Tensor
    """D's spacing at |log p| (inf at -inf)."""
    neginf: bool
    """Whether any exact log p of a judged row is -inf (a -inf mask in the format)."""


def log_shared(b: Block, sh: Shared) -> LogShared:
    """Compute (once) and cache the block's exact log p for the log-error metric."""
    import torch

    got = b.cache.get("log")
    if got is not None:
        return got
    lo = None
    if isinstance(b.ref, DDReference):
        lo = b.ref.parts.ll.clone()
    hi = sh.logp.clone()
    rows = torch.arange(hi.shape[0])
    rest = sh.rest
    fix = (rest < (DD_TOP_REST if lo is not None else 0.5)) & (rest > 0) & sh.valid
    if bool(fix.any()):
        r, top = rows[fix], sh.ref_arg[fix]
        hi[r, top] = torch.log1p(-rest[fix])
        if lo is not None:
            lo[r, top] = 0.0
    ulp = format_ulp(hi, b.fmt)
    # divided by, not multiplied with its inverse: where log p is 0 exactly (a row with one live
    # entry) float64's spacing is 2^-1074, whose inverse overflows (0 * inf would be NaN)
    ulp = torch.where(torch.isfinite(hi), ulp, torch.inf)
    neginf = bool(torch.isneginf(hi[sh.valid]).any())
    got = LogShared(hi, lo, ulp, neginf)
    b.cache["log"] = got
    return got


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
    lq = logq if logq.dtype == torch.float64 else logq.to(torch.float64)
    d = torch.sub(lq, ls.hi)
    if ls.lo is not None:
        d.sub_(ls.lo)
    d.abs_()
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
    err = d / ls.ulp
    max_abs, max_ulp = d.amax(-1), err.amax(-1)
    if sel is not None:
        nothing = ~sel.any(-1)  # rows with no judged entry have no maximum
        max_abs = max_abs.masked_fill(nothing, -np.inf)
        max_ulp = max_ulp.masked_fill(nothing, -np.inf)
        values = err[sel]
    else:
        values = err.reshape(-1)
    return LogErrors(max_ulp, max_abs, values, fin_at_neginf)
