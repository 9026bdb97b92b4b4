"""Test oracle: the float64 cells' double-double reference as it was, in float64 torch ops.

smcheck.kernels.reference.dd_softmax replaced this (the same algorithm, fused); it survives
only so tests/kernels/test_reference.py can compare the two. The description below is the
original's.


The float64 cells need a reference finer than float64 (docs/design.md §3). Instead of x87 long
double (about 70 ns per exp here) it is computed in double-double arithmetic with vectorised
float64 torch ops: exp by a 1024-entry table of 2^(j/1024) in double-double and a degree-4
polynomial on |r| <= ln2/2048, row sums split into pieces whose float64 sums are exact, and
log s corrected by one Newton step. Error bound (derived in the comments below and checked
against mpmath in tests/reference/test_doubledouble.py): every probability has relative error below
2^-60 and every log-probability absolute error below 2^-59, whatever its size -- tighter than
the long double path's (|log p| + 8) * 2^-63 once |log p| exceeds 8. The representation is
p = (ph + pl) * 2^e with ph + pl in [2^-18, 2), so probabilities far below the float64 range
keep their precision.
"""

from __future__ import annotations

import decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TABLE_BITS = 10
_N = 1 << TABLE_BITS
_SPLIT = float(2**27 + 1)  # Veltkamp: splits a float64 into two 26-bit halves
EXP_FLOOR = -2000.0
"""Arguments below this are clamped: exp(-2000) ~ 2^-2885 is far below every reported quantity."""
MAX_ROW_LENGTH = 1 << 26
"""The exact split sums hold for rows up to this length (see _dd_rowsum)."""


@lru_cache(maxsize=1)
def _constants() -> dict[str, Any]:
    """ln2/N split so k * c1 is exact, and the table 2^(j/N) as double-double (45 digits)."""
    import torch

    ctx = decimal.Context(prec=45)
    ln2 = ctx.ln(decimal.Decimal(2))
    step = ln2 / _N
    # c1 keeps 31 significant bits: |k| < 2^22 for |d| <= 2000, so k * c1 has <= 53 bits (exact)
    c1 = float(int(step * 2**41)) / 2**41
    c2 = float(step - decimal.Decimal(c1))
    th, tl = [], []
    for j in range(_N):
        v = ctx.exp(ln2 * j / _N)
        h = float(v)
        th.append(h)
        tl.append(float(v - decimal.Decimal(h)))
    return {
        "inv_step": float(_N / ln2),
        "c1": c1,
        "c2": c2,
        "th": torch.tensor(th, dtype=torch.float64),
        "tl": torch.tensor(tl, dtype=torch.float64),
    }


def _pow2(e: torch.Tensor) -> torch.Tensor:
    """2.0**e for integer tensors, from the bits; 0 below 2^-1022 (callers never need those)."""
    import torch

    return ((e + 1023).clamp(0, 2046) << 52).view(torch.float64)


def dd_exp(dh: torch.Tensor, dl: torch.Tensor | None = None):  # type: ignore[no-untyped-def]
    """exp(dh + dl) = (eh + el) * 2^e with relative error below 2^-62 (dh <= 0 or small).

    Range reduction d = k ln2/1024 + r: k*c1 is exact and dh - k*c1 exact by Sterbenz, so r is off
    by at most one rounding, 2^-53 |r| <= 2^-64.5. exp(r) - 1 = r + r^2(1/2 + r/6 + r^2/24) leaves
    out r^5/120 < 2^-64.7 and rounds once more (2^-64.5); the table entry is exact to 2^-104 and
    th * em + tl rounds once (2^-64.5). Five such terms: below 2^-62. -inf gives eh = el = 0.
    """
    import torch

    c = _constants()
    d = dh.clamp(min=EXP_FLOOR)
    k = torch.round(d * c["inv_step"])
    r = (d - k * c["c1"]) + ((dl if dl is not None else 0.0) - k * c["c2"])
    r2 = r * r
    em = r + r2 * (0.5 + r * (1.0 / 6.0) + r2 * (1.0 / 24.0))
    ki = k.to(torch.int64)
    j = ki & (_N - 1)
    e = ki >> TABLE_BITS
    th = c["th"][j]
    s = th * em + c["tl"][j]
    eh = th + s
    el = (th - eh) + s  # Fast2Sum: |th| >= |s|
    dead = torch.isneginf(dh)
    if dead.any():
        eh = eh.masked_fill(dead, 0.0)
        el = el.masked_fill(dead, 0.0)
    return eh, el, e


def _two_prod(a: torch.Tensor, b: torch.Tensor):  # type: ignore[no-untyped-def]
    """a * b = h + l exactly (Dekker/Veltkamp, no fma needed)."""
    h = a * b
    ta = a * _SPLIT
    a1 = ta - (ta - a)
    a2 = a - a1
    tb = b * _SPLIT
    b1 = tb - (tb - b)
    b2 = b - b1
    return h, ((a1 * b1 - h) + a1 * b2 + a2 * b1) + a2 * b2


def exact_pieces_sum(v: torch.Tensor, big: float, small: float):  # type: ignore[no-untyped-def]
    """Split v (in [0, 2]) into a multiple of 2^-26, a multiple of 2^-52 and a rest.

    Each of the first two float64 row sums is exact for rows up to 2^26 long (their partial sums
    stay integers below 2^53 in their unit), whatever order torch adds them in.
    """
    a = (v + big) - big
    b = v - a
    b1 = (b + small) - small
    return a, b1, b - b1


def _dd_rowsum(vh: torch.Tensor, vl: torch.Tensor):  # type: ignore[no-untyped-def]
    """Row sums of vh + vl (values in [0, 2]) as double-double, relative error below 2^-70."""
    import torch

    a, b1, b2 = exact_pieces_sum(vh, 1.5 * 2.0**26, 1.5)
    sa = a.sum(-1, dtype=torch.float64)
    sb = b1.sum(-1, dtype=torch.float64)
    # the rest: |b2 + vl| <= 2^-52 per term, so its float64 sum is off by < n^2 2^-105
    sc = (b2 + vl).sum(-1, dtype=torch.float64)
    h = sa + sb
    lo = (sb - (h - sa)) + sc  # Fast2Sum: sa >= |sb|
    hh = h + lo
    return hh, (h - hh) + lo


def _two_div(x: torch.Tensor, t: float):  # type: ignore[no-untyped-def]
    """x / t = qh + ql to double-double accuracy (remainder exact by _two_prod)."""
    import torch

    qh = x / t
    ph, pl = _two_prod(qh, torch.full_like(qh, t))
    ql = ((x - ph) - pl) / t
    return qh, torch.where(torch.isfinite(qh), ql, 0.0)


def dd_reference(x: torch.Tensor, temperature: float = 1.0):  # type: ignore[no-untyped-def]
    """Exact softmax of the float64 rows ``x / temperature`` in double-double.

    ``x`` holds float64 values (-inf masks allowed). Rows that are entirely -inf, or hold NaN or
    +inf, give NaN or meaningless values, as in :func:`~smcheck.reference.exact.exact_softmax`;
    callers keep them out of the metrics.
    """
    import torch

    if x.shape[-1] > MAX_ROW_LENGTH:
        raise ValueError(f"rows longer than {MAX_ROW_LENGTH} need the long double reference")
    if temperature == 1.0:
        qh, ql = x, None
    else:
        qh, ql = _two_div(x, temperature)
    m = qh.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, 0.0)
    # d = q - m exactly as dh + dl (TwoSum), plus the quotient's low part
    dh = qh - m
    bv = dh - qh
    dl = (qh - (dh - bv)) + (-m - bv)
    if ql is not None:
        dl = dl + ql
    dl = torch.where(torch.isfinite(dh), dl, 0.0)
    eh, el, e = dd_exp(dh, dl)
    pw = _pow2(e)
    sh, sl = _dd_rowsum(eh * pw, el * pw)  # terms below 2^-1022 are dropped: s >= 1
    sh, sl = sh[:, None], sl[:, None]
    # log s = L0 + delta, delta = s exp(-L0) - 1 ~ 2^-52; log(1 + delta) = delta - delta^2/2
    L0 = torch.log(sh)
    gh, gl, ge = dd_exp(-L0)
    gp = _pow2(ge)
    gh, gl = gh * gp, gl * gp
    ph_, pl_ = _two_prod(sh, gh)
    delta = (ph_ - 1.0) + (pl_ + sh * gl + sl * gh)
    delta = delta - 0.5 * delta * delta
    Lh = L0 + delta
    Ll = (L0 - Lh) + delta
    # 1/s as double-double, then p = e * (1/s) with an exact leading product
    rh = 1.0 / sh
    qh_, ql_ = _two_prod(rh, sh)
    rl = rh * ((1.0 - qh_) - ql_ - rh * sl)
    p_h, p_l = _two_prod(eh, rh.expand_as(eh))
    p_l = p_l + (eh * rl + el * rh)
    ph = p_h + p_l
    pl = (p_h - ph) + p_l
    # log p = (dh - Lh) + (dl - Ll); dh - Lh is TwoSum-ed so tiny log-probabilities stay exact
    lh0 = dh - Lh
    bv = lh0 - dh
    lerr = (dh - (lh0 - bv)) + (-Lh - bv)
    lrest = torch.where(torch.isfinite(lh0), lerr + (dl - Ll), 0.0)
    lh = lh0 + lrest
    ll = torch.where(torch.isfinite(lh0), (lh0 - lh) + lrest, 0.0)
    lse = (m + Lh)[:, 0]
    p_hi = ph * _pow2(e.clamp(min=-1022)) * _pow2((e + 1022).clamp(max=0))
    return ph, pl, e, lh, ll, lse, p_hi
