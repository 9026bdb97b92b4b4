"""The per-element arithmetic of the cell kernel (smcheck.kernels.cellmetrics), written to
vectorise: ulps and exact scalings by powers of two built from the bits (no division), an
element's errors and KL term without branches, integer keys whose maxima are the floats'
(LLVM vectorises an integer maximum; a float one it does not without fastmath), and the
reading of a row's p̂ or log p̂ given as float16, bfloat16, float32 or float64 bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from smcheck.kernels.floatbits import NO_KEY, bits
from smcheck.kernels.floatbits import from_bits as bits_float
from smcheck.kernels.floatbits import order_key as _order_key

KL_SERIES_LIMIT = 2.0**-6
"""|r| up to which a KL term is its series; beyond it (p̂ far from p) the exact logarithm."""
DIRECT_SERIES_MIN, DIRECT_SERIES_LIMIT = 2.0**-20, 0.25
"""|r| over which direct formats take their KL term's r - log1p(r) as a series, which
vectorises (relative error below 4·2^-53; tests/kernels/test_cellterms.py): their p̂
carry 8 or 11 bits, and worse after a rounded x - max x, so |r| beyond 2^-6 is common there.
Below the range libm's log1p (the two agree within 2^-31 relative from its start), above it
the exact logarithm, both in the scalar loop."""
P_TINY = 2.0**-1000
"""1/p overflows below 2^-1024: KL series terms with p below this are left out (p < 1e-301)."""

# helpers that take arrays are inlined into the kernels: a call would pass array arguments
# through atomic reference counts, which the threads contend for (measured 3x slower, 2 threads
# slower than 1); scalar ones are plain functions, which LLVM inlines (numba's own inlining
# types each call site again, which took half of the compile)
inline = njit(inline="always", error_model="numpy")
scalar = njit(error_model="numpy")


@scalar
def ulp_exponent(a, t, emin):  # type: ignore[no-untyped-def]
    """k with 2^k the spacing of a t-bit format (min exponent emin) at the float64 |a|,
    subnormal below tiny: |a| in [2^E, 2^(E+1)) has spacing 2^(max(E, emin) + 1 - t)."""
    expo = ((bits(np.float64(a)) >> 52) & 0x7FF) - 1023
    return np.int64(max(expo, emin) + 1 - t)


@scalar
def pow2(k):  # type: ignore[no-untyped-def]
    """2^k for k >= -1074: 2^(k + 600) from the bits, scaled back (exact, even subnormal)."""
    return bits_float((k + 600 + 1023) << 52) * 2.0**-600


@scalar
def format_ulp(a, t, emin):  # type: ignore[no-untyped-def]
    """Spacing of a t-bit format at the float64 |a| (see ulp_exponent), built from the bits."""
    return pow2(ulp_exponent(a, t, emin))


@scalar
def scale(x, m):  # type: ignore[no-untyped-def]
    """x 2^m (-1022 <= m <= 2097) rounded once, so equal to x / 2^-m: two multiplications by
    powers of two from the bits (a division does not pipeline), the first exact."""
    m_hi = max(m - 1000, 0)
    return x * bits_float((m - m_hi + 1023) << 52) * bits_float((m_hi + 1023) << 52)


@scalar
def prob_terms(x_ulps, fr, ulp, refp):  # type: ignore[no-untyped-def]
    """|p̂ - p| in ulps, p̂ - p, and the KL term (docs/design.md §4) of one element, branch-free.

    p̂ - p is q ulps, q = x_ulps - fr, x_ulps = (p̂ - p - low)/ulp: ``low`` is the reference's
    part below its float64 value (0 for double-double cells), ``fr`` the double-double cells'
    low part in ulps (0 for the others); ulp is a power of two, so q ulp is p̂ - p - low
    exactly in the other cells. The KL term p (r - log1p r), r = (p̂ - p)/p, is its series
    where |r| <= 2^-6, else NaN: the scalar loop takes the logarithm (which does not
    vectorise). Direct formats replace the term by :func:`direct_kl`'s.
    """
    q = x_ulps - fr
    d = q * ulp
    r = d * (1.0 / refp) if refp > P_TINY else 0.0
    series = d * r * (0.5 + r * (-1.0 / 3.0 + r * (0.25 - 0.2 * r)))
    return abs(q), d, series if abs(r) <= KL_SERIES_LIMIT else np.nan


@scalar
def direct_kl(d, refp):  # type: ignore[no-untyped-def]
    """The KL term p (r - log1p r), r = d/p, of a direct format (float16, bfloat16) to float64
    accuracy where DIRECT_SERIES_MIN <= |r| <= DIRECT_SERIES_LIMIT or r = 0, else NaN.

    r - log1p(r) without a logarithm: with s = r/(2 + r), log1p(r) = 2 atanh(s) = 2 (s + s^3/3
    + s^5/5 + ...) and r - 2s = r s, so r - log1p(r) = r s - 2 s^3 (1/3 + s^2/5 + ... +
    s^16/19): 9 terms for |s| <= 1/7. Times p, with s = d/(2p + d): d s - 2 p s^3 (...), one
    division (a vector division is the loop's slowest instruction). With its roundings,
    relative error below 4·2^-53 of the term of the exact d/p (against mpmath:
    tests/kernels/test_cellterms.py). No cancellation: for r > 0 the second part is under 4 %
    of the first, for r < 0 they add; and none for small r, where r - log1p(r) itself cancels.
    """
    s = d / (2.0 * refp + d)
    z = s * s
    c = 1 / 11 + z * (1 / 13 + z * (1 / 15 + z * (1 / 17 + z * (1 / 19))))
    c = 1 / 3 + z * (1 / 5 + z * (1 / 7 + z * (1 / 9 + z * c)))
    a = abs(d)  # |r| in range, by exact scalings of p (p > P_TINY where it matters)
    ok = ((a >= refp * DIRECT_SERIES_MIN) & (a <= refp * DIRECT_SERIES_LIMIT)) | (d == 0.0)
    return d * s - 2.0 * refp * (s * z) * c if ok else np.nan


@inline
def kl_term(kt, pj, refp, lp, d, direct):  # type: ignore[no-untyped-def]
    """The KL term from prob_terms' (a direct format's: direct_kl's) value: the series, or where
    it is NaN, p (r - log1p r) for direct formats (the limit p̂ where p = 0 in float64), else
    the exact logarithm."""
    if kt == kt:
        return kt
    if direct:
        r = d / refp
        term = (r - np.log1p(r)) * refp
        return d if term != term else term
    ex = refp * (lp - np.log(pj)) if refp > 0 else 0.0
    return max(ex + d, 0.0)


@scalar
def max_bits(m, v, keep):  # type: ignore[no-untyped-def]
    """max(m, the bits of v where ``keep`` and v >= 0, as max(m, v) ignores a NaN v): the bits of
    non-negative floats order as the floats do, and an integer maximum vectorises (a float one
    does not without fastmath)."""
    return max(m, bits(v) if keep & (v >= 0.0) else np.int64(-1))


@scalar
def order_key(v):  # type: ignore[no-untyped-def]
    """An int64 that orders as the float v does (-0.0 and 0.0 alike); NaN: below every float."""
    return _order_key(v) if v == v else NO_KEY


@scalar
def float_or(m, none):  # type: ignore[no-untyped-def]
    """The float whose bits max_bits kept, or ``none`` where it kept none."""
    return bits_float(m) if m >= 0 else none


@scalar
def half_value(h, t):  # type: ignore[no-untyped-def]
    """The float64 value (exact) of the 16 bits ``h`` of a float16 (t = 11) or a bfloat16
    (t = 8): a normal one's exponent re-biased in the bits, a subnormal's significand times its
    power of two. No float64 subnormal is formed: an arithmetic operand that is one costs a
    microcode assist per element (float16 probabilities are mostly subnormal: 1.5x the kernel)."""
    mbits = t - 1
    bias = (1 << (14 - mbits)) - 1  # 15 or 127
    em = h & 0x7FFF
    top = (2 * bias + 1) << mbits  # the exponent's bits all ones: inf or NaN
    normal = bits_float((em << (52 - mbits)) + ((1023 - bias) << 52))
    tiny = np.float64(em) * bits_float((1023 + 1 - bias - mbits) << 52)  # em < 2^mbits here
    v = normal if em >= (1 << mbits) else tiny
    v = v if em < top else (np.inf if em == top else np.nan)
    return -v if h & 0x8000 else v


@inline
def as_floats(raw, n):  # type: ignore[no-untyped-def]
    """A row of n float32, float64 or 16-bit values given as its bytes, as (float32 view,
    float64 view, uint16 view), the others empty: one kernel signature for every format, so it
    compiles once (16-bit values are read as they are: no widened copy of the row)."""
    if raw.shape[0] == 4 * n:
        return raw.view(np.float32), raw[0:0].view(np.float64), raw[0:0].view(np.uint16)
    if raw.shape[0] == 2 * n:
        return raw[0:0].view(np.float32), raw[0:0].view(np.float64), raw.view(np.uint16)
    return raw[0:0].view(np.float32), raw.view(np.float64), raw[0:0].view(np.uint16)


@inline
def widen(src, t, j0, m, dst, off):  # type: ignore[no-untyped-def]
    """dst[off:off + m] = elements j0:j0 + m of the row as_floats gave (``src``; a 16-bit one
    of the format of precision t), in float64 (exact)."""
    src32, src64, src16 = src
    if src32.shape[0] > 0:
        _copy(src32, j0, m, dst, off)
    elif src16.shape[0] > 0:
        for s in range(m):
            dst[off + s] = half_value(np.int64(src16[np.uint64(j0 + s)]), t)
    else:
        _copy(src64, j0, m, dst, off)


@inline
def row_value(src, t, j):  # type: ignore[no-untyped-def]
    """Element j of the row as_floats gave, in float64."""
    src32, src64, src16 = src
    if src32.shape[0] > 0:
        return np.float64(src32[j])
    if src16.shape[0] > 0:
        return half_value(np.int64(src16[j]), t)
    return src64[j]


@inline
def _copy(src, j0, m, dst, off):  # type: ignore[no-untyped-def]
    for s in range(m):  # an unsigned index: no wrap-around, so this vectorises
        dst[off + s] = src[np.uint64(j0 + s)]


@inline
def all_finite(src, t):  # type: ignore[no-untyped-def]
    """Whether every element of the row as_floats gave is finite."""
    src32, src64, src16 = src
    n_bad = 0  # no early exit: a reduction vectorises
    if src32.shape[0] > 0:
        for j in range(src32.shape[0]):
            n_bad += not abs(src32[np.uint64(j)]) < np.inf
    elif src16.shape[0] > 0:
        top = ((1 << (16 - t)) - 1) << (t - 1)  # the exponent's bits all ones: inf or NaN
        for j in range(src16.shape[0]):
            n_bad += (np.int64(src16[np.uint64(j)]) & 0x7FFF) >= top
    else:
        for j in range(src64.shape[0]):
            n_bad += not abs(src64[np.uint64(j)]) < np.inf
    return n_bad == 0


@inline
def first_key(wt, m, key):  # type: ignore[no-untyped-def]
    """The first s < m with order_key(wt[s]) == key (-1: none)."""
    for s in range(m):
        if order_key(wt[s]) == key:
            return s
    return -1


@inline
def overflows(ovf, so, n):  # type: ignore[no-untyped-def]
    """The row's elements that overflowed (either mask; an empty mask: none given)."""
    n_over = 0
    if ovf.shape[0] > 0 or so.shape[0] > 0:
        m1 = ovf if ovf.shape[0] > 0 else so
        m2 = so if so.shape[0] > 0 else m1
        for j in range(n):
            n_over += (m1[np.uint64(j)] != 0) | (m2[np.uint64(j)] != 0)
    return n_over
