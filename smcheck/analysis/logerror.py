"""The accuracy of a method's log-probabilities against the exact log-softmax (docs/design.md §4).

A log-probability can be badly wrong where the probability is fine: torch's float16
log_softmax returns exactly 0 for a top class whose exact log p is -1.855e-4 (its p rounds to 1),
which no probability metric sees. Errors are in ulps of D at the exact log p, and in nats; the
cell kernel (smcheck.kernels.cellmetrics) measures them in the same pass as the probabilities'.

The reference's log p is off by (|log p| + 8) 2^-52 (float64) or 2^-59 (double-double) in
absolute terms: too coarse, relative to log p, for a top class with p close to 1. There
log p = log1p(-rest), rest = the sum of the row's other probabilities, which keeps its relative
accuracy (as the exact loss does in smcheck.analysis.gradients); it is used where p > 1/2
(float64 reference) or |log p| < 2^-7 (double-double, whose own error is smaller above).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.stats import Bins

DD_TOP_REST = 2.0**-7
"""Double-double cells take the top class's log p from log1p(-rest) only below this rest."""


class LogErrors(NamedTuple):
    """Per row: the largest log-probability errors and the finite log p̂ where the exact log p is
    -inf; the histogram bins of every judged error in ulps (valid rows' live entries whose log p̂
    is finite)."""

    max_ulp: torch.Tensor
    max_abs: torch.Tensor
    ulp_bins: Bins
    finite_at_neginf: torch.Tensor
