"""Fused kernels for the input's own statistics: range and non-finite counts, what rounding to
a format does (cast overflow, changed values, Δlog p, KL), and the entropy sweep over T.

Parallel over rows, every in-row loop sequential: a row's results depend on that row alone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from smcheck.kernels import kernel, warmup

_SERIES = 2.0**-5
"""Below this |δ| the KL term's e^δ - 1 - δ is summed as its series (no cancellation)."""


@kernel(parallel=True)
def input_scan(x):  # type: ignore[no-untyped-def]
    """Per row: the smallest and largest finite value (+inf/-inf when none) and the counts of
    NaN, +inf and -inf, as ``(lo, hi, counts[n, 3])``."""
    n, k = x.shape
    lo, hi, counts = np.empty(n), np.empty(n), np.zeros((n, 3), dtype=np.int64)
    for i in prange(n):
        a, b = math.inf, -math.inf
        for j in range(k):
            v = x[i, j]
            if v != v:
                counts[i, 0] += 1
            elif v == math.inf:
                counts[i, 1] += 1
            elif v == -math.inf:
                counts[i, 2] += 1
            else:
                a = min(a, v)
                b = max(b, v)
        lo[i], hi[i] = a, b
    return lo, hi, counts


@kernel(parallel=True)
def cast_rows(x, xd, base_valid):  # type: ignore[no-untyped-def]
    """What the cast ``x`` -> ``xd`` did, per row: ``(overflow, changed, valid)``.

    overflow: finite values that became ±inf (0 in rows not in ``base_valid``); changed: finite
    values that changed; valid: ``base_valid`` rows with no +inf and not entirely -inf in ``xd``.
    """
    n, k = x.shape
    over, changed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    valid = np.empty(n, dtype=np.bool_)
    for i in prange(n):
        o, c, pos, all_neg = 0, 0, False, True
        for j in range(k):
            a, b = x[i, j], xd[i, j]
            if math.isfinite(a):
                if not math.isfinite(b):
                    o += 1
                if b != a:
                    c += 1
            if b == math.inf:
                pos = True
            if b != -math.inf:
                all_neg = False
        over[i] = o if base_valid[i] else 0
        changed[i] = c
        valid[i] = base_valid[i] and not (pos or all_neg)
    return over, changed, valid


@kernel()
def _kl_term(p, delta, logq):  # type: ignore[no-untyped-def]
    """p (r - log1p(r)) with r = q/p - 1 = e^δ - 1, δ = log q - log p: p (e^δ - 1 - δ) >= 0.

    A series below |δ| = 2^-5 (truncated after δ^8/8!: relative error < 2^-52), expm1 up to
    δ = 1, and q - p - p δ above (q >= e p: no cancellation, and no overflow where p is tiny).
    """
    if abs(delta) < _SERIES:
        phi = delta * (1.0 / 720.0 + delta * (1.0 / 5040.0 + delta * (1.0 / 40320.0)))
        phi = delta * (1.0 / 24.0 + delta * (1.0 / 120.0 + phi))
        term = p * (delta * delta * (0.5 + delta * (1.0 / 6.0 + phi)))
    elif delta < 1.0:
        term = p * (math.expm1(delta) - delta)
    else:
        term = (math.exp(logq) - p) - p * delta
    return 0.0 if term < 0.0 else term


@kernel(parallel=True)
def rounding_divergence(logp, p, logq, xd, valid):  # type: ignore[no-untyped-def]
    """Per row, over the entries finite in ``xd``: max |log q - log p| and KL(p || q).

    ``logp``, ``p``: the source's reference; ``logq``: the rounded input's. Every KL term is
    p (e^δ - 1 - δ) >= 0 (:func:`_kl_term`), so no row's KL comes out negative. Rows not in
    ``valid`` get NaN.
    """
    n, k = logp.shape
    dmax, kl = np.full(n, math.nan), np.full(n, math.nan)
    for i in prange(n):
        if not valid[i]:
            continue
        d, s = -math.inf, 0.0
        for j in range(k):
            if math.isfinite(xd[i, j]):
                delta = logq[i, j] - logp[i, j]
                a = abs(delta)
                if a > d or a != a:
                    d = a
                s += _kl_term(p[i, j], delta, logq[i, j])
        dmax[i], kl[i] = d, s
    return dmax, kl


@kernel(parallel=True)
def entropy_rows(x, valid, t):  # type: ignore[no-untyped-def]
    """Entropy (nats) and largest probability of softmax(x / t) for the ``valid`` rows (NaN in
    the others); see smcheck.analysis.temperature.entropy_and_max for the formula."""
    n, k = x.shape
    h, pmax = np.full(n, math.nan), np.full(n, math.nan)
    for i in prange(n):
        if not valid[i]:
            continue
        row = x[i]
        m, top = -math.inf, 0
        for j in range(k):
            if row[j] > m:
                m, top = row[j], j
        e = np.empty(k)
        s = 0.0
        for j in range(k):
            e[j] = 0.0 if j == top else math.exp((row[j] - m) / t)
            s += e[j]
        acc = 0.0
        for j in range(k):
            if e[j] > 0:
                acc += e[j] / (1.0 + s) * -((row[j] - m) / t)
        h[i] = math.log1p(s) + acc
        pmax[i] = 1.0 / (1.0 + s)
    return h, pmax


@warmup
def _warm() -> None:
    x = np.array([[0.0, -1.0, -np.inf], [2.0, 1.0, 0.5]])
    ok = np.ones(2, dtype=np.bool_)
    input_scan(x)
    cast_rows(x, x, ok)
    rounding_divergence(x, x, x, x, ok)
    entropy_rows(x, ok, 1.0)
