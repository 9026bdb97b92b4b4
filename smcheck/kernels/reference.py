"""The exact references as fused kernels: float64 softmax, and double-double for float64 cells.

Each kernel reads a chunk once, in parallel over rows, with every in-row loop sequential, so a
row's result depends on that row alone (the same bits for every chunk size). The error analysis
of both references is in smcheck.reference.exact and smcheck.reference.doubledouble; this module
holds only the arithmetic.
"""

from __future__ import annotations

import decimal
import math
from functools import lru_cache

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.expblock import exp_block
from smcheck.kernels.floatbits import NO_KEY, from_key, signed_key
from smcheck.kernels.lanesum import LANES, add_lanes, merge_lanes

TABLE_BITS = 10
_N = 1 << TABLE_BITS
_SPLIT = float(2**27 + 1)  # Veltkamp: splits a float64 into two 26-bit halves
_ROUND = 1.5 * 2.0**52  # (v + _ROUND) - _ROUND rounds v to an integer, ties to even (|v| < 2^51)
EXP_FLOOR = -2000.0
"""dd_exp arguments below this are clamped: exp(-2000) ~ 2^-2885 is below every reported value."""
_EXP_CEIL = 2000.0  # only meaningless rows (a +inf or NaN max) reach it; keeps k an integer
_BIG = 1.5 * 2.0**26  # exact pieces: a multiple of 2^-26 ...
_SMALL = 1.5  # ... and of 2^-52 (see dd_softmax)


@lru_cache(maxsize=1)
def dd_table() -> tuple[np.ndarray, np.ndarray, float, float, float, np.ndarray]:
    """2^(j/1024) as double-double (45 digits), ln2/1024 split so that k * c1 is exact, and the
    powers of two 2^-1022 .. 2^1023 (a table lookup is cheaper than libm's ldexp)."""
    ctx = decimal.Context(prec=45)
    ln2 = ctx.ln(decimal.Decimal(2))
    step = ln2 / _N
    # c1 keeps 31 significant bits: |k| < 2^22 for |d| <= 2000, so k * c1 has <= 53 bits (exact)
    c1 = float(int(step * 2**41)) / 2**41
    c2 = float(step - decimal.Decimal(c1))
    th, tl = np.empty(_N), np.empty(_N)
    for j in range(_N):
        v = ctx.exp(ln2 * j / _N)
        th[j] = float(v)
        tl[j] = float(v - decimal.Decimal(th[j]))
    p2 = np.ldexp(1.0, np.arange(-1022, 1024))
    return th, tl, float(_N / ln2), c1, c2, p2


@kernel
def _pow2(e, p2):  # type: ignore[no-untyped-def]
    """2.0**e for an integer e, 0 below 2^-1022 (callers never need those), 2^1023 above."""
    if e < -1022:
        return 0.0
    return p2[min(e, 1023) + 1022]


@kernel
def _two_prod(a, b):  # type: ignore[no-untyped-def]
    """a * b = h + l exactly (Dekker/Veltkamp, no fma needed)."""
    h = a * b
    ta = a * _SPLIT
    a1 = ta - (ta - a)
    a2 = a - a1
    tb = b * _SPLIT
    b1 = tb - (tb - b)
    b2 = b - b1
    return h, ((a1 * b1 - h) + a1 * b2 + a2 * b1) + a2 * b2


@kernel
def _dd_exp(dh, dl, th, tl, inv_step, c1, c2):  # type: ignore[no-untyped-def]
    """exp(dh + dl) = (eh + el) * 2^e, relative error below 2^-62 (smcheck.reference.doubledouble).

    -inf gives eh = el = 0; NaN gives NaN (e = 0).
    """
    if dh != dh:
        return math.nan, math.nan, 0
    d = min(max(dh, EXP_FLOOR), _EXP_CEIL)
    k = (d * inv_step + _ROUND) - _ROUND
    r = (d - k * c1) + (dl - k * c2)
    r2 = r * r
    em = r + r2 * ((0.5 + r * (1.0 / 6.0)) + r2 * (1.0 / 24.0))
    ki = np.int64(k)
    j = ki & (_N - 1)
    e = ki >> TABLE_BITS
    s = th[j] * em + tl[j]
    eh = th[j] + s
    el = (th[j] - eh) + s  # Fast2Sum: |th| >= |s|
    if dh == -math.inf:
        return 0.0, 0.0, e
    return eh, el, e


@kernel
def dd_exp_many(d, th, tl, inv_step, c1, c2):  # type: ignore[no-untyped-def]
    """_dd_exp over a 1-D array (for the tests and the error analysis)."""
    n = d.shape[0]
    eh, el, e = np.empty(n), np.empty(n), np.empty(n, dtype=np.int64)
    for i in range(n):
        eh[i], el[i], e[i] = _dd_exp(d[i], 0.0, th, tl, inv_step, c1, c2)
    return eh, el, e


@kernel
def _dd_scaled(v, t):  # type: ignore[no-untyped-def]
    """v / t = qh + ql to double-double accuracy (remainder exact by _two_prod)."""
    qh = v / t
    ph, pl = _two_prod(qh, t)
    ql = ((v - ph) - pl) / t
    return qh, (ql if math.isfinite(qh) else 0.0)


@kernel
def _dd_log_and_inverse(sa, sb, sc, th, tl, inv_step, c1, c2, p2):  # type: ignore[no-untyped-def]
    """log s and 1/s as double-doubles, for the row sum s = sa + sb + sc (sa >= |sb| >> |sc|)."""
    h = sa + sb
    lo = (sb - (h - sa)) + sc  # Fast2Sum: sa >= |sb|
    sh = h + lo
    sl = (h - sh) + lo
    # log s = L0 + delta, delta = s exp(-L0) - 1 ~ 2^-52; log(1 + delta) = delta - delta^2/2
    L0 = math.log(sh)
    gh, gl, ge = _dd_exp(-L0, 0.0, th, tl, inv_step, c1, c2)
    gp = _pow2(ge, p2)
    gh, gl = gh * gp, gl * gp
    qh, ql = _two_prod(sh, gh)
    delta = (qh - 1.0) + ((ql + sh * gl) + sl * gh)
    delta = delta - 0.5 * delta * delta
    Lh = L0 + delta
    rh = 1.0 / sh
    qh, ql = _two_prod(rh, sh)
    return Lh, (L0 - Lh) + delta, rh, rh * (((1.0 - qh) - ql) - rh * sl)


@kernel
def _softmax64_row(x, logp, p):  # type: ignore[no-untyped-def]
    """log p and p of one float64 row, returns its logsumexp: max-shifted, in the log domain.

    m = max x (NaN if the row holds one; 0 when not finite), e = exp(x - m) (the vectorised
    exp_block, below 2 ulp), s = sum e compensated (TwoSum lanes: relative error ~2^-53 whatever
    the row length), then log p = (x - m) - log s and p = e / s. A row entirely -inf gives NaN
    (s = 0); rows without a finite max take libm's exp (their inf/NaN kept).
    """
    k = x.shape[0]
    top, n_nan = NO_KEY, 0
    for j in range(k):  # branch-free (vectorises): the maximum of keys that order as x does
        v = x[j]
        n_nan += v != v
        top = max(top, signed_key(v) if v == v else NO_KEY)  # -0.0 below 0.0
    m = math.nan if n_nan else (-math.inf if top == NO_KEY else from_key(top))
    if math.isfinite(m):
        for j in range(k):
            logp[j] = x[j] - m
        exp_block(logp, p)
    else:
        m = 0.0
        for j in range(k):
            logp[j] = x[j]
            p[j] = math.exp(x[j])
    lanes, comp = np.zeros(LANES), np.zeros(LANES)
    add_lanes(p, p, False, -1, lanes, comp)
    s = merge_lanes(lanes, comp)[0]
    if not math.isfinite(s):  # a +inf or NaN in the row (an excluded one): the plain sum's
        s = 0.0
        for j in range(k):
            s += p[j]
    log_s = math.log(s)
    for j in range(k):
        logp[j] = logp[j] - log_s
        p[j] = p[j] / s
    return m + log_s


@kernel
def _dd_softmax_row(x, t, th, tl, inv_step, c1, c2, p2, ph, pl, ex, lh, ll, p_hi):  # type: ignore[no-untyped-def]
    """One row of :func:`dd_softmax` into its rows of ph, pl, ex, lh, ll, p_hi; returns the
    logsumexp."""
    k = x.shape[0]
    m = -math.inf
    for j in range(k):
        q = x[j] if t == 1.0 else x[j] / t
        if q > m or q != q:
            m = q
            if q != q:
                break
    if not math.isfinite(m):
        m = 0.0
    # pass 1: d = q - m exactly as dh + dl (TwoSum, plus the quotient's low part), its
    # exp, and the row sum of exp in pieces: a (multiples of 2^-26) and b1 (of 2^-52) sum
    # exactly for rows up to 2^26 long; the rest |b2 + el| <= 2^-52 per term is off by
    # < n^2 2^-105 in total
    sa = 0.0
    sb = 0.0
    sc = 0.0
    for j in range(k):
        if t == 1.0:
            qh, ql = x[j], 0.0
        else:
            qh, ql = _dd_scaled(x[j], t)
        dh = qh - m
        bv = dh - qh
        dl = (qh - (dh - bv)) + (-m - bv)
        if t != 1.0:
            dl = dl + ql
        if not math.isfinite(dh):
            dl = 0.0
        eh, el, e = _dd_exp(dh, dl, th, tl, inv_step, c1, c2)
        lh[j], ll[j], ph[j], pl[j], ex[j] = dh, dl, eh, el, e
        pw = _pow2(e, p2)  # terms below 2^-1022 are dropped: s >= 1
        vh = eh * pw
        a = (vh + _BIG) - _BIG
        b = vh - a
        b1 = (b + _SMALL) - _SMALL
        sa += a
        sb += b1
        sc += (b - b1) + el * pw
    Lh, Ll, rh, rl = _dd_log_and_inverse(sa, sb, sc, th, tl, inv_step, c1, c2, p2)
    # p = e * (1/s) with an exact leading product
    for j in range(k):
        dh, dl, eh, el, e = lh[j], ll[j], ph[j], pl[j], ex[j]
        p_h, p_l = _two_prod(eh, rh)
        p_l = p_l + (eh * rl + el * rh)
        s = p_h + p_l
        pl[j] = (p_h - s) + p_l
        ph[j] = s
        p_hi[j] = s * _pow2(max(e, -1022), p2) * _pow2(min(e + 1022, 0), p2)
        # log p = (dh - Lh) + (dl - Ll); dh - Lh is TwoSum-ed so tiny log p stay exact
        lh0 = dh - Lh
        if math.isfinite(lh0):
            bv = lh0 - dh
            lrest = ((dh - (lh0 - bv)) + (-Lh - bv)) + (dl - Ll)
            v = lh0 + lrest
            lh[j] = v
            ll[j] = (lh0 - v) + lrest
        else:
            lh[j] = lh0
            ll[j] = 0.0
    return m + Lh


def softmax64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p, p and logsumexp of float64 rows (C-contiguous); see :func:`_softmax64_row`.

    The arrays are allocated here, by numpy, not inside the kernel: numpy's large allocations
    get transparent huge pages, and fresh 4 KiB pages faulted in by the kernel cost more than
    the arithmetic (measured: 8 ms of page faults against 0.4 ms of work for 11 x 32000).
    """
    n, k = x.shape
    logp, p, lse = np.empty((n, k)), np.empty((n, k)), np.empty(n)
    run_blocks(_softmax64_rows, n, x, logp, p, lse)
    return logp, p, lse


@kernel
def _softmax64_rows(b, lo, hi, x, logp, p, lse):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`softmax64` (a block of run_blocks)."""
    for i in range(lo, hi):
        lse[i] = _softmax64_row(x[i], logp[i], p[i])


def dd_softmax(x: np.ndarray, t: float, *table: object) -> tuple[np.ndarray, ...]:
    """Softmax of the float64 rows x / t in double-double, fused (smcheck.reference.doubledouble).

    Returns ``(ph, pl, e, lh, ll, lse, p_hi)``: p = (ph + pl) 2^e, log p = lh + ll, the
    logsumexp, and p rounded to float64. ``t`` = 1 skips the division; ``table`` is
    :func:`dd_table`. The arrays are numpy's (see :func:`softmax64`).
    """
    n, k = x.shape
    out = (np.empty((n, k)), np.empty((n, k)), np.empty((n, k), dtype=np.int64))
    out += (np.empty((n, k)), np.empty((n, k)), np.empty(n), np.empty((n, k)))
    run_blocks(_dd_softmax_rows, n, x, t, table, out)
    return out


@kernel
def _dd_softmax_rows(b, lo, hi, x, t, table, out):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`dd_softmax` (a block of run_blocks)."""
    th, tl, inv_step, c1, c2, p2 = table
    ph, pl, ex, lh, ll, lse, p_hi = out
    for i in range(lo, hi):
        lse[i] = _dd_softmax_row(
            x[i], t, th, tl, inv_step, c1, c2, p2, ph[i], pl[i], ex[i], lh[i], ll[i], p_hi[i]
        )


@warmup
def _warm() -> None:
    x = np.array([[0.0, -1.0, -np.inf], [2.0, 1.0, 0.5]])
    softmax64(x)
    dd_softmax(x, 1.0, *dd_table())
