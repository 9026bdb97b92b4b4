"""Strict arithmetic: every elementary operation rounded once to a format (Higham's ``chop``).

Operands are float64 arrays holding values of the format. ``+ - * /`` are computed in float64
and rounded to the format: for t <= 24 that double rounding is innocuous, because float64 has
53 >= 2t + 2 bits, so rounding the float64 result of an operation on t-bit operands to t bits
equals rounding the exact result (Figueroa 1995; Higham, *Accuracy and Stability*, §2.8); for
float64 the operation is the native one. ``exp``/``log``/``log1p`` are evaluated in a wider
precision (float64 for t <= 24, the x87 80-bit ``np.longdouble`` for float64 where it exists)
and rounded once, so their error is u plus a few ulps of the wider precision (:func:`fn_error`).
Sums are sequential, left to right, in the format; rows are vectorised, only the row is looped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smcheck.dtypes import FloatFormat
from smcheck.reference.exact import EXTENDED_AVAILABLE

Array = npt.NDArray[np.float64]


def fn_error(fmt: FloatFormat) -> float:
    """Relative error of a strict ``exp``/``log``/``log1p`` result, in units of u = 2^-t.

    One rounding to the format (1) plus the wider evaluation's error carried through it: numpy's
    float64 functions are within a few ulps of float64 (measured 0.65 ulp for exp), charged as 8
    ulps; x87 ``expl``/``logl`` within 8 ulps of the 64-bit significand. Without an extended type
    the float64 functions are used unrounded, charged 2 ulps (4u).
    """
    if fmt.t <= 24:
        return 1.0 + 8 * 2.0 ** (fmt.t - 53)
    if EXTENDED_AVAILABLE:
        return 1.0 + 8 * 2.0 ** (fmt.t - 64)
    return 4.0


class StrictArith:
    """Round-to-nearest-even arithmetic in ``fmt``; ``ftz`` flushes subnormal results to zero."""

    def __init__(self, fmt: FloatFormat, ftz: bool = False) -> None:
        self.fmt = fmt
        self.ftz = ftz
        self._np = fmt.numpy_dtype if fmt.name != "float64" else None

    def round(self, v: Array) -> Array:
        """Round the float64 result of ``+ - * /`` on format values (innocuous double rounding)."""
        if self.fmt.name == "float64":
            y = v
        elif self._np is not None:
            y = v.astype(self._np).astype(np.float64)
        else:
            y = _bfloat16_via_float32(v)
        return self._flush(y)

    def round_value(self, v: Array) -> Array:
        """Round an arbitrary float64 value (a function result) once: no intermediate format."""
        return self._flush(self.fmt.round(v))

    def _flush(self, y: Array) -> Array:
        if self.ftz:
            return np.where(np.abs(y) < self.fmt.tiny, np.copysign(0.0, y), y)
        return y

    def add(self, a: Array | float, b: Array | float) -> Array:
        return self.round(np.add(a, b))

    def sub(self, a: Array | float, b: Array | float) -> Array:
        return self.round(np.subtract(a, b))

    def mul(self, a: Array | float, b: Array | float) -> Array:
        return self.round(np.multiply(a, b))

    def div(self, a: Array | float, b: Array | float) -> Array:
        return self.round(np.divide(a, b))

    def exp(self, a: Array) -> Array:
        return self._fn(np.exp, a)

    def log(self, a: Array) -> Array:
        return self._fn(np.log, a)

    def log1p(self, a: Array) -> Array:
        return self._fn(np.log1p, a)

    def _fn(self, f: np.ufunc, a: Array) -> Array:
        if self.fmt.t > 24 and EXTENDED_AVAILABLE:
            # evaluate in the 64-bit significand, then one rounding to float64
            return self._flush(f(np.asarray(a, dtype=np.longdouble)).astype(np.float64))
        return self.round_value(f(np.asarray(a, dtype=np.float64)))

    def cumsum(self, w: Array) -> tuple[Array, Array]:
        """Sequential sums ``s_j = fl(s_{j-1} + w_j)`` along the last axis, from ``s_0 = 0``.

        Returns the final sums and the absorbed mass per row: the sum of the positive addends
        that left the running sum unchanged (a running sum stalls once every addend is below
        half its ulp; a float16 sum of ones stops at 2048).
        """
        rows, n = w.shape
        partial = np.empty((rows, n))
        s = np.zeros(rows)
        for j in range(n):  # the recurrence is sequential along the row; rows are vectorised
            s = self.round(s + w[:, j])
            partial[:, j] = s
        before = np.concatenate([np.zeros((rows, 1)), partial[:, :-1]], axis=1)
        absorbed = np.where((partial == before) & (w > 0), w, 0.0).sum(-1)
        return s, np.where(np.isfinite(s), absorbed, np.nan)


def _bfloat16_via_float32(v: Array) -> Array:
    """float64 -> float32 -> bfloat16, round to nearest even at each step.

    Innocuous for the result of an operation on bfloat16 operands (t = 8): 53 >= 2*24 + 2 and
    24 >= 2*8 + 2, so both roundings together equal one rounding of the exact result; bfloat16
    and float32 share the exponent range, so subnormals and overflow come out right too.
    """
    f = v.astype(np.float32)
    bits = f.view(np.uint32)
    # add half an ulp of bfloat16 (minus one unless the kept last bit is odd: ties to even)
    bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
        0xFFFF0000
    )
    out = bits.view(np.float32).astype(np.float64)
    return np.where(np.isnan(v), np.nan, out)


def absorbed_fraction(absorbed: Array, total: Array) -> Array:
    """Absorbed mass over the total mass summed (NaN where nothing was summed or it overflowed)."""
    ok = np.isfinite(total) & (total > 0)
    return np.where(ok, absorbed / np.where(ok, total, 1.0), np.nan)
