"""The exact reference: softmax, log-softmax and logsumexp of the input as rounded to a format.

For formats up to float32 the reference runs in float64 (one fused kernel, :func:`softmax64`,
with a compensated row sum): the absolute error of log p is at most (|log p| + 8) * 2^-52 and
the relative error of p (p = exp(x - m) / s, normal range) at most 2^-49,
below 1e-6 ulp of float32 and narrower formats. float64 cells need more: the engine computes
theirs in double-double (smcheck.reference.doubledouble.dd_reference: p within 2^-60 relative,
log p within 2^-59, below 1/128 ulp of float64). ``exact_softmax`` on an ``np.longdouble``
array keeps the x87 80-bit path, with the bound (|log p| + 8) * 2^-63. The tests check these
bounds against mpmath.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smcheck.dtypes import FloatFormat

EXTENDED_AVAILABLE: bool = np.finfo(np.longdouble).nmant >= 63
"""Whether np.longdouble is wider than float64 here (x86-64 Linux: 80-bit; Arm/Windows: no)."""


def working_dtype(fmt: FloatFormat) -> np.dtype:
    """Precision the reference for ``fmt`` is computed in."""
    if fmt.t <= 24:  # float64 has more than 2t+2 bits: exact enough for every format up to float32
        return np.dtype(np.float64)
    return np.dtype(np.longdouble)


def reference_precision(fmt: FloatFormat) -> str:
    """A label for the report: what the reference for ``fmt`` is computed in."""
    if fmt.t <= 24:
        return "float64"
    return "double-double (float64 pairs, p within 2^-60)"


@dataclass(frozen=True)
class Reference:
    """Exact results for a (rows, n) block in the working precision; a -inf mask has p = 0."""

    logp: npt.NDArray[np.floating]
    p: npt.NDArray[np.floating]
    lse: npt.NDArray[np.floating]
    """logsumexp per row."""


def exact_softmax(x: npt.NDArray[np.floating]) -> Reference:
    """Softmax, log-softmax and logsumexp of rows of ``x`` in the precision of ``x``.

    Max-shifted and in the log domain (Blanchard, Higham & Higham 2021, Alg. 3.1 / 4.1):
    ``lse = m + log sum exp(x - m)`` and ``log p = (x - m) - log sum exp(x - m)``, so no exp
    overflows and tiny probabilities keep their exact logarithm. Rows that are entirely -inf
    (fully masked) yield NaN; callers keep them out of the metrics.
    """
    if x.dtype == np.float64:
        return softmax64(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = x.max(axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        d = x - m
        log_s = np.log(np.exp(d).sum(axis=-1, keepdims=True))
        logp = d - log_s
        return Reference(logp=logp, p=np.exp(logp), lse=(m + log_s)[..., 0])


def softmax64(x: npt.NDArray[np.float64]) -> Reference:
    """The float64 reference of float64 rows, by the fused kernel (same algorithm as
    exact_softmax; the row sum compensated, p = exp(x - m) / s)."""
    from smcheck.kernels.reference import softmax64 as kernel

    logp, p, lse = kernel(np.ascontiguousarray(x, dtype=np.float64))
    return Reference(logp=logp, p=p, lse=lse)
