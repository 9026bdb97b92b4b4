"""exp over a block of float64 values in a form the compiler vectorises (numba's math.exp is a
scalar libm call per element, ~10x slower than a SIMD loop here).

exp(v) = 2^k exp(r): k = round(v / ln2), r = (v - k ln2_hi) - k ln2_lo with ln2 split
(Cody-Waite, fdlibm's constants: k ln2_hi is exact for |k| < 2^20) so |r| <= ln2/2 + 2^-40;
exp(r) = 1 + (r + r^2 q(r)), q the Taylor polynomial to r^13/13! (the first term left out,
r^14/14!, is below 2^-57 of exp(r)); 2^k is applied as two powers of two built from the bits,
so results down to the subnormal range round once. Error below 2 ulp (normal results), checked
against mpmath in tests/kernels/test_expblock.py. Arguments must be <= 709 (no overflow
handling) and not NaN; below -746 the result is 0.
"""

from __future__ import annotations

import numpy as np

from smcheck.kernels import kernel
from smcheck.kernels.floatbits import from_bits

_INV_LN2 = 1.44269504088896338700e00
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 1.5 * 2.0**52  # (v + _ROUND) - _ROUND rounds v to an integer, ties to even
_FLOOR = -746.0  # exp(-746) < 2^-1075: rounds to 0


@kernel
def exp_block(v, out):  # type: ignore[no-untyped-def]
    """out[j] = exp(v[j]) for 1-D ``v`` (every v[j] <= 709, or -inf). Returns nothing; loops
    without branches so it vectorises (the powers of two are bit patterns: from_bits)."""
    for j in range(v.shape[0]):
        x = v[j]
        x = x if x > _FLOOR else _FLOOR  # -inf too
        kf = (x * _INV_LN2 + _ROUND) - _ROUND
        r = (x - kf * _LN2_HI) - kf * _LN2_LO
        q = 1.0 / 6227020800.0
        q = q * r + 1.0 / 479001600.0
        q = q * r + 1.0 / 39916800.0
        q = q * r + 1.0 / 3628800.0
        q = q * r + 1.0 / 362880.0
        q = q * r + 1.0 / 40320.0
        q = q * r + 1.0 / 5040.0
        q = q * r + 1.0 / 720.0
        q = q * r + 1.0 / 120.0
        q = q * r + 1.0 / 24.0
        q = q * r + 1.0 / 6.0
        q = q * r + 0.5
        k = np.int64(kf)
        k1 = k >> 1  # 2^k = 2^k1 2^k2, both normal for k >= -1076
        e = 1.0 + (r + (r * r) * q)
        out[j] = (e * from_bits((k1 + 1023) << 52)) * from_bits((k - k1 + 1023) << 52)


@kernel
def exp_many(v):  # type: ignore[no-untyped-def]
    """exp_block over a 1-D array (for the tests)."""
    out = np.empty(v.shape[0])
    exp_block(v, out)
    return out
