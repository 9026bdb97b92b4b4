"""The cell metrics fused: one pass per row over a method's p̂ and log p̂ and the block's reference.

:func:`block_rows` computes once per (format, temperature) block what every method's metrics
share (the exact argmax, p_max, the rest 1 - p_max, the double-double cells' frac, the rows that
need an exact binade); :func:`cell_metrics` then reads one method's p̂ and log p̂ once per row and
returns every per-row statistic of docs/design.md §4 with the ulp histograms' bin counts. Rows
run in parallel; each row's results depend on that row alone, so chunking changes nothing.
smcheck.analysis.cellkernel is the Python side; tests/analysis/oracle_cellkernel.py keeps the
torch-op version these kernels replaced, as the differential tests' oracle.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from smcheck.kernels import kernel, warmup

HIST_SUB_BITS = 7
"""Histogram bins: a float64 exponent and the top 7 bits of its significand (1/128 octave)."""
HIST_LO, HIST_HI = -80, 1100
"""Exponents below HIST_LO share the zero bin; those from HIST_HI up, the last one."""
HIST_BINS = ((HIST_HI - HIST_LO) << HIST_SUB_BITS) + 1
_HIST_OFFSET = ((1023 + HIST_LO) << HIST_SUB_BITS) - 1
_HIST_MASK = (1 << (11 + HIST_SUB_BITS)) - 1
MANTISSA = (1 << 52) - 1

DIRECT_KL_MAX_T = 11
"""Formats up to this precision (float16, bfloat16) take KL terms directly from log1p."""
KL_SERIES_LIMIT = 2.0**-6
"""|r| up to which a KL term is its series; beyond it (p̂ far from p) the exact logarithm."""
P_TINY = 2.0**-1000
"""1/p overflows below 2^-1024: KL series terms with p below this are left out (p < 1e-301)."""
_BIG = 1.5 * 2.0**26  # exact pieces of a sum: a multiple of 2^-26, one of 2^-52, a rest

# columns of cell_metrics' per-row outputs
OVERFLOW, NAN, UNDERFLOW, EXACT_ZERO, LOG_NONFINITE, FINITE_AT_NEGINF, N_ULP, N_LOG = range(8)
LOST_MASS, MAX_ULP, NORMWISE, SUM_ERROR, KL, LOG_MAX_ULP, LOG_MAX_ABS = range(7)
FINITE, FLIP = range(2)

# per-element helpers are inlined into the kernels: a call would pass array arguments through
# atomic reference counts, which the threads contend for (measured 3x slower, 2 threads slower
# than 1)
_inline = njit(inline="always", error_model="numpy")


@intrinsic
def _bits(typingctx, x):  # type: ignore[no-untyped-def]
    """The float64's bits as an int64 (a register move; numba's scalar .view allocates)."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx, x):  # type: ignore[no-untyped-def]
    """The float64 whose bits are the int64 x."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@_inline
def format_ulp(a, t, emin):  # type: ignore[no-untyped-def]
    """Spacing of a t-bit format (min exponent emin) at the float64 |a|, subnormal below tiny:
    |a| in [2^E, 2^(E+1)) has spacing 2^(max(E, emin) + 1 - t), built from the bits."""
    expo = ((_bits(np.float64(a)) >> 52) & 0x7FF) - 1023
    k = np.int64(max(expo, emin) + 1 - t)
    # 2^k for k >= -1074: 2^(k + 600) from the bits, scaled back (exact, even subnormal)
    return _float((k + 600 + 1023) << 52) * 2.0**-600


@_inline
def hist_bin(v):  # type: ignore[no-untyped-def]
    """The Histogram bin of the float64 |v| (the sign bit is masked off)."""
    k = ((_bits(np.float64(v)) >> (52 - HIST_SUB_BITS)) & _HIST_MASK) - _HIST_OFFSET
    return min(max(k, 0), HIST_BINS - 1)


@_inline
def near_power(v, near_k, near_low):  # type: ignore[no-untyped-def]
    """Whether v's mantissa field is within near_k of a power of two, and v >= near_low's bits."""
    bits = _bits(np.float64(v))
    return ((bits + near_k) & MANTISSA) < 2 * near_k and bits >= near_low


@kernel(parallel=True)
def block_rows(p, logp, live, valid, ph, pl, fmt, near, log_rest):  # type: ignore[no-untyped-def]
    """Per row of a block: exact argmax (first), whether unique, p_max, the rest's corrections,
    the deepest -log p, how many elements need an exact look; per element, the double-double
    cells' frac = pl / ulp(ph) (``ph`` empty for the others).

    Args:
        fmt: (t, emin); near: (near_k, near_low, dd_low); log_rest: the rest below which the
            top class's log p is log1p(-rest).
    """
    rows, n = p.shape
    t, emin = fmt
    dd = ph.shape[0] > 0
    arg = np.zeros(rows, np.int64)
    unique = np.zeros(rows, np.uint8)
    pmax = np.zeros(rows)
    top_low = np.zeros(rows)
    log_top = np.full(rows, np.nan)
    deepest = np.full(rows, -np.inf)
    cand = np.zeros(rows, np.int64)
    frac = np.zeros((rows if dd else 0, n if dd else 0))
    for i in prange(rows):
        top, a = -np.inf, 0
        for j in range(n):
            if logp[i, j] > top:
                top, a = logp[i, j], j
        ties, pm, rest, comp, deep, c = 0, -np.inf, 0.0, 0.0, -np.inf, 0
        for j in range(n):
            lp, pj = logp[i, j], p[i, j]
            ties += lp == top
            pm = max(pm, pj)
            if j != a:  # the others' sum (no cancellation near p = 1), compensated (Neumaier)
                s = rest + pj
                comp += (rest - s) + pj if abs(rest) >= abs(pj) else (pj - s) + rest
                rest = s
            if live[i, j]:
                deep = max(deep, -lp)
                c += near_power(pj, near[0], near[1]) or (dd and pj < near[2])
                if dd:
                    frac[i, j] = pl[i, j] / format_ulp(ph[i, j], t, emin)
        rest += comp
        arg[i], unique[i], pmax[i], deepest[i], cand[i] = a, ties == 1, pm, deep, c
        if valid[i] and rest > 0:
            if not dd and rest < 0.5:  # p_max's part below its float64 value
                top_low[i] = (1.0 - p[i, a]) - rest
            if rest < log_rest:
                log_top[i] = np.log1p(-rest)
    return arg, unique, pmax, top_low, log_top, deepest, cand, frac


@_inline
def _prob_error(pj, refp, ulp, low, fr, dd):  # type: ignore[no-untyped-def]
    """p̂ - p (``low``: the reference's part below its float64 value) and the error in ulps."""
    if dd:
        e = (pj - refp) / ulp - fr
        return e * ulp, abs(e)
    d = pj - refp - low
    return d, abs(d * (1.0 / ulp))


@_inline
def _log_error(lq, hi, lo, fmt):  # type: ignore[no-untyped-def]
    """|log p̂ - log p| and in ulps of D at log p (divided by the spacing for double-double)."""
    t, emin, dd = fmt[0], fmt[1], fmt[4]
    d = abs((lq - hi) - lo) if dd else abs(lq - hi)
    s = format_ulp(hi, t, emin)
    return d, (d / s if dd else d * (1.0 / s))


@_inline
def _kl_term(pj, refp, lp, d, direct):  # type: ignore[no-untyped-def]
    """p log(p/p̂) - p + p̂ = p (r - log1p(r)), r = d/p, never negative (docs/design.md §4)."""
    if direct:
        r = d / refp
        term = (r - np.log1p(r)) * refp
        return d if term != term else term  # p = 0 in float64 under p̂ > 0: the limit is p̂
    r = d * (1.0 / refp) if refp > P_TINY else 0.0
    if abs(r) <= KL_SERIES_LIMIT:
        return d * r * (0.5 + r * (-1.0 / 3.0 + r * (0.25 - 0.2 * r)))
    ex = refp * (lp - np.log(pj)) if refp > 0 else 0.0
    return max(ex + d, 0.0)


@_inline
def _scan_row(prow, lrow, lv_row, p_row, lp_row, lo_row, fr_row, masks, a, low, lt, fin, ov,
              fmt, hist, rng, vals, offs):  # fmt: skip
    """The element loop of one row: every count, sum and maximum the row's statistics need.

    Arrays are indexed right here, never passed to a helper inside the loop: each such pass
    costs two atomic reference counts, which threads contend for (measured: 2 threads were
    slower than 1).
    """
    ovf, so = masks
    ovc, ovu = ov
    vu, vl = vals
    t, emin, u, log_zero, dd, exact_sum, direct = fmt
    top, n_ov = lt == lt, ovc.shape[0]
    # the second pass keeps values (where they fit) and fills no histogram
    second, off_u, off_l = offs[0] >= 0, offs[0], offs[1]
    keep_u, keep_l = second and vu.shape[0] > 0, second and vl.shape[0] > 0
    lo_u, hi_u, lo_l, hi_l = rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1]
    n_over = n_nan = n_under = n_ez = n_lnf = n_fan = n_u = n_l = 0
    lost, mu, dmax, kl, kinf, lmu, lma = 0.0, -np.inf, 0.0, 0.0, False, -np.inf, -np.inf
    sa, sb, sc, best, barg = 0.0, 0.0, 0.0, -np.inf, -1
    for j in range(prow.shape[0]):
        pj, lq, lv, refp, lp = prow[j], lrow[j], lv_row[j] != 0, p_row[j], lp_row[j]
        n_over += (ovf.shape[0] > 0 and ovf[j] != 0) or (so.shape[0] > 0 and so[j] != 0)
        n_nan += pj != pj
        pz, nz = pj == 0.0, lv and lp > log_zero
        if nz and (pz or lq == -np.inf):
            n_under += 1
            lost += refp
        if pz:
            kinf = kinf or nz  # an underflow makes the divergence infinite
            n_ez += lv and not nz
        if exact_sum:  # the first two partial sums are exact (rows up to 2^26 long)
            pa = (pj + _BIG) - _BIG
            pb = (pj - pa + 1.5) - 1.5
            sa, sb, sc = sa + pa, sb + pb, sc + ((pj - pa) - pb)
        else:
            sa += pj
        if pj > best:
            best, barg = pj, j
        if np.isfinite(lq):
            n_fan += lp == -np.inf
            if lv:
                if top and j == a:  # the top class: log p = log1p(-rest), relative accuracy
                    d, e = _log_error(lq, lt, 0.0, fmt)
                else:
                    d, e = _log_error(lq, lp, lo_row[j] if dd else 0.0, fmt)
                lma, lmu = max(lma, d), max(lmu, e)
                if keep_l:
                    vl[off_l + n_l] = e
                elif not second:
                    k = hist_bin(e)
                    hist[1, k] += 1
                    lo_l, hi_l = min(lo_l, k), max(hi_l, k)
                n_l += 1
        elif lv:
            n_lnf += 1
        if fin and lv:
            ulp = format_ulp(refp, t, emin)
            if n_ov > 0:  # the exact binade's ulp where the block decided one
                k = np.searchsorted(ovc, j)
                if k < n_ov and ovc[k] == j:
                    ulp = ovu[k]
            d, e = _prob_error(pj, refp, ulp, low if j == a else 0.0, fr_row[j] if dd else 0.0, dd)
            mu, dmax = max(mu, e), max(dmax, abs(d))
            if keep_u:
                vu[off_u + n_u] = e
            elif not second:
                k = hist_bin(e)
                hist[0, k] += 1
                lo_u, hi_u = min(lo_u, k), max(hi_u, k)
            n_u += 1
            if not pz:
                kl += _kl_term(pj, refp, lp, d, direct)
    rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1] = lo_u, hi_u, lo_l, hi_l
    counts = (n_over, n_nan, n_under, n_ez, n_lnf, n_fan, n_u, n_l)
    total_m1 = ((sa - 1.0) + sb) + sc if exact_sum else sa - 1.0
    return counts, lost, mu, dmax, kl, kinf, lmu, lma, total_m1, barg


@kernel()
def _cell_row(i, prow, lrow, masks, blk, rr, ov, fmt, res, hist, rng, vals, offs):  # type: ignore[no-untyped-def]
    """Every per-row statistic of row i (p̂ and log p̂: prow, lrow, as float64) in one pass; offs:
    where its kept values start (-1 in the first pass, which fills the histogram)."""
    ovf, sovf, so = masks
    valid, live, p, logp, lo, frac = blk
    ints, flts, flags = res
    dd = fmt[4]
    if not valid[i]:
        flts[i, :] = np.nan
        flts[i, MAX_ULP] = flts[i, LOG_MAX_ULP] = flts[i, LOG_MAX_ABS] = -np.inf
        return
    fin = True
    for j in range(prow.shape[0]):
        fin = fin and np.isfinite(prow[j])
    a = rr[0][i]
    s0, s1 = ov[0][i], ov[0][i + 1]
    row_masks = (ovf[i] if ovf.shape[0] > 0 else ovf[0:0, 0], so[i] if so.shape[0] else so[0:0, 0])
    counts, lost, mu, dmax, kl, kinf, lmu, lma, total_m1, barg = _scan_row(
        prow, lrow, live[i], p[i], logp[i], lo[i] if dd else lo[0:0, 0],
        frac[i] if dd else frac[0:0, 0], row_masks, a, rr[3][i], rr[4][i], fin,
        (ov[1][s0:s1], ov[2][s0:s1]), fmt, hist, rng, vals, offs,
    )  # fmt: skip
    n_over = counts[OVERFLOW] + (sovf.shape[0] > 0 and sovf[i] != 0)
    for k in range(8):
        ints[i, k] = counts[k]
    ints[i, OVERFLOW] = n_over
    if n_over:  # zeros in a row whose exp or sum overflowed are the overflow's
        ints[i, UNDERFLOW], lost = 0, 0.0
    flts[i, LOST_MASS], flts[i, MAX_ULP] = lost, mu
    flts[i, NORMWISE] = (dmax / rr[2][i]) / fmt[2] if fin else np.nan
    flts[i, SUM_ERROR] = abs(total_m1) if fin else np.nan
    flts[i, KL] = np.inf if kinf else (max(kl, 0.0) if fin else np.nan)
    flts[i, LOG_MAX_ULP], flts[i, LOG_MAX_ABS] = lmu, lma
    flags[i, FINITE] = fin
    flags[i, FLIP] = fin and rr[1][i] != 0 and barg != a


@_inline
def _widen(raw, row):  # type: ignore[no-untyped-def]
    """A row of float32 or float64 values, given as its bytes, into float64 (exact): one
    kernel signature for every format, so it compiles once."""
    if raw.shape[0] == 4 * row.shape[0]:
        row[:] = raw.view(np.float32)
    else:
        row[:] = raw.view(np.float64)


@kernel()
def _gather_bins(work, rng):  # type: ignore[no-untyped-def]
    """Sum the row blocks' histograms over the bins they touched, zeroing the workspace."""
    lo, hi = rng[:, :, 0].min() if rng.size else 0, rng[:, :, 1].max() if rng.size else -1
    bins = np.zeros((2, max(hi - lo + 1, 0)), np.int64)
    for b in range(rng.shape[0]):
        for kind in range(2):
            for k in range(rng[b, kind, 0], rng[b, kind, 1] + 1):
                bins[kind, k - lo] += work[b, kind, k]
                work[b, kind, k] = 0
    return lo, bins


@kernel(parallel=True)
def cell_metrics(out, blk, rr, ov, fmt, work, vals, offsets):  # type: ignore[no-untyped-def]
    """One method's per-row statistics on one chunk, and its ulp histograms' bin counts.

    Args:
        out: (p̂, log p̂, overflow, sum_overflow, scale overflow) -- p̂ and log p̂ float32 or
            float64 arrays viewed as bytes (uint8), the masks uint8 (empty: none).
        blk: (valid, live, p, log p, log p's low part, frac) -- the last two empty but for
            double-double cells.
        rr: block_rows' (arg, unique, p_max, top_low, log_top).
        ov: the exact binades' ulp as per-row CSR (row starts, columns, ulp).
        fmt: (t, emin, u, log_zero, double-double, exact sum, direct KL).
        work: a zeroed (blocks, 2, HIST_BINS) int64 workspace, left zeroed.
        vals, offsets: in the first pass, which bins the errors, empty arrays and -1 per row; in
            the second (run only while a cell's exact median has room for the values), the
            (ulp, log) value arrays to fill (an empty one: not wanted) and each row's first
            index in them.

    Returns:
        ints, floats, flags (per row, the columns above), the first bin and the bin counts
        (ulp, log) of the first pass.
    """
    P, LQ = out[0], out[1]
    masks = out[2:]
    rows, n = blk[2].shape
    ints = np.zeros((rows, 8), np.int64)
    flts = np.zeros((rows, 7))
    flags = np.zeros((rows, 2), np.uint8)
    res = (ints, flts, flags)
    nblk = min(rows, work.shape[0])
    rng = np.empty((nblk, 2, 2), np.int64)
    for b in prange(nblk):
        rng[b, :, 0], rng[b, :, 1] = HIST_BINS, -1
        prow, lrow = np.empty(n), np.empty(n)  # the row widened (exact): one compiled row body
        for i in range(b * rows // nblk, (b + 1) * rows // nblk):
            _widen(P[i], prow)
            _widen(LQ[i], lrow)
            _cell_row(
                i, prow, lrow, masks, blk, rr, ov, fmt, res, work[b], rng[b], vals, offsets[i]
            )
    lo, bins = _gather_bins(work, rng)
    return ints, flts, flags, lo, bins


@warmup
def _warm() -> None:
    """Compile both kernels for the signatures the analysis uses: p̂ float32 and float64."""
    p = np.array([[0.25, 0.75]])
    logp = np.log(p)
    one, live, none2 = np.ones(1, np.uint8), np.ones((1, 2), np.uint8), np.empty((0, 0))
    near = (1 << 8, 0, 0.0)
    rr = block_rows(p, logp, live, one, none2, none2, (24, -126), near, 0.5)[:5]
    ov = (np.zeros(2, np.int64), np.empty(0, np.int64), np.empty(0))
    fmt = (24, -126, 2.0**-24, -104.0, False, False, False)
    work = np.zeros((1, 2, HIST_BINS), np.int64)
    for dt in (np.float32, np.float64):
        q = p.astype(dt)
        out = (q.view(np.uint8), np.log(q).view(np.uint8), np.empty((0, 0), np.uint8),
               np.empty(0, np.uint8), live)  # fmt: skip
        blk = (one, live, p, logp, none2, none2)
        vals = (np.empty(0), np.empty(0))
        cell_metrics(out, blk, rr, ov, fmt, work, vals, np.empty((0, 2), np.int64))
        cell_metrics(
            out, blk, rr, ov, fmt, work, (np.empty(2), vals[1]), np.zeros((1, 2), np.int64)
        )
