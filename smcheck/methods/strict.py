"""The softmax methods under the ``strict`` model: every operation rounded to the format.

The algorithms are those of Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and
softmax functions", IMA J. Numer. Anal. 41(4), 2021 (their MATLAB ``lse_chop``/``lse_chopshift``),
run with :class:`~smcheck.methods.strictops.StrictArith`: exp, log and every ``+ - * /`` rounded
once to the format, sums sequential from left to right in the format. Rows are vectorised; only
the sums loop along the row. With the row maximum ``a = x_k`` (first index on ties), the shifted
methods sum ``s = sum_{i != k} exp(x_i - a)`` and add the max's own term, exactly 1, last (as
``lse_chopshift`` does). ``torch`` has no strict form: it is the framework's own fused kernel.
Theorem numbers are those of the authors' test scripts.
"""

from __future__ import annotations

import numpy as np

from smcheck.dtypes import FloatFormat
from smcheck.methods.base import Array, MethodOutput, NanCause
from smcheck.methods.strictops import StrictArith, absorbed_fraction


def _nan_cause(x: Array, p: Array, num: Array | None = None, den: Array | None = None) -> Array:
    """NaN cause codes as the framework methods give them: inf/inf, 0/0, else inf-inf or other."""
    nan = np.isnan(p)
    cause = np.where(nan, int(NanCause.OTHER), 0).astype(np.int8)
    if num is not None and den is not None:
        den = np.broadcast_to(den, num.shape)
        cause[nan & np.isinf(num) & np.isinf(den)] = NanCause.INF_OVER_INF
        cause[nan & (num == 0) & (den == 0)] = NanCause.ZERO_OVER_ZERO
    # a +inf logit (from dividing by a small T in the format) makes x - max = inf - inf
    shift = nan & np.isposinf(x).any(-1, keepdims=True)
    cause[(cause == NanCause.OTHER) & shift] = NanCause.INF_MINUS_INF
    return cause


def _shifted_terms(a: StrictArith, x: Array) -> tuple[Array, Array, Array, Array]:
    """Row max, ``d = fl(x - max)``, ``w = fl(exp(d))`` and ``w`` with the max's own term zeroed."""
    m = x.max(-1, keepdims=True)  # a maximum is exact in any format
    d = a.sub(x, m)
    w = a.exp(d)
    others = w.copy()
    others[np.arange(x.shape[0]), np.argmax(x, -1)] = 0.0  # exp(0) = 1, added last
    return m, d, w, others


def _plus_one(a: StrictArith, s: Array, absorbed: Array, others: Array) -> tuple[Array, Array]:
    """``fl(1 + s)``, the max's term added last; the absorbed fraction of the whole sum."""
    den = a.add(1.0, s)
    absorbed = absorbed + np.where(den == s, 1.0, 0.0)
    return den, absorbed_fraction(np.where(np.isfinite(den), absorbed, np.nan), others.sum(-1) + 1)


def naive(x: Array, fmt: FloatFormat, ftz: bool) -> MethodOutput:
    """``w = exp(x); s = w_1 + ... + w_n; p = w / s`` (``lse_chop``, Thm 3.3)."""
    a = StrictArith(fmt, ftz)
    with np.errstate(all="ignore"):
        w = a.exp(x)
        s, absorbed = a.cumsum(w)
        p = a.div(w, s[:, None])
        return MethodOutput(
            p=p,
            logp=a.log(p),
            overflow=np.isinf(w) & np.isfinite(x),
            sum_overflow=np.isinf(s) & ~np.isinf(w).any(-1),
            nan_cause=_nan_cause(x, p, w, s[:, None]),
            absorbed=absorbed_fraction(absorbed, w.sum(-1)),
        )


def shifted(x: Array, fmt: FloatFormat, ftz: bool) -> MethodOutput:
    """``w = exp(x - max); p = w / (1 + sum_{i != k} w_i)`` (``lse_chopshift``, Thm 4.3)."""
    a = StrictArith(fmt, ftz)
    with np.errstate(all="ignore"):
        _, _, w, others = _shifted_terms(a, x)
        s, absorbed = a.cumsum(others)
        den, frac = _plus_one(a, s, absorbed, others)
        p = a.div(w, den[:, None])
        return MethodOutput(
            p=p,
            logp=a.log(p),
            sum_overflow=np.isinf(den) & ~np.isinf(w).any(-1),
            nan_cause=_nan_cause(x, p, w, den[:, None]),
            absorbed=frac,
        )


def _log_sum(a: StrictArith, others: Array) -> tuple[Array, Array]:
    """``b = fl(log1p(s))`` with ``s = sum_{i != k} exp(x_i - max)``: log sum exp(x - max).

    log1p keeps the digits of a small s that forming 1 + s first would round away (as
    ``lse_chopshift`` does). The absorbed fraction is of the row's whole mass ``1 + s``, as
    for the other methods: the max's term never enters the running sum, so it is never
    absorbed, but it is part of the mass the sum stands for (log1p adds it).
    """
    s, absorbed = a.cumsum(others)
    return a.log1p(s), absorbed_fraction(absorbed, others.sum(-1) + 1)


def logdomain(x: Array, fmt: FloatFormat, ftz: bool) -> MethodOutput:
    """``z = fl(x - max) - fl(log1p(s)); p = exp(z)``: the two-step order, log p = z."""
    a = StrictArith(fmt, ftz)
    with np.errstate(all="ignore"):
        _, d, _, others = _shifted_terms(a, x)
        b, frac = _log_sum(a, others)
        z = a.sub(d, b[:, None])
        p = a.exp(z)
        return MethodOutput(p=p, logp=z, nan_cause=_nan_cause(x, p), absorbed=frac)


def lse_direct(x: Array, fmt: FloatFormat, ftz: bool) -> MethodOutput:
    """``y = fl(max + log1p(s)); z = fl(x - y); p = exp(z)`` (``lse_chopshift``'s h, Thm 4.4).

    The rounding of y costs |y|·u in every log-probability: for large logits the spacing of the
    format at y swamps them (float32, x = (1e8, 1e8): y rounds to 1e8 and p = (1, 1)).
    """
    a = StrictArith(fmt, ftz)
    with np.errstate(all="ignore"):
        m, _, _, others = _shifted_terms(a, x)
        b, frac = _log_sum(a, others)
        y = a.add(m, b[:, None])
        z = a.sub(x, y)
        p = a.exp(z)
        return MethodOutput(p=p, logp=z, nan_cause=_nan_cause(x, p), absorbed=frac)


def online(x: Array, fmt: FloatFormat, ftz: bool) -> MethodOutput:
    """Single pass (Milakov & Gimelshein 2018): ``m_j = max(m_{j-1}, x_j)``,
    ``d_j = d_{j-1}·exp(m_{j-1} - m_j) + exp(x_j - m_j)``; then ``p = exp(x - m_n) / d_n``.

    Guarded against leading -inf entries: while the running max is still -inf there is nothing
    to rescale and nothing to add (d stays 0), so -inf - -inf = NaN is never formed.
    """
    a = StrictArith(fmt, ftz)
    rows, n = x.shape
    with np.errstate(all="ignore"):
        run = np.maximum.accumulate(x, axis=-1)
        prev = np.concatenate([np.full((rows, 1), -np.inf), run[:, :-1]], axis=1)
        # the exp arguments depend only on the running max: computed for the whole row at once
        rescale = np.where(np.isneginf(prev), 0.0, a.exp(a.sub(prev, run)))
        term = np.where(np.isneginf(run), 0.0, a.exp(a.sub(x, run)))
        d = np.zeros(rows)
        hit = np.zeros((rows, n), dtype=bool)
        for j in range(n):  # sequential along the row; rows vectorised
            scaled = a.mul(d, rescale[:, j])
            d = a.add(scaled, term[:, j])
            hit[:, j] = (d == scaled) & (term[:, j] > 0)
        top = run[:, -1:]
        num = np.where(np.isneginf(top), 0.0, a.exp(a.sub(x, top)))
        p = a.div(num, d[:, None])
        # an absorbed addend's mass, measured at the final max: exp(x_j - m_n)
        mass = np.exp(np.where(np.isfinite(top), x - top, -np.inf))
        lost = np.where(hit, mass, 0.0).sum(-1)
        return MethodOutput(
            p=p,
            logp=a.log(p),
            sum_overflow=np.isinf(d) & ~np.isinf(term).any(-1),
            nan_cause=_nan_cause(x, p, num, d[:, None]),
            absorbed=absorbed_fraction(np.where(np.isfinite(d), lost, np.nan), mass.sum(-1)),
        )
