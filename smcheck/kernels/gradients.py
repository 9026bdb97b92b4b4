"""The cross-entropy gradient check, fused: the exact gradient ``p - onehot(t)`` and what a
method's computed gradient loses against it, in one pass per row (docs/design.md §5).

The exact probabilities come in one of two forms, chosen by ``dd``: float64 ``p`` and ``log p``
(the reference of formats up to float32: ``pl``/``ll`` are unused), or double-double pairs for
the float64 cells, ``p = ph + pl`` and ``log p = lh + ll``. Sums of
probabilities are kept as a double-double (hi, lo), so ``1 - p[t] = sum_{j != t} p_j`` keeps its
digits when ``p[t]`` is close to 1, and a float64 cell's gradient error is measured against an
exact gradient wider than float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from smcheck.kernels import kernel, warmup


@kernel()
def _prob(ph, pl, dd, i, j):  # type: ignore[no-untyped-def]
    """The exact p of element (i, j) as a float64 pair (hi, lo)."""
    return ph[i, j], pl[i, j] if dd else 0.0


@kernel()
def _add(s, c, hi, lo):  # type: ignore[no-untyped-def]
    """Add hi + lo to the running sum s (rounded) + c (its accumulated error): TwoSum."""
    t = s + hi
    b = t - s
    return t, c + (((s - (t - b)) + (hi - b)) + lo)  # one addition on c's dependency chain


@kernel()
def _normalise(s, c):  # type: ignore[no-untyped-def]
    """The double-double (hi, lo) with hi = fl(s + c)."""
    hi = s + c
    return hi, c - (hi - s)


@kernel(parallel=True)
def exact_gradient_rows(ph, pl, lh, ll, dd, live, target, log_zero):  # type: ignore[no-untyped-def]
    """Per-block exact gradient quantities, shared by every method of a (format, temperature).

    Args:
        ph, pl, lh, ll, dd: the exact p and log p (see the module docstring).
        live: elements that are not masks.
        target: the target class of each row.
        log_zero: ln of the format's rounding-to-zero threshold (FloatFormat.log_zero).

    Returns:
        ``nonzero`` (elements whose exact gradient rounds to a nonzero value of the format:
        ``log p > log_zero`` for live non-targets, ``log(1 - p[t]) > log_zero`` for the target)
        and per row: ``rest`` = 1 - p[t] summed from the others (hi, lo), ``rest_top`` = 1 -
        p_max likewise (the maximum is the first largest log p), ``others`` = the largest p of
        the non-target classes (-inf when there is none), the target's ``log p`` (hi, lo).
    """
    rows, n = live.shape
    nonzero = np.zeros((rows, n), np.bool_)
    rest = np.zeros((rows, 2))
    rest_top = np.zeros((rows, 2))
    others = np.full(rows, -np.inf)
    logp_t = np.full((rows, 2), np.nan)
    if n == 0:  # no classes: nothing to read (callers refuse empty rows before this)
        return nonzero, rest, rest_top, others, logp_t
    for i in numba.prange(rows):
        t = target[i]
        top, best_h, best_l = 0, lh[i, 0], ll[i, 0] if dd else 0.0
        big, s, c = -np.inf, 0.0, 0.0
        for j in range(n):
            a = lh[i, j]
            b = ll[i, j] if dd else 0.0
            if a > best_h or (a == best_h and b > best_l):
                top, best_h, best_l = j, a, b
            if j != t:
                nonzero[i, j] = live[i, j] and (a > log_zero or (a == log_zero and b > 0))
                hi, lo = _prob(ph, pl, dd, i, j)
                big = max(big, hi)
                s, c = _add(s, c, hi, lo)
        s2, c2 = s, c  # the usual case (argmax targets): the top class is the target
        if top != t:  # a second pass for 1 - p_max
            s2, c2 = 0.0, 0.0
            for j in range(n):
                if j != top:
                    hi, lo = _prob(ph, pl, dd, i, j)
                    s2, c2 = _add(s2, c2, hi, lo)
        rest[i, 0], rest[i, 1] = _normalise(s, c)
        rest_top[i, 0], rest_top[i, 1] = _normalise(s2, c2)
        # the target's |g| is 1 - p[t]: nonzero in the format iff its log is above log_zero
        nonzero[i, t] = np.log(rest[i, 0]) > log_zero
        others[i] = big
        logp_t[i, 0], logp_t[i, 1] = lh[i, t], ll[i, t] if dd else 0.0
    return nonzero, rest, rest_top, others, logp_t


@kernel(parallel=True)
def gradient_rows(gd, ph, pl, dd, nonzero, target, rows, rest, norm):  # type: ignore[no-untyped-def]
    """Per-row statistics of a method's gradient ``gd`` against the exact one (one cell).

    Args:
        gd: the computed gradient as float64 (every format's values cast exactly: one compile).
        ph, pl, dd: the exact p (see the module docstring).
        nonzero, rest: from :func:`exact_gradient_rows`.
        target, rows: the target class per row; the rows judged.
        norm: ``max |g|`` of the exact gradient per row.

    Returns:
        Per row (0 or NaN on rows not judged): NaN elements, dead elements (computed exactly 0
        where the exact gradient rounds to nonzero), the largest exact |g| of a dead element
        (NaN when none), whether the row vanished (all 0 while some exact element is nonzero),
        and the normwise relative error ``max |ĝ - g| / max |g|`` (NaN when ĝ holds a NaN).
    """
    nrows, n = gd.shape
    nan = np.zeros(nrows, np.int64)
    dead = np.zeros(nrows, np.int64)
    dead_max = np.full(nrows, np.nan)
    vanished = np.zeros(nrows, np.bool_)
    rel = np.full(nrows, np.nan)
    for i in numba.prange(nrows):
        if not rows[i]:
            continue
        t = target[i]
        n_nan, n_dead, lost, all_zero, any_nonzero, diff = 0, 0, 0.0, True, False, 0.0
        for j in range(n):
            q = gd[i, j]
            if j == t:
                hi, lo = -rest[i, 0], -rest[i, 1]
            else:
                hi, lo = _prob(ph, pl, dd, i, j)
            nz = nonzero[i, j]
            any_nonzero |= nz
            if q != q:
                n_nan += 1
                all_zero = False
                continue
            if q == 0:
                if nz:
                    n_dead += 1
                    lost = max(lost, abs(hi))
            else:
                all_zero = False
            # |q - (hi + lo)|: TwoSum keeps q - hi exact, so lo is not lost to its rounding
            d = q - hi
            if math.isinf(d):
                diff = np.inf
                continue
            b = d - q
            err = (q - (d - b)) + (-hi - b)
            diff = max(diff, abs(d + (err - lo)))
        nan[i], dead[i], vanished[i] = n_nan, n_dead, all_zero and any_nonzero
        if n_dead:
            dead_max[i] = lost
        if n_nan:
            diff = np.nan
        # normwise; an exact gradient of 0 (a one-class row) makes any nonzero error infinite
        if norm[i] > 0:
            rel[i] = diff / norm[i]
        else:
            rel[i] = 0.0 if diff == 0 else np.inf
    return nan, dead, dead_max, vanished, rel


@warmup
def _warm() -> None:
    """Both routes: the float64 reference and the double-double pieces."""
    x = np.array([[0.0, -1.0]])
    p = np.array([[0.7310585786300049, 0.2689414213699951]])
    logp = np.log(p)
    live = np.ones(x.shape, np.bool_)
    tgt = np.array([1], np.int64)
    rows = np.ones(1, np.bool_)
    gd = np.zeros(x.shape)
    for dd in (False, True):
        nz, rest, _, others, _ = exact_gradient_rows(p, p, logp, logp, dd, live, tgt, -745.0)
        norm = np.maximum(rest[:, 0], others)
        gradient_rows(gd, p, p, dd, nz, tgt, rows, rest, norm)
