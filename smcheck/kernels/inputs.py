"""Fused kernels for the input's own statistics: what rounding to a format does (cast overflow,
changed values, Δlog p, KL) and the entropy sweep over T.

Parallel over rows, every in-row loop sequential: a row's results depend on that row alone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from smcheck.kernels import kernel, warmup
from smcheck.kernels.expblock import exp_block

_SERIES = 2.0**-5
"""Below this |δ| the KL term's e^δ - 1 - δ is summed as its series (no cancellation)."""


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
def rounding_rows(x, xd, base_valid, logp, p, logq):  # type: ignore[no-untyped-def]
    """What the cast ``x`` -> ``xd`` did, per row: ``(overflow, changed, valid, dlogp, kl)``.

    overflow: finite values that became ±inf (0 in rows not in ``base_valid``); changed: finite
    values that changed; valid: ``base_valid`` rows with no +inf and not entirely -inf in ``xd``.
    Over the entries finite in ``xd`` of the valid rows: max |log q - log p| and KL(p || q),
    0 where the row did not change (NaN in rows not valid). ``logp``, ``p``: the source's
    reference; ``logq``: the rounded input's. Every KL term is p (e^δ - 1 - δ) >= 0
    (:func:`_kl_term`), so no row's KL comes out negative.
    """
    n, k = x.shape
    # np.empty, every row writing its own: a parallel kernel compiles np.zeros as a parallel
    # loop of its own (and np.full is one more overload to compile)
    over, changed = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    valid = np.empty(n, dtype=np.bool_)
    dmax, kl = np.empty(n), np.empty(n)
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
        dmax[i], kl[i] = math.nan, math.nan
        if not valid[i]:
            continue
        d, s = -math.inf, 0.0
        if c:
            for j in range(k):
                if math.isfinite(xd[i, j]):
                    delta = logq[i, j] - logp[i, j]
                    a = abs(delta)
                    if a > d or a != a:
                        d = a
                    s += _kl_term(p[i, j], delta, logq[i, j])
        else:
            d = 0.0
        dmax[i], kl[i] = d, s
    return over, changed, valid, dmax, kl


def entropy_rows(x: np.ndarray, valid: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Entropy (nats) and largest probability of softmax(x / t) for the ``valid`` rows (NaN in
    the others); see smcheck.analysis.temperature.entropy_and_max for the formula. The rows
    need a finite maximum; exp is the vectorised exp_block (below 2 ulp). Scratch arrays are
    numpy's (huge pages; see smcheck.kernels.reference.softmax64)."""
    n, k = x.shape
    h, pmax = np.full(n, np.nan), np.full(n, np.nan)
    _entropy_rows(x, valid, t, h, pmax, np.empty((2, n, k)))
    return h, pmax


@kernel(parallel=True)
def _entropy_rows(x, valid, t, h, pmax, ze):  # type: ignore[no-untyped-def]
    n, k = x.shape
    z, e = ze[0], ze[1]
    for i in prange(n):
        if not valid[i] or k == 0:  # an empty row has no maximal entry to index
            continue
        row, zr, er = x[i], z[i], e[i]
        m, top = -math.inf, 0
        for j in range(k):
            if row[j] > m:
                m, top = row[j], j
        for j in range(k):
            zr[j] = (row[j] - m) / t
        exp_block(zr, er)
        er[top] = 0.0  # one maximal entry: its exp(0) = 1 is the 1 of 1 + s
        s = 0.0
        for j in range(k):
            s += er[j]
        acc = 0.0
        for j in range(k):
            acc += er[j] * -zr[j] if er[j] > 0 else 0.0  # masks: exp = 0, z = -inf
        h[i] = math.log1p(s) + acc / (1.0 + s)
        pmax[i] = 1.0 / (1.0 + s)


@warmup
def _warm() -> None:
    x = np.array([[0.0, -1.0, -np.inf], [2.0, 1.0, 0.5]])
    ok = np.ones(2, dtype=np.bool_)
    rounding_rows(x, x, ok, x, x, x)
    entropy_rows(x, ok, 1.0)
