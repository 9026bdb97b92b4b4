"""Fused kernels for the input's own statistics: what rounding to a format does (cast overflow,
changed values, Δlog p, KL) and the entropy sweep over T.

Parallel over rows, every in-row loop sequential: a row's results depend on that row alone.
"""

from __future__ import annotations

import math

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.expblock import exp_block

_SERIES = 2.0**-5
"""Below this |δ| the KL term's e^δ - 1 - δ is summed as its series (no cancellation)."""


@kernel
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


def rounding_rows(x, xd, base_valid, logp, p, logq, masks=None):  # type: ignore[no-untyped-def]
    """What the cast ``x`` -> ``xd`` did, per row: ``(overflow, changed, valid, dlogp, kl)``.

    overflow: finite values that became ±inf (0 in rows not in ``base_valid``); changed: finite
    values that changed; valid: ``base_valid`` rows with no +inf and not entirely -inf in ``xd``.
    Over the entries finite in ``xd`` of the valid rows: max |log q - log p| and KL(p || q),
    0 where the row did not change (NaN in rows not valid). ``logp``, ``p``: the source's
    reference; ``logq``: the rounded input's. Every KL term is p (e^δ - 1 - δ) >= 0
    (:func:`_kl_term`), so no row's KL comes out negative. ``masks``: entries (sentinels) left
    out of every figure but ``valid``, as -inf is: -1e4 rounding to -9984 in bfloat16 moves its
    own log p by 16 nats, a mask's, not the logits' (None: none).
    """
    n = x.shape[0]
    if masks is None:
        masks = np.zeros(x.shape, np.bool_)
    counts, valid, f = np.empty((n, 2), np.int64), np.empty(n, np.bool_), np.empty((n, 2))
    run_blocks(_rounding_rows, n, x, xd, base_valid, logp, p, logq, masks, counts, valid, f)
    return counts[:, 0], counts[:, 1], valid, f[:, 0], f[:, 1]


def entropy_rows(x: np.ndarray, valid: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Entropy (nats) and largest probability of softmax(x / t) for the ``valid`` rows (NaN in
    the others); see smcheck.analysis.temperature.entropy_and_max for the formula. The rows
    need a finite maximum; exp is the vectorised exp_block (below 2 ulp). Scratch arrays are
    numpy's (huge pages; see smcheck.kernels.reference.softmax64)."""
    n, k = x.shape
    f = np.empty((n, 2))
    run_blocks(_entropy_rows, n, x, t, valid, f, np.empty((2, n, k)))
    return f[:, 0], f[:, 1]


@kernel
def _rounding_rows(b, lo, hi, x, xd, base_valid, logp, p, logq, masks, counts, valid, f):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`rounding_rows` (a block of run_blocks)."""
    for i in range(lo, hi):
        valid[i] = _rounding_row(
            x[i], xd[i], base_valid[i], logp[i], p[i], logq[i], masks[i], counts[i], f[i]
        )


@kernel
def _entropy_rows(b, lo, hi, x, t, valid, f, ze):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`entropy_rows` (a block of run_blocks)."""
    k = x.shape[1]
    for i in range(lo, hi):
        f[i, 0], f[i, 1] = math.nan, math.nan
        if valid[i] and k:  # an empty row has no maximal entry to index
            _entropy_row(x[i], t, ze[0, i], ze[1, i], f[i])


@kernel
def _rounding_row(x, xd, base_valid, logp, p, logq, masks, counts, f):  # type: ignore[no-untyped-def]
    """One row of :func:`rounding_rows`: (overflow, changed) into counts, (dlogp, kl) into f;
    returns whether the row is valid."""
    k = x.shape[0]
    o, c, pos, all_neg = 0, 0, False, True
    for j in range(k):
        a, b = x[j], xd[j]
        if math.isfinite(a) and not masks[j]:
            if not math.isfinite(b):
                o += 1
            if b != a:
                c += 1
        if b == math.inf:
            pos = True
        if b != -math.inf:
            all_neg = False
    counts[0] = o if base_valid else 0
    counts[1] = c
    f[0], f[1] = math.nan, math.nan
    if not (base_valid and not (pos or all_neg)):
        return False
    d, s = -math.inf, 0.0
    if c:
        for j in range(k):
            if math.isfinite(xd[j]) and not masks[j]:
                delta = logq[j] - logp[j]
                a = abs(delta)
                if a > d or a != a:
                    d = a
                s += _kl_term(p[j], delta, logq[j])
    else:
        d = 0.0
    f[0], f[1] = d, s
    return True


@kernel
def _entropy_row(x, t, z, e, f):  # type: ignore[no-untyped-def]
    """One row of :func:`entropy_rows` into f (entropy, max p), z and e its scratch."""
    k = x.shape[0]
    m, top = -math.inf, 0
    for j in range(k):
        if x[j] > m:
            m, top = x[j], j
    for j in range(k):
        z[j] = (x[j] - m) / t
    exp_block(z, e)
    e[top] = 0.0  # one maximal entry: its exp(0) = 1 is the 1 of 1 + s
    s = 0.0
    for j in range(k):
        s += e[j]
    acc = 0.0
    for j in range(k):
        acc += e[j] * -z[j] if e[j] > 0 else 0.0  # masks: exp = 0, z = -inf
    f[0] = math.log1p(s) + acc / (1.0 + s)
    f[1] = 1.0 / (1.0 + s)


@warmup
def _warm() -> None:
    x = np.array([[0.0, -1.0, -np.inf], [2.0, 1.0, 0.5]])
    ok = np.ones(2, dtype=np.bool_)
    rounding_rows(x, x, ok, x, x, x)
    entropy_rows(x, ok, 1.0)
