"""The float64 cells' exact reference, in double-double arithmetic (a fused kernel).

The float64 cells need a reference finer than float64 (docs/design.md §3). Instead of x87 long
double (about 70 ns per exp here) it is computed in double-double arithmetic on float64 by one
fused kernel (smcheck.kernels.reference.dd_softmax): exp by a 1024-entry table of 2^(j/1024) in
double-double and a degree-4 polynomial on |r| <= ln2/2048, row sums split into pieces whose
float64 sums are exact, and log s corrected by one Newton step. Error bound (derived in the
comments below and checked against mpmath in tests/reference/test_doubledouble.py): every
probability has relative error below 2^-60 and every log-probability absolute error below
2^-59, whatever its size -- tighter than the long double path's (|log p| + 8) * 2^-63 once
|log p| exceeds 8. The representation is p = (ph + pl) * 2^e with ph + pl in [2^-18, 2), so
probabilities far below the float64 range keep their precision.

dd_exp: range reduction d = k ln2/1024 + r: k*c1 is exact and dh - k*c1 exact by Sterbenz, so r
is off by at most one rounding, 2^-53 |r| <= 2^-64.5. exp(r) - 1 = r + r^2(1/2 + r/6 + r^2/24)
leaves out r^5/120 < 2^-64.7 and rounds once more (2^-64.5); the table entry is exact to
2^-104 and th * em + tl rounds once (2^-64.5). Five such terms: below 2^-62.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smcheck.reference.exact import Reference

if TYPE_CHECKING:
    import torch

MAX_ROW_LENGTH = 1 << 26
"""The exact split sums hold for rows up to this length (a multiple of 2^-26 below 2^53 units)."""


@dataclass(frozen=True)
class DDParts:
    """The float64 cells' reference in pieces: p = (ph + pl) 2^e, log p = lh + ll."""

    ph: torch.Tensor
    pl: torch.Tensor
    e: torch.Tensor
    lh: torch.Tensor
    ll: torch.Tensor
    lse: torch.Tensor


class DDReference(Reference):
    """A :class:`Reference` whose long-double ``p`` and ``logp`` are built only when read.

    The metrics of the float64 cells use :attr:`parts` directly; ``p``/``logp`` (np.longdouble
    where it is wider than float64, else float64) stay available for any other consumer.
    """

    parts: DDParts
    p_hi: np.ndarray
    """p rounded to float64."""
    logp_hi: np.ndarray
    """log p rounded to float64."""

    def __init__(self, parts: DDParts, p_hi: np.ndarray, logp_hi: np.ndarray) -> None:
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "p_hi", p_hi)
        object.__setattr__(self, "logp_hi", logp_hi)
        object.__setattr__(self, "lse", parts.lse.numpy())

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in ("p", "logp"):
            raise AttributeError(name)
        q = self.parts
        if name == "logp":
            val = q.lh.numpy().astype(np.longdouble) + q.ll.numpy()
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # excluded rows may hold inf/NaN
                scale = np.ldexp(np.longdouble(1), q.e.numpy())
                val = (q.ph.numpy().astype(np.longdouble) + q.pl.numpy()) * scale
        object.__setattr__(self, name, val)
        return val

    def __repr__(self) -> str:
        return f"DDReference(shape={tuple(self.parts.ph.shape)})"


def dd_reference(x: torch.Tensor | np.ndarray, temperature: float = 1.0) -> DDReference:
    """Exact softmax of the float64 rows ``x / temperature`` in double-double.

    ``x`` holds float64 values (-inf masks allowed). Rows that are entirely -inf, or hold NaN or
    +inf, give NaN or meaningless values, as in :func:`~smcheck.reference.exact.exact_softmax`;
    callers keep them out of the metrics.
    """
    import torch

    from smcheck.kernels.reference import dd_softmax, dd_table

    if x.shape[-1] > MAX_ROW_LENGTH:
        raise ValueError(f"rows longer than {MAX_ROW_LENGTH} need the long double reference")
    xn = x.numpy() if isinstance(x, torch.Tensor) else x
    xn = np.ascontiguousarray(xn, dtype=np.float64)
    ph, pl, e, lh, ll, lse, p_hi = dd_softmax(xn, float(temperature), *dd_table())
    t = torch.from_numpy
    parts = DDParts(t(ph), t(pl), t(e), t(lh), t(ll), t(lse))
    return DDReference(parts, p_hi, lh)
