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

import math

import numpy as np
from numba import prange

from smcheck.kernels import kernel, warmup
from smcheck.kernels.cellterms import (
    NO_KEY,
    all_finite,
    bits,
    float_or,
    format_ulp,
    kl_term,
    max_bits,
    order_key,
    pow2,
    prob_terms,
    scalar,
    scale,
    ulp_exponent,
    widen,
)

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
_BIG = 1.5 * 2.0**26  # exact pieces of a sum: a multiple of 2^-26, one of 2^-52, a rest

# columns of cell_metrics' per-row outputs
OVERFLOW, NAN, UNDERFLOW, EXACT_ZERO, LOG_NONFINITE, FINITE_AT_NEGINF, N_ULP, N_LOG = range(8)
LOST_MASS, MAX_ULP, NORMWISE, SUM_ERROR, KL, LOG_MAX_ULP, LOG_MAX_ABS = range(7)
FINITE, FLIP = range(2)


@scalar
def hist_bin(v):  # type: ignore[no-untyped-def]
    """The Histogram bin of the float64 |v| (the sign bit is masked off)."""
    k = ((bits(np.float64(v)) >> (52 - HIST_SUB_BITS)) & _HIST_MASK) - _HIST_OFFSET
    return min(max(k, 0), HIST_BINS - 1)


@scalar
def near_power(v, near_k, near_low):  # type: ignore[no-untyped-def]
    """Whether v's mantissa field is within near_k of a power of two, and v >= near_low's bits."""
    b = bits(np.float64(v))
    return ((b + near_k) & MANTISSA) < 2 * near_k and b >= near_low


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


TILE = 256
"""Elements per tile of a row: its scratch (11 columns of 8 bytes, 22 KiB) stays in L1."""
_OV_BIAS = 2048  # an exact binade's ulp exponent + this, in the tile's int scratch (0: none)


@kernel()
def _scan_row(rp, rl, n, lv_row, p_row, lp_row, lo_row, fr_row, masks, a, low, lt, fin, ov,
              fmt, hist, rng, vals, offs, scratch):  # fmt: skip
    """The element loops of one row, tile by tile: every count, sum and maximum the row's
    statistics need. rp, rl: p̂ and log p̂ as bytes (float32 or float64 values); scratch: the
    tile's p̂ and log p̂ as float64 (wt), its errors (fs) and bins (ks), one array each so that
    the vectoriser checks one range against each input, and zeros (the low parts of the
    cells that have none).

    Per tile, a branch-free loop (vectorised) counts the events, takes the maxima (as integer
    maxima of the bits) and writes each element's errors, KL term and histogram bins to the
    scratch (the exact binades' ulps, rare, are marked in ks beforehand); a scalar loop then
    adds the bins and the sums in element order, so they stay bit-identical; the argmax is
    looked for only in tiles whose maximum beats the row's so far. Arrays are indexed right
    here, never passed to a helper inside a loop: each such pass costs two atomic reference
    counts, which threads contend for.
    """
    ovf, so = masks
    ovc, ovu = ov
    vu, vl = vals
    t, emin, u, log_zero, dd, exact_sum, direct = fmt
    top = lt == lt
    # the second pass keeps values (where they fit) and fills no histogram
    first, off_u, off_l = offs[0] < 0, offs[0], offs[1]
    keep_u, keep_l = vu.shape[0] > 0, vl.shape[0] > 0
    n_over = 0
    if ovf.shape[0] > 0 or so.shape[0] > 0:
        m1 = ovf if ovf.shape[0] > 0 else so
        m2 = so if so.shape[0] > 0 else m1
        for j in range(n):
            n_over += (m1[np.uint64(j)] != 0) | (m2[np.uint64(j)] != 0)
    n_nan = n_under = n_ez = n_inf = n_lnf = n_fan = n_live = n_l = 0
    mu = dmax = lmu = lma = np.int64(-1)
    lo_u, hi_u, lo_l, hi_l = rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1]
    lost, kl, n_ku, n_kl = 0.0, 0.0, 0, 0
    sa, sb, sc, best, barg = 0.0, 0.0, 0.0, order_key(-np.inf), -1
    T, (wt, fs, ks, zeros), k1 = TILE, scratch, 0
    for j0 in range(0, n, T):
        m = min(T, n - j0)
        widen(rp, n, j0, m, wt, 0)  # widened here, exactly: one compiled body for all formats
        widen(rl, n, j0, m, wt, T)
        lv_t, p_t, lp_t = lv_row[j0 : j0 + m], p_row[j0 : j0 + m], lp_row[j0 : j0 + m]
        lo_t = lo_row[j0 : j0 + m] if dd else zeros
        fr_t = fr_row[j0 : j0 + m] if dd else zeros
        at = a - j0  # the argmax's index in the tile
        top_key = NO_KEY
        k0 = k1  # the tile's exact binades: ovc is sorted (no searchsorted: it compiles slowly)
        while k1 < ovc.shape[0] and ovc[k1] < j0 + m:
            k1 += 1
        for k in range(k0, k1):  # the exact binade's ulp where the block decided one
            ks[2 * T + ovc[k] - j0] = math.frexp(ovu[k])[1] - 1 + _OV_BIAS
        for s in range(m):  # errors and counts, vectorised
            pj, lq, lv, refp, lp = wt[s], wt[T + s], lv_t[s] != 0, p_t[s], lp_t[s]
            pz, nz, lqf = pj == 0.0, lv & (lp > log_zero), abs(lq) < np.inf
            n_nan += pj != pj
            top_key = max(top_key, order_key(pj))
            und = nz & (pz | (lq == -np.inf))
            n_under += und
            n_inf += pz & nz
            n_ez += pz & lv & (not nz)
            n_lnf += lv & (not lqf)
            n_fan += lqf & (lp == -np.inf)
            n_live += lv
            ul, kov = fin & lv, ks[2 * T + s]
            k = kov - _OV_BIAS if kov != 0 else ulp_exponent(refp, t, emin)
            x_ulps = scale(pj - refp - (low if s == at else 0.0), -k)
            e, d, kt = prob_terms(x_ulps, fr_t[s], pow2(k), refp, direct)
            mu, dmax = max_bits(mu, e, ul), max_bits(dmax, abs(d), ul)
            bu = hist_bin(e) if ul else -1
            lo_u, hi_u = min(lo_u, bu if ul else HIST_BINS), max(hi_u, bu)
            fs[s], fs[T + s], ks[s] = e, d, bu
            fs[2 * T + s] = kt if ul & (not pz) else 0.0
            # the log error: the top class's log p is log1p(-rest) (relative accuracy)
            tj = top & (s == at)
            hi = lt if tj else lp
            dl = abs((lq - hi) - (0.0 if tj else lo_t[s]))
            jl = lv & lqf
            n_l += jl
            el = scale(dl, -ulp_exponent(hi, t, emin))
            lmu, lma = max_bits(lmu, el, jl), max_bits(lma, dl, jl)
            bl = hist_bin(el) if jl else -1
            lo_l, hi_l = min(lo_l, bl if jl else HIST_BINS), max(hi_l, bl)
            fs[3 * T + s], ks[T + s] = el, bl
            fs[4 * T + s] = refp if und else 0.0  # the lost mass, summed in element order below
        for k in range(k0, k1):
            ks[2 * T + ovc[k] - j0] = 0
        if top_key > best:  # the first largest p̂ (rarely a new one after the first tiles)
            best = top_key
            for s in range(m):
                if order_key(wt[s]) == best:
                    barg = j0 + s
                    break
        for s in range(m):  # in element order: bins and sums (no branch: a branch on a loop
            # invariant makes LLVM copy the loop, and compile time grows with the copies)
            pj = wt[s]
            # exact_sum: the first two partial sums are exact (rows up to 2^26 long); else sa
            # takes p̂ and sb, sc stay 0
            pa = (pj + _BIG) - _BIG if exact_sum else pj
            pb = (pj - pa + 1.5) - 1.5 if exact_sum else 0.0
            sa, sb, sc = sa + pa, sb + pb, sc + ((pj - pa) - pb)
            lost += fs[4 * T + s]
            bu, bl = ks[s], ks[T + s]
            hist[np.uint64(max(bu, 0))] += (bu >= 0) & first
            hist[np.uint64(HIST_BINS + max(bl, 0))] += (bl >= 0) & first
            kl += kl_term(fs[2 * T + s], pj, p_t[s], lp_t[s], fs[T + s], direct)
        if not first:  # the second pass keeps the values
            for s in range(m):
                bu, bl = ks[s], ks[T + s]
                if keep_u and bu >= 0:
                    vu[off_u + n_ku] = fs[s]
                if keep_l and bl >= 0:
                    vl[off_l + n_kl] = fs[3 * T + s]
                n_ku, n_kl = n_ku + (bu >= 0), n_kl + (bl >= 0)
    if first:
        rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1] = lo_u, hi_u, lo_l, hi_l
    n_u = n_live if fin else 0
    counts = (n_over, n_nan, n_under, n_ez, n_lnf, n_fan, n_u, n_l)
    total_m1 = ((sa - 1.0) + sb) + sc
    mx = (float_or(mu, -np.inf), float_or(dmax, 0.0), float_or(lmu, -np.inf),
          float_or(lma, -np.inf))  # fmt: skip
    return counts, lost, mx, kl, n_inf > 0, total_m1, barg


@kernel()
def _cell_rows(b, nblk, out, blk, rr, ov, fmt, res, work, rng, vals, offsets):  # type: ignore[no-untyped-def]
    """Every per-row statistic of the rows of block b (of nblk), in one pass per row, and their
    histogram in work[b]; offsets: where each row's kept values start (-1 in the first pass,
    which fills the histogram)."""
    ovf, sovf, so = out[2], out[3], out[4]
    valid, live, p, logp, lo, frac = blk
    ints, flts, flags = res
    dd, (rows, n) = fmt[4], p.shape
    rng[b, :, 0], rng[b, :, 1] = HIST_BINS, -1
    hist = work[b].reshape(2 * HIST_BINS)  # (ulp, log) bins
    scratch = (np.empty(2 * TILE), np.empty(5 * TILE), np.zeros(3 * TILE, np.int64),
               np.zeros(TILE))  # fmt: skip
    none = scratch[3][0:0]
    for i in range(b * rows // nblk, (b + 1) * rows // nblk):
        if not valid[i]:
            flts[i, :] = np.nan
            flts[i, MAX_ULP] = flts[i, LOG_MAX_ULP] = flts[i, LOG_MAX_ABS] = -np.inf
            continue
        rp = out[0][i]
        if rp.shape[0] == 4 * n:
            fin = all_finite(rp.view(np.float32))
        else:
            fin = all_finite(rp.view(np.float64))
        a = rr[0][i]
        s0, s1 = ov[0][i], ov[0][i + 1]
        row_masks = (
            ovf[i] if ovf.shape[0] > 0 else ovf[0:0, 0],
            so[i] if so.shape[0] else so[0:0, 0],
        )
        counts, lost, mx, kl, kinf, total_m1, barg = _scan_row(
            rp, out[1][i], n, live[i], p[i], logp[i], lo[i] if dd else none,
            frac[i] if dd else none, row_masks, a, rr[3][i], rr[4][i], fin,
            (ov[1][s0:s1], ov[2][s0:s1]), fmt, hist, rng[b], vals, offsets[i], scratch,
        )  # fmt: skip
        mu, dmax, lmu, lma = mx
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


@kernel()
def _gather_bins(work, rng):  # type: ignore[no-untyped-def]
    """Sum the row blocks' histograms over the bins they touched, zeroing the workspace."""
    lo, hi = HIST_BINS if rng.shape[0] else 0, -1
    for b in range(rng.shape[0]):  # loops, not .min(): they compile faster
        lo, hi = min(lo, rng[b, 0, 0], rng[b, 1, 0]), max(hi, rng[b, 0, 1], rng[b, 1, 1])
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
    rows, n = blk[2].shape
    ints = np.zeros((rows, 8), np.int64)
    flts = np.zeros((rows, 7))
    flags = np.zeros((rows, 2), np.uint8)
    res = (ints, flts, flags)
    nblk = min(rows, work.shape[0])
    rng = np.empty((nblk, 2, 2), np.int64)
    for b in prange(nblk):  # one call: a small parallel body compiles faster
        # b is int64 where numba types the body and uint64 where it lowers it: one signature
        _cell_rows(np.int64(b), nblk, out, blk, rr, ov, fmt, res, work, rng, vals, offsets)
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
