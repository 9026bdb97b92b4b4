"""The per-row quantities of the error bounds (smcheck.analysis.bounds), fused: one kernel reads
a block's logits and exact probabilities once per row, in cache."""

from __future__ import annotations

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.cellterms import float_or, max_bits
from smcheck.kernels.lanesum import LANES, add_lanes, merge_lanes


def row_features(x, p, logp, live, under):  # type: ignore[no-untyped-def]
    """Per row of a (rows, n) block: the counts, extremes and condition number of RowFeatures.

    Args:
        x: the scaled logits in the format (float64).
        p, logp: the exact probabilities and their logs (float64).
        live: elements that are not masks (only these count).
        under: ln(tiny) + margin: an exact value below e^under may land below tiny.

    Returns:
        A (rows, 9) float64 array of, in order: ``n`` (live entries), ``top`` (x_max; -inf
        without live entries), ``low`` (x_min; +inf likewise), ``pmax`` (largest live p; 0
        likewise), ``rises`` (strict increases of the running maximum after its first finite
        value), ``big_rises`` (rises larger than -under), ``k_sum`` (live x - x_max < under),
        ``k_naive`` (live x < under), ``cond`` (smcheck.analysis.bounds.condition_number; NaN
        when every live p is 0); and ``out_under`` per row (some live log p < under).
    """
    rows = x.shape[0]
    out = np.empty((rows, 9))
    out_under = np.empty(rows, np.bool_)
    run_blocks(_features_rows, rows, x, p, logp, live, under, out, out_under)
    return out, out_under


@kernel
def _features_rows(b, lo, hi, x, p, logp, live, under, out, out_under):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`row_features` (a block of run_blocks)."""
    w, s, c = np.empty(x.shape[1]), np.empty(LANES), np.empty(LANES)
    for i in range(lo, hi):
        out_under[i] = _features_row(x[i], p[i], logp[i], live[i], under, out[i], w, s, c)


@kernel
def _features_row(x, p, logp, live, under, o, w, s, c):  # type: ignore[no-untyped-def]
    """One row of :func:`row_features` into ``o``; returns ``out_under``. w: scratch of at
    least the row's length; s, c: LANES-long scratch for the sum."""
    m = x.shape[0]
    out_under = False
    n, top, lo, pmax = 0, -np.inf, np.inf, 0.0
    rises, big, k_naive = 0, 0, 0
    for j in range(m):
        if not live[j]:
            continue
        v = x[j]
        n += 1
        # the running maximum over live entries (masks are -inf: they never raise it);
        # explicit comparisons, not max(): no NaN can occur and these branch less
        if v > top:
            if n > 1:
                rises += 1
                if v - top > -under:
                    big += 1
            top = v
        if v < lo:
            lo = v
        q = p[j]
        if q > pmax:
            pmax = q
        k_naive += v < under
        if logp[j] < under:
            out_under = True
    # sum of g·d, d = x_max - x >= 0: compensated (TwoSum lanes), as every term is >= 0 the
    # sum is exact to a few ulps whatever its order
    k_sum = 0
    for j in range(m):  # branch-free: vectorises
        js = np.uint64(j)
        lv, d = live[js], top - x[js]
        k_sum += lv & (x[js] - top < under)
        w[js] = p[js] * d if lv else 0.0
    s[:], c[:] = 0.0, 0.0
    add_lanes(w[:m], w, False, -1, s, c)
    weighted = merge_lanes(s, c)[0]
    # max_j (g_j / g_max)·[d_j(1 - g_j) + max(sum_{i != j} g_i d_i, 0)]; masks give 0. Every
    # term is >= 0 or NaN (0/0 when every live p is 0, or inf - inf): NaN if any is, as numpy's
    # max; the largest as the maximum of its bits, branch-free (this loop vectorises)
    top_bits, n_nan = np.int64(-1), 0
    for j in range(m):
        js = np.uint64(j)
        g, d, lv = p[js], top - x[js], live[js]
        kappa = d * (1 - g) + max(weighted - g * d, 0.0)
        v = g / pmax * kappa
        n_nan += lv & (v != v)
        top_bits = max_bits(top_bits, v, lv)
    cond = np.nan if n_nan else float_or(top_bits, 0.0)
    o[0], o[1], o[2], o[3], o[4] = n, top, lo, pmax, rises
    o[5], o[6], o[7], o[8] = big, k_sum, k_naive, cond
    return out_under


@warmup
def _warm() -> None:
    x = np.array([[0.0, -1.0, -np.inf]])
    p = np.array([[0.7310585786300049, 0.2689414213699951, 0.0]])
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    row_features(x, p, logp, ~np.isneginf(x), -700.0)
