"""The cell metrics fused: one pass per row over a method's p̂ and log p̂ and the block's reference.

smcheck.kernels.blockrows computes once per (format, temperature) block what every method's
metrics share (the exact argmax, p_max, the rest 1 - p_max, the double-double cells' frac, the
rows that need an exact binade); :func:`cell_metrics` then reads one method's p̂ and log p̂ once
per row and returns every per-row statistic of docs/design.md §4 with the ulp histograms' bin
counts. Rows
run in parallel; each row's results depend on that row alone, so chunking changes nothing.
smcheck.analysis.cellkernel is the Python side; tests/analysis/oracle_cellkernel.py keeps the
torch-op version these kernels replaced, as the differential tests' oracle.
"""

from __future__ import annotations

import math

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.blockrows import block_rows
from smcheck.kernels.cellterms import (
    all_finite,
    as_floats,
    bits,
    direct_kl,
    first_key,
    float_or,
    format_ulp,
    inline,
    kl_term,
    max_bits,
    order_key,
    overflows,
    pow2,
    prob_terms,
    row_value,
    scalar,
    scale,
    ulp_exponent,
    widen,
)
from smcheck.kernels.floatbits import NO_KEY

HIST_SUB_BITS = 7
"""Histogram bins: a float64 exponent and the top 7 bits of its significand (1/128 octave)."""
HIST_LO, HIST_HI = -80, 1100
"""Exponents below HIST_LO share the zero bin; those from HIST_HI up, the last one."""
HIST_BINS = ((HIST_HI - HIST_LO) << HIST_SUB_BITS) + 1
_HIST_OFFSET = ((1023 + HIST_LO) << HIST_SUB_BITS) - 1
_HIST_MASK = (1 << (11 + HIST_SUB_BITS)) - 1

DIRECT_KL_MAX_T = 11
"""Formats up to this precision (float16, bfloat16) take KL terms directly from log1p."""
_BIG = 1.5 * 2.0**26  # exact pieces of a sum: a multiple of 2^-26, one of 2^-52, a rest

# columns of cell_metrics' per-row outputs
OVERFLOW, NAN, UNDERFLOW, EXACT_ZERO, LOG_NONFINITE, FINITE_AT_NEGINF, N_ULP, N_LOG, LOG_ZERO = (
    range(9)
)
LOST_MASS, MAX_ULP, NORMWISE, SUM_ERROR, KL, LOG_MAX_ULP, LOG_MAX_ABS = range(7)
FINITE, FLIP = range(2)


@scalar
def hist_bin(v):  # type: ignore[no-untyped-def]
    """The Histogram bin of the float64 |v| (the sign bit is masked off)."""
    k = ((bits(np.float64(v)) >> (52 - HIST_SUB_BITS)) & _HIST_MASK) - _HIST_OFFSET
    return min(max(k, 0), HIST_BINS - 1)


TILE = 256
"""Elements per tile of a row: its scratch (13 columns of 8 bytes, 26 KiB) stays in L1."""
_OV_BIAS = 2048  # an exact binade's ulp exponent + this, in the tile's int scratch (0: none)


@inline
def _mark_binades(ks, ovc, ovu, k, j0, m, mark):  # type: ignore[no-untyped-def]
    """Mark (or clear) in ks the exact binades' ulp exponents of the tile's elements, from
    ovc[k] on (ovc is sorted: no searchsorted, which compiles slowly); their range in ovc."""
    k0 = k
    while k < ovc.shape[0] and ovc[k] < j0 + m:
        ks[2 * TILE + ovc[k] - j0] = math.frexp(ovu[k])[1] - 1 + _OV_BIAS if mark else 0
        k += 1
    return k0, k


@inline
def _in_order(m, j0, wt, fs, ks, p_row, lp_row, hist, sums, first, exact_sum, direct):  # type: ignore[no-untyped-def]
    """The tile's bins and sums, in element order (no branch: a branch on a loop invariant
    makes LLVM copy the loop, and compile time grows with the copies). Every element counts
    (where ``first``), one not judged (bin -1) in the first bin, which the caller takes back
    for the row: fewer instructions than testing each (0.91-0.97 of the kernel's time). The
    histogram indices come ready from the vectorised loop: this loop's instructions are its
    time (0.93-0.98 of the kernel's, bench_cell_ab.py)."""
    sa, sb, sc, lost, kl = sums
    T = TILE
    for s in range(m):
        pj = wt[s]
        # exact_sum: the first two partial sums are exact (rows up to 2^26 long); else sa
        # takes p̂ and sb, sc stay 0
        pa = (pj + _BIG) - _BIG if exact_sum else pj
        pb = (pj - pa + 1.5) - 1.5 if exact_sum else 0.0
        sa, sb, sc = sa + pa, sb + pb, sc + ((pj - pa) - pb)
        lost += fs[4 * T + s]
        hist[np.uint64(ks[3 * T + s])] += first
        hist[np.uint64(ks[4 * T + s])] += first
        js = np.uint64(j0 + s)
        kl += kl_term(fs[2 * T + s], pj, p_row[js], lp_row[js], fs[T + s], direct)
    return sa, sb, sc, lost, kl


@inline
def _direct_terms(direct, m, j0, wt, fs, ks, p_row):  # type: ignore[no-untyped-def]
    """For a direct format (float16, bfloat16), the tile's KL terms where the element loop
    wrote one (judged, p̂ != 0), replacing its series, which holds only to |r| = 2^-6: many
    of theirs are beyond. A loop of its own: in the element loop, where the old series was, this
    longer one slowed every format's loop (docs/performance-history.md)."""
    if not direct:
        return
    T = TILE
    for s in range(m):
        refp = p_row[np.uint64(j0 + s)]
        keep = (ks[s] >= 0) & (wt[s] != 0.0)
        fs[2 * T + s] = direct_kl(fs[T + s], refp) if keep else 0.0


@inline
def _keep(m, fs, ks, vu, vl, at_u, at_l, n_ku, n_kl):  # type: ignore[no-untyped-def]
    """The tile's judged errors into vu, vl from at_u, at_l (where wanted)."""
    for s in range(m):
        bu, bl = ks[s], ks[TILE + s]
        if vu.shape[0] > 0 and bu >= 0:
            vu[at_u] = fs[s]
        if vl.shape[0] > 0 and bl >= 0:
            vl[at_l] = fs[3 * TILE + s]
        at_u, at_l = at_u + (bu >= 0), at_l + (bl >= 0)
        n_ku, n_kl = n_ku + (bu >= 0), n_kl + (bl >= 0)
    return n_ku, n_kl


@kernel
def _scan_row(rp, rl, n, lv_row, p_row, lp_row, lo_row, fr_row, masks, a, low, lt, fin, ov,
              fmt, hist, rng, vals, offs, scratch):  # fmt: skip
    """The element loops of one row, tile by tile: every count, sum and maximum the row's
    statistics need. rp, rl: p̂ and log p̂ as bytes (values of the 16-bit format of fmt, float32
    or float64); offs: (bin the errors?, where the row's kept values start: -1, none kept);
    scratch: the tile's p̂ and log p̂ in float64 (wt), errors (fs), bins (ks) and zeros (the low
    parts of cells that have none), one array each: the vectoriser checks one range per input.

    Per tile, a branch-free loop (vectorised) counts the events, takes the maxima (integer
    maxima of the bits) and writes each element's errors, KL term, bins and histogram indices
    to the scratch (the exact binades' ulps, rare, marked in ks beforehand); _in_order then
    adds the bins and the sums in element order. No helper is called and no view made inside a
    loop: each costs atomic reference counts (threads contend for a call's)."""
    (ovf, so), (ovc, ovu), (vu, vl), (first, offs) = masks, ov, vals, offs
    t, emin, u, log_zero, dd, exact_sum, direct, neg_over = fmt  # neg_over: log p rounds to -inf
    top, kept, off_u, off_l = lt == lt, offs[0] >= 0, offs[0], offs[1]
    n_nan = n_under = n_ez = n_inf = n_lnf = n_lz = n_fan = n_live = n_l = n_ku = n_kl = 0
    mu = dmax = lmu = lma = np.int64(-1)
    lo_u, hi_u, lo_l, hi_l = rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1]
    sa, sb, sc, lost, kl, best, barg = 0.0, 0.0, 0.0, 0.0, 0.0, order_key(-np.inf), -1
    T, (wt, fs, ks, zeros), k1 = TILE, scratch, 0
    srcp, srcl = as_floats(rp, n), as_floats(rl, n)
    lo_a, fr_a = (lo_row, fr_row) if dd else (zeros, zeros)
    for j0 in range(0, n, T):
        m, d0 = min(T, n - j0), j0 if dd else 0  # d0: where the tile starts in lo_a and fr_a
        widen(srcp, t, j0, m, wt, 0)  # widened here, exactly: one compiled body for all formats
        widen(srcl, t, j0, m, wt, T)
        at, top_key = a - j0, NO_KEY  # at: the argmax's index in the tile
        k0, k1 = _mark_binades(ks, ovc, ovu, k1, j0, m, True)
        for s in range(m):  # errors and counts, vectorised
            js = np.uint64(j0 + s)
            pj, lq, lv, refp, lp = wt[s], wt[T + s], lv_row[js] != 0, p_row[js], lp_row[js]
            pz, nz, lqf = pj == 0.0, lv & (lp > log_zero), abs(lq) < np.inf
            n_nan += pj != pj
            top_key = max(top_key, order_key(pj))
            und = nz & pz  # a -inf log p̂ beside a nonzero p̂ is log_of_zero's, not this
            n_under += und
            n_inf += pz & nz
            n_ez += pz & lv & (not nz)
            n_lnf, n_lz = n_lnf + (lv & (not lqf)), n_lz + (lv & (lq == -np.inf) & (lp > neg_over))
            n_fan += lqf & (lp == -np.inf)
            n_live += lv
            ul, kov = fin & lv, ks[2 * T + s]
            k = kov - _OV_BIAS if kov != 0 else ulp_exponent(refp, t, emin)
            x_ulps = scale(pj - refp - (low if s == at else 0.0), -k)
            e, d, kt = prob_terms(x_ulps, fr_a[np.uint64(d0 + s)], pow2(k), refp)
            mu, dmax = max_bits(mu, e, ul), max_bits(dmax, abs(d), ul)
            bu = hist_bin(e) if ul else -1
            lo_u, hi_u = min(lo_u, bu if ul else HIST_BINS), max(hi_u, bu)
            fs[s], fs[T + s], ks[s] = e, d, bu
            fs[2 * T + s] = kt if ul & (not pz) else 0.0
            # the log error: the top class's log p is log1p(-rest) (relative accuracy)
            tj = top & (s == at)
            hi = lt if tj else lp
            dl = abs((lq - hi) - (0.0 if tj else lo_a[np.uint64(d0 + s)]))
            jl = lv & lqf
            n_l += jl
            el = scale(dl, -ulp_exponent(hi, t, emin))
            lmu, lma = max_bits(lmu, el, jl), max_bits(lma, dl, jl)
            bl = hist_bin(el) if jl else -1
            lo_l, hi_l = min(lo_l, bl if jl else HIST_BINS), max(hi_l, bl)
            fs[3 * T + s], ks[T + s], ks[3 * T + s] = el, bl, max(bu, 0)
            ks[4 * T + s] = HIST_BINS + max(bl, 0)  # the histogram's indices (-1: first bins)
            fs[4 * T + s] = refp if und else 0.0  # the lost mass, summed in element order below
        _mark_binades(ks, ovc, ovu, k0, j0, m, False)
        _direct_terms(direct, m, j0, wt, fs, ks, p_row)
        if top_key > best:  # the first largest p̂ (rarely a new one after the first tiles)
            best, barg = top_key, j0 + first_key(wt, m, top_key)
        sa, sb, sc, lost, kl = _in_order(
            m, j0, wt, fs, ks, p_row, lp_row, hist, (sa, sb, sc, lost, kl), first, exact_sum, direct
        )
        if kept:
            n_ku, n_kl = _keep(m, fs, ks, vu, vl, off_u + n_ku, off_l + n_kl, n_ku, n_kl)
    if first:  # _in_order counted the elements not judged in the first bins: taken back
        rng[0, 0], rng[0, 1], rng[1, 0], rng[1, 1] = lo_u, hi_u, lo_l, hi_l
        hist[0], hist[HIST_BINS] = hist[0] - n + n_live * fin, hist[HIST_BINS] - n + n_l
    counts = (overflows(ovf, so, n), n_nan, n_under, n_ez, n_lnf, n_fan, n_live * fin, n_l, n_lz)
    mx = (float_or(mu, -np.inf), float_or(dmax, 0.0), float_or(lmu, -np.inf),
          float_or(lma, -np.inf))  # fmt: skip
    return counts, lost, mx, kl, n_inf > 0, ((sa - 1.0) + sb) + sc, barg  # sb, sc: Σp̂'s low parts


@kernel
def _rounded_tie(rp, n, a, b, p_row, t, emin):  # type: ignore[no-untyped-def]
    """Whether p̂ ties at a and b where the exact p, correctly rounded, ties too: argmax then
    picks b by the order of the ties, which no method in the format could change."""
    src = as_floats(rp, n)
    same = row_value(src, t, a) == row_value(src, t, b)
    return same and _round_to(p_row[a], t, emin) == _round_to(p_row[b], t, emin)


@scalar
def _round_to(v, t, emin):  # type: ignore[no-untyped-def]
    """v (>= 0) rounded to the nearest value of a t-bit format (ties away: measure zero here);
    a float64 is its own rounding at t = 53 (v / ulp + 0.5 would round there itself)."""
    if t >= 53:
        return v
    ulp = format_ulp(v, t, emin)
    return math.floor(v / ulp + 0.5) * ulp


@kernel
def _cell_rows(b, lo, hi, out, blk, rr, ov, fmt, res, work, rng, vals, offsets, fill):  # type: ignore[no-untyped-def]
    """Every per-row statistic of rows lo to hi - 1 (block b of run_blocks), in one pass per
    row, and (where ``fill``) their histogram in work[b]; offsets: where each row's kept
    values start (-1: none kept)."""
    ovf, sovf, so = out[2], out[3], out[4]
    valid, live, p, logp, low, frac = blk
    ints, flts, flags = res
    dd, n = fmt[4], p.shape[1]
    rng[b, :, 0], rng[b, :, 1] = HIST_BINS, -1
    hist = work[b].reshape(2 * HIST_BINS)  # (ulp, log) bins
    scratch = (np.empty(2 * TILE), np.empty(5 * TILE), np.zeros(5 * TILE, np.int64),
               np.zeros(TILE))  # fmt: skip
    none = scratch[3][0:0]
    for i in range(lo, hi):
        if not valid[i]:
            flts[i, :] = np.nan
            flts[i, MAX_ULP] = flts[i, LOG_MAX_ULP] = flts[i, LOG_MAX_ABS] = -np.inf
            continue
        rp, rl = out[0][i], out[1][i]
        fin = all_finite(as_floats(rp, n), fmt[0])
        summed_over = sovf.shape[0] > 0 and sovf[i] != 0
        fin = fin and not summed_over  # a row whose sum overflowed (p̂ all 0) is not judged
        a = rr[0][i]
        s0, s1 = ov[0][i], ov[0][i + 1]
        row_masks = (
            ovf[i] if ovf.shape[0] > 0 else ovf[0:0, 0],
            so[i] if so.shape[0] else so[0:0, 0],
        )
        counts, lost, mx, kl, kinf, total_m1, barg = _scan_row(
            rp, rl, n, live[i], p[i], logp[i], low[i] if dd else none,
            frac[i] if dd else none, row_masks, a, rr[3][i], rr[4][i], fin,
            (ov[1][s0:s1], ov[2][s0:s1]), fmt, hist, rng[b], vals, (fill, offsets[i]), scratch,
        )  # fmt: skip
        mu, dmax, lmu, lma = mx
        n_over = counts[OVERFLOW] + summed_over
        for k in range(9):
            ints[i, k] = counts[k]
        ints[i, OVERFLOW] = n_over
        if n_over:  # zeros in a row whose exp or sum overflowed are the overflow's
            ints[i, UNDERFLOW], ints[i, EXACT_ZERO], ints[i, LOG_ZERO], lost = 0, 0, 0, 0.0
        flts[i, LOST_MASS], flts[i, MAX_ULP] = lost, mu
        # against max(p_max, tiny): below tiny D's spacing is fixed, so correct rounding
        # leaves tiny·u there, not p_max·u (Higham's model with underflow): at most 1u
        flts[i, NORMWISE] = (dmax / max(rr[2][i], pow2(fmt[1]))) / fmt[2] if fin else np.nan
        flts[i, SUM_ERROR] = abs(total_m1) if fin else np.nan
        flts[i, KL] = np.inf if kinf else (max(kl, 0.0) if fin else np.nan)
        flts[i, LOG_MAX_ULP], flts[i, LOG_MAX_ABS] = lmu, lma
        flags[i, FINITE] = fin
        flags[i, FLIP] = (
            fin
            and rr[1][i] != 0
            and barg != a
            and not _rounded_tie(rp, n, a, barg, p[i], fmt[0], fmt[1])
        )


@kernel
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


def cell_metrics(out, blk, rr, ov, fmt, work, vals, offsets, fill=True):  # type: ignore[no-untyped-def]
    """One method's per-row statistics on one chunk, and its ulp histograms' bin counts.

    Args:
        out: (p̂, log p̂, overflow, sum_overflow, scale overflow) -- p̂ and log p̂ arrays of the
            cell's 16-bit format (fmt's t: 11 float16, 8 bfloat16), float32 or float64, viewed
            as bytes (uint8), the masks uint8 (empty: none).
        blk: (valid, live, p, log p, log p's low part, frac) -- the last two empty but for
            double-double cells.
        rr: block_rows' (arg, unique, p_max, top_low, log_top).
        ov: the exact binades' ulp as per-row CSR (row starts, columns, ulp).
        fmt: (t, emin, u, log_zero, double-double, exact sum, direct KL, the value at or below
            which a log p rounds to -inf).
        work: a zeroed (blocks, 2, HIST_BINS) int64 workspace, left zeroed.
        vals, offsets: the (ulp, log) error value arrays to fill (an empty one: not wanted) and
            each row's first index in them; -1 in a row: keep none (nor with empty arrays).
        fill: whether to bin the errors (False in a second pass that only keeps values).

    Returns:
        ints, floats, flags (per row, the columns above), the first bin and the bin counts
        (ulp, log; none where not ``fill``).
    """
    rows, n = blk[2].shape
    ints = np.zeros((rows, 9), np.int64)
    flts = np.zeros((rows, 7))
    flags = np.zeros((rows, 2), np.uint8)
    res = (ints, flts, flags)
    rng = np.empty((work.shape[0], 2, 2), np.int64)
    args = (out, blk, rr, ov, fmt, res, work, rng, vals, offsets, fill)
    nblk = run_blocks(_cell_rows, rows, *args, blocks=work.shape[0])
    lo, bins = _gather_bins(work, rng[:nblk])
    return ints, flts, flags, lo, bins


@warmup
def _warm() -> None:
    """Compile both kernels for the signatures the analysis uses: p̂ float32 and float64."""
    p = np.array([[0.25, 0.75]])
    logp = np.log(p)
    one, live, none2 = np.ones(1, np.uint8), np.ones((1, 2), np.uint8), np.empty((0, 0))
    near = (1 << 8, 0, 0.0)
    rr = block_rows(p, logp, live, one, none2, none2, (24, -126, -104.0), near, 0.5)[:5]
    ov = (np.zeros(2, np.int64), np.empty(0, np.int64), np.empty(0))
    fmt = (24, -126, 2.0**-24, -104.0, False, False, False, -3.4028235677973366e38)
    work = np.zeros((1, 2, HIST_BINS), np.int64)
    for dt in (np.float32, np.float64):
        q = p.astype(dt)
        out = (q.view(np.uint8), np.log(q).view(np.uint8), np.empty((0, 0), np.uint8),
               np.empty(0, np.uint8), live)  # fmt: skip
        blk = (one, live, p, logp, none2, none2)
        vals = (np.empty(0), np.empty(0))
        cell_metrics(out, blk, rr, ov, fmt, work, vals, np.full((1, 2), -1))
        kept = (np.empty(2), vals[1])
        cell_metrics(out, blk, rr, ov, fmt, work, kept, np.zeros((1, 2), np.int64), False)
