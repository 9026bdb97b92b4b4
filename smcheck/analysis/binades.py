"""The exact binade of a reference probability near a power of two, so its ulp is the exact p's.

An error in ulps divides by D's spacing at the exact p, which doubles at each power of two 2^e.
The reference p is off by a few float64 rounding errors, so where it lies within that of 2^e
its own exponent may be the wrong side: 2048 zeros in float16 have p = 2^-11 exactly, the float64
reference gives 2^-11 (1 - 2^-52), and an error of one spacing below 2^-11 read as 1 ulp instead
of 0.5. Such elements are decided exactly from the logits, p = 1/S with S = sum_j exp(x_j - x_i):

* c0 = the entries equal to x_i (each adds exactly 1 to S), N = 2^-e (p >= 2^e iff S <= N);
  every other finite entry adds exp(x_j - x_i) > 0, and by Lindemann-Weierstrass that sum R is
  never an integer. So c0 > N: p < 2^e; c0 = N: p = 2^e if every finite entry equals x_i, else
  p < 2^e; c0 < N with no other entry: p = 1/c0 > 2^e.
* otherwise (c0 < N, R within rounding of N - c0: never by chance, only for crafted logits)
  S is summed in decimal at 40, then 80 digits; closer than that to N counts as p >= 2^e.
"""

from __future__ import annotations

import decimal

import numpy as np

from smcheck.dtypes import FloatFormat

MANTISSA = (1 << 52) - 1
FLOAT64_TOLERANCE = 2.0**-44
"""Relative error of the float64 reference's p where D's ulp depends on the binade (p >= D's
2^(emin+1), |log p| < 88): (|log p| + 8) 2^-52 < 2^-45.4, with a factor 2 to spare."""
DD_TOLERANCE = 2.0**-51
"""The double-double reference's p rounded to float64 (2^-53), plus its own 2^-60."""


def near_bits(f: FloatFormat, tol: float) -> tuple[int, int]:
    """The near-power screen's constants: how close (in units of the last float64 bit) the
    mantissa field must be to a power of two, and the bits of the lowest value screened.

    Powers of two at or below D's 2^emin are left out: D's spacing is the same on both sides.
    """
    k = int(tol * 2**52)
    low = np.array([2.0 ** (f.emin + 1) * (1 - 2 * tol)]).view(np.int64)[0]
    return k, int(low)


def near_powers(p: np.ndarray, f: FloatFormat, tol: float) -> np.ndarray:
    """Where the float64 p lies within ``tol`` (relative) of a power of two at which D's spacing
    changes: the mantissa field is within tol 2^52 of 0 or of 2^52 (the kernels' scalar
    blockrows.near_power screens each element the same way)."""
    k, low = near_bits(f, tol)
    bits = np.asarray(p, np.float64).view(np.int64)
    return (((bits + k) & MANTISSA) < 2 * k) & (bits >= low)


def upper_binade(
    logits: np.ndarray, divisor: float, rows: np.ndarray, cols: np.ndarray, power: np.ndarray
) -> np.ndarray:
    """Per element (rows, cols), whether its exact p = softmax(logits / divisor) >= power.

    ``power`` holds powers of two 2^e <= 1 (the one near each element's reference p).
    """
    upper = np.empty(rows.size, dtype=bool)
    # one decision per row, value and power: a constant row of 2^20 entries is one
    key = np.stack([rows, logits[rows, cols], power], axis=1)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    decided = np.array([_decide(logits[int(r)], v, w, divisor) for r, v, w in uniq])
    upper[:] = decided[inverse.reshape(-1)]
    return upper


def _decide(row: np.ndarray, xi: float, power: float, divisor: float) -> bool:
    fin = np.isfinite(row)
    c0 = int(np.count_nonzero(row == xi))
    others = row[fin & (row != xi)]
    n = round(1 / power)  # p >= 2^e iff S <= N
    if c0 > n:
        return False
    if c0 == n or others.size == 0:
        return others.size == 0
    for digits in (40, 80):
        ctx = decimal.Context(prec=digits)
        s = ctx.add(_decimal_sum(others, xi, divisor, ctx), decimal.Decimal(c0))
        gap = ctx.subtract(s, decimal.Decimal(n))
        if abs(gap) > decimal.Decimal(n).scaleb(10 - digits):
            return gap < 0
    return True


def _decimal_sum(others: np.ndarray, xi: float, divisor: float, ctx: decimal.Context):  # type: ignore[no-untyped-def]
    """sum exp((x_j - x_i) / divisor) over ``others`` at the context's precision."""
    d, total = ctx.create_decimal(divisor), decimal.Decimal(0)
    base = decimal.Decimal(xi)  # Decimal(float) is exact
    for v in others.tolist():
        total = ctx.add(total, ctx.exp(ctx.divide(ctx.subtract(decimal.Decimal(v), base), d)))
    return total
