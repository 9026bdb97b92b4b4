"""The cross-entropy gradient check, fused: the exact gradient ``p - onehot(t)`` and what a
method's computed gradient loses against it, in one pass per row (docs/design.md §5).

The exact probabilities come in one of two forms, chosen by ``dd``: float64 ``p`` and ``log p``
(the reference of formats up to float32: ``pl``/``ll`` are unused), or double-double pairs for
the float64 cells, ``p = ph + pl`` and ``log p = lh + ll``. Sums of
probabilities are kept as a double-double (hi, lo), so ``1 - p[t] = sum_{j != t} p_j`` keeps its
digits when ``p[t]`` is close to 1, and a float64 cell's gradient error is measured against an
exact gradient wider than float64.

The in-row loops are written for the compiler's loop vectoriser (AVX-512 here, fastmath off):
no branches, selects instead; maxima as integer maxima of order-preserving keys
(smcheck.kernels.floatbits); counts as integer sums; the compensated sums in :data:`LANES`
independent TwoSum lanes (a vector of running sums), merged at the end of the row.
"""

from __future__ import annotations

import math

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.cellterms import as_floats, widen
from smcheck.kernels.floatbits import NO_KEY, bits, from_bits, from_key, order_key
from smcheck.kernels.lanesum import LANES, add_lanes, merge_lanes

TILE = 32 * LANES
"""Elements per tile of a row: every array's tile stays in cache between the scan and the sum."""


@kernel
def _scan(ph, lh, ll, dd, live, skip, log_zero, nonzero):  # type: ignore[no-untyped-def]
    """The vectorised pass of :func:`_exact_row` over a tile: writes ``nonzero``; returns the
    key of the largest p but that of j = skip (NaN left out)."""
    big, ties = NO_KEY, 0
    for j in range(ph.shape[0]):
        x, p = lh[j], ph[j]
        nonzero[j] = live[j] and x > log_zero
        ties += x == log_zero
        other = j != skip
        big = max(big, bits(p) if other and p == p else NO_KEY)  # p >= 0: its bits are ordered
    if dd and ties:  # log p = log_zero + ll: ll decides (rare; ll is read only here)
        for j in range(ph.shape[0]):
            nonzero[j] |= live[j] and lh[j] == log_zero and ll[j] > 0
    return big


@kernel
def _exact_row(ph, pl, lh, ll, dd, live, t, log_zero, nonzero, rest, out):  # type: ignore[no-untyped-def]
    """One row of :func:`exact_gradient_rows` (1-D rows; pl, ll unread unless dd): rest, and
    (others, logp_t hi, lo) into out."""
    n = ph.shape[0]
    if n == 0:  # no classes: nothing to read (callers refuse empty rows before this)
        rest[0], rest[1] = 0.0, 0.0
        out[0], out[1], out[2] = -np.inf, np.nan, np.nan
        return
    # one pass in tiles that stay in cache: the scan, then the sum of the others
    big = NO_KEY
    s, c = np.zeros(LANES), np.zeros(LANES)
    for a in range(0, n, TILE):
        b = min(a + TILE, n)
        ll_a, pl_a = (ll[a:b], pl[a:b]) if dd else (ll, pl)
        big = max(big, _scan(ph[a:b], lh[a:b], ll_a, dd, live[a:b], t - a, log_zero, nonzero[a:b]))
        add_lanes(ph[a:b], pl_a, dd, t - a, s, c)
    rest[0], rest[1] = merge_lanes(s, c)
    # the target's |g| is 1 - p[t]: nonzero in the format iff its log is above log_zero
    nonzero[t] = math.log(rest[0]) > log_zero
    out[1], out[2] = lh[t], ll[t] if dd else 0.0
    out[0] = -np.inf if big == NO_KEY else from_bits(big)  # NaN left out, as max() did


@kernel
def _cell_row(q, ph, pl, dd, nonzero, t, judged, rest, norm, out, counts):  # type: ignore[no-untyped-def]
    """One row of :func:`gradient_rows`: (NaN count, dead count) into counts, (dead_max, rel)
    into out; returns whether the row vanished."""
    counts[0], counts[1], out[0], out[1] = 0, 0, np.nan, np.nan
    if not judged:
        return False
    n_nan, n_zero, n_dead, n_nonzero, lost, diff = 0, 0, 0, 0, NO_KEY, order_key(0.0)
    g_hi, g_lo = -rest[0], -rest[1]  # the target's: rest is a double-double always
    for j in range(q.shape[0]):
        x = q[j]
        is_t = j == t
        hi = g_hi if is_t else ph[j]
        lo = g_lo if is_t else (pl[j] if dd else 0.0)
        nz = nonzero[j]
        nan, zero = x != x, x == 0.0
        dead = zero and nz
        # |q - (hi + lo)|: TwoSum keeps q - hi exact, so lo is not lost to its rounding; an
        # infinite q gives inf, a NaN q nothing (the row's error is NaN)
        d = x - hi
        b = d - x
        err = (x - (d - b)) + (-hi - b)
        v = math.inf if math.isinf(d) else abs(d + (err - lo))
        diff = max(diff, NO_KEY if nan else order_key(v))
        lost = max(lost, order_key(abs(hi)) if dead else NO_KEY)
        n_nan += nan
        n_zero += zero
        n_dead += dead
        n_nonzero += nz
    counts[0], counts[1] = n_nan, n_dead
    if n_dead:
        out[0] = from_key(lost)
    e = np.nan if n_nan else from_key(diff)
    # normwise; an exact gradient of 0 (a one-class row) makes any nonzero error infinite, and
    # a NaN row's stays NaN (it counts under NaN, left out of the maximum)
    if norm > 0:
        out[1] = e / norm
    elif e == e:
        out[1] = 0.0 if e == 0 else np.inf
    return n_zero == q.shape[0] and n_nonzero > 0


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
        and per row: ``rest`` = 1 - p[t] summed from the others (hi, lo), ``others`` = the
        largest p of the non-target classes (-inf when there is none), the target's ``log p``
        (hi, lo).
    """
    rows, n = live.shape
    nonzero, rest = np.empty((rows, n), np.bool_), np.empty((rows, 2))
    out = np.empty((rows, 3))  # others, logp_t (hi, lo)
    args = (ph, pl, lh, ll, dd, live, target, log_zero, nonzero, rest, out)
    run_blocks(_exact_rows, rows, *args)
    return nonzero, rest, out[:, 0], out[:, 1:]


def gradient_rows(gb, t, ph, pl, dd, nonzero, target, rows, rest, norm):  # type: ignore[no-untyped-def]
    """Per-row statistics of a method's gradient against the exact one (one cell).

    Args:
        gb, t: the computed gradient's rows as bytes (uint8) of its own values: the 16-bit
            format of precision t (11 float16, 8 bfloat16), float32 or float64 (read and
            widened exactly in the kernel: one compile, no float64 copy of the chunk).
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
    n = gb.shape[0]
    out, counts, vanished = np.empty((n, 2)), np.empty((n, 2), np.int64), np.empty(n, np.bool_)
    args = (gb, t, ph, pl, dd, nonzero, target, rows, rest, norm, out, counts, vanished)
    run_blocks(_cell_rows, n, *args)
    return counts[:, 0], counts[:, 1], out[:, 0], vanished, out[:, 1]


@kernel
def _exact_rows(b, lo, hi, ph, pl, lh, ll, dd, live, target, log_zero, nonzero, rest, out):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`exact_gradient_rows` (a block of run_blocks)."""
    for i in range(lo, hi):
        pl_i, ll_i = (pl[i], ll[i]) if dd else (pl[0], ll[0])  # one dummy row unless dd
        _exact_row(
            ph[i], pl_i, lh[i], ll_i, dd, live[i], target[i], log_zero, nonzero[i], rest[i], out[i]
        )


@kernel
def _cell_rows(
    b, lo, hi, gb, t, ph, pl, dd, nonzero, target, rows, rest, norm, out, counts, vanished
):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`gradient_rows` (a block of run_blocks)."""
    n = ph.shape[1]
    q = np.empty(n)  # the row widened to float64, exactly
    for i in range(lo, hi):
        widen(as_floats(gb[i], n), t, 0, n, q, 0)
        pl_i = pl[i] if dd else pl[0]  # one dummy row unless dd
        vanished[i] = _cell_row(
            q, ph[i], pl_i, dd, nonzero[i], target[i], rows[i], rest[i], norm[i], out[i],
            counts[i],
        )  # fmt: skip


@warmup
def _warm() -> None:
    """Both routes: the float64 reference and the double-double pieces."""
    x = np.array([[0.0, -1.0]])
    p = np.array([[0.7310585786300049, 0.2689414213699951]])
    logp = np.log(p)
    live = np.ones(x.shape, np.bool_)
    tgt = np.array([1], np.int64)
    rows = np.ones(1, np.bool_)
    gb = np.zeros(x.shape).view(np.uint8)
    for dd in (False, True):
        nz, rest, others, _ = exact_gradient_rows(p, p, logp, logp, dd, live, tgt, -745.0)
        norm = np.maximum(rest[:, 0], others)
        gradient_rows(gb, 53, p, p, dd, nz, tgt, rows, rest, norm)
