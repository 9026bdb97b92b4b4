"""The exact reference: softmax, log-softmax and logsumexp of the input as rounded to a format.

For formats up to float32 the reference runs in float64; float64 cells need more, and their
reference runs in the x87 80-bit ``np.longdouble`` (64-bit significand). In both cases the absolute
error of log p -- the relative error of p -- is at most (|log p| + 8) * eps of the working
precision: below 1e-6 ulp of float32 and narrower formats, and below (|log p| + 8) / 2048 ulp of
float64. The tests check this bound against mpmath at 50 digits.
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
    return (
        "longdouble (64-bit significand)" if EXTENDED_AVAILABLE else "float64 (no wider type here)"
    )


@dataclass(frozen=True)
class Reference:
    """Exact results for a (rows, n) block in the working precision; masked (-inf) entries have p = 0."""

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
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = x.max(axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        d = x - m
        log_s = np.log(np.exp(d).sum(axis=-1, keepdims=True))
        logp = d - log_s
        return Reference(logp=logp, p=np.exp(logp), lse=(m + log_s)[..., 0])
