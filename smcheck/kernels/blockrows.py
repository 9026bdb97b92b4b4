"""What every method's metrics share per (format, temperature) block, fused: one pass per row
over the block's reference (smcheck.analysis.blockshared is the Python side; the cell kernel,
smcheck.kernels.cellmetrics, reads it for each method). The maxima and counts in a branch-free
loop the compiler vectorises (maxima as those of integer keys), the rest 1 - p_max in a
compensated loop of its own (in the TwoSum lanes of smcheck.kernels.lanesum it ran faster,
but added a second to this module's cold compile), which also sums the mass of the entries
whose p rounds to 0 in the format (a float sum does not vectorise without fastmath).
"""

from __future__ import annotations

import numpy as np

from smcheck.kernels import kernel, run_blocks, warmup
from smcheck.kernels.cellterms import bits, float_or, format_ulp, max_bits, order_key, scalar
from smcheck.kernels.floatbits import from_bits, from_key

MANTISSA = (1 << 52) - 1


@scalar
def near_power(v, near_k, near_low):  # type: ignore[no-untyped-def]
    """Whether v's mantissa field is within near_k of a power of two, and v >= near_low's bits."""
    b = bits(np.float64(v))
    return ((b + near_k) & MANTISSA) < 2 * near_k and b >= near_low


@scalar
def kept(v, keep):  # type: ignore[no-untyped-def]
    """v where ``keep``, else +0.0, by masking its bits: no branch (as a select of floats, LLVM
    branched, and mispredicted on rows whose zeros are scattered: 2.7x this kernel's time)."""
    return from_bits(bits(np.float64(v)) & -np.int64(keep))


def block_rows(p, logp, live, valid, ph, pl, fmt, near, log_rest):  # type: ignore[no-untyped-def]
    """Per row of a block: exact argmax (first), whether unique, p_max, the rest's corrections,
    the deepest -log p, how many elements need an exact look, how many live entries round to 0
    in the format (log p <= log_zero) and their mass; per element, the double-double cells'
    frac = pl / ulp(ph) (``ph`` empty for the others); per row, whether p_max rounds to 1 in
    the format (saturated: 0 < 1 - p_max <= u/2, the tie rounding to even, i.e. to 1; also
    where 1 - p_max is below float64's range).

    Args:
        fmt: (t, emin, log_zero); near: (near_k, near_low, dd_low); log_rest: the rest below
            which the top class's log p is log1p(-rest).
    """
    rows, n = p.shape
    dd = ph.shape[0] > 0
    out = (np.empty(rows, np.int64), np.empty(rows, np.uint8), np.empty(rows), np.zeros(rows),
           np.full(rows, np.nan), np.empty(rows), np.empty(rows, np.int64),
           np.zeros((rows if dd else 0, n if dd else 0)), np.zeros(rows, np.uint8),
           np.empty(rows, np.int64), np.empty(rows))  # fmt: skip
    run_blocks(_block_rows, rows, p, logp, live, valid, ph, pl, fmt, near, log_rest, out)
    return out


@kernel
def _row_maxima(lp_row, p_row, lv_row, near_k, near_low, dd, dd_low, log_zero):  # type: ignore[no-untyped-def]
    """A row's largest log p (its key), p_max and -log p of a live entry (their bits, -1:
    none), how many live entries need an exact look and how many round to 0 in the format.
    Branch-free, with maxima as those of integer keys (the loop vectorises; inlined into
    _block_rows' row loop it did not)."""
    top_key, pm, deep, c, z = order_key(-np.inf), np.int64(-1), np.int64(-1), 0, 0
    for j in range(lp_row.shape[0]):
        js = np.uint64(j)
        lp, pj, lv = lp_row[js], p_row[js], lv_row[js] != 0
        top_key = max(top_key, order_key(lp))  # NaN: below every key
        pm = max_bits(pm, pj, True)  # p >= 0: its bits order as it does
        deep = max_bits(deep, -lp + 0.0, lv)  # + 0.0: -0.0 (p = 1) as 0.0
        c += lv & (near_power(pj, near_k, near_low) | (dd & (pj < dd_low)))
        z += lv & (lp <= log_zero)  # the tie p = s/2 rounds to even: to 0
    return top_key, pm, deep, c, z


@kernel
def _live_besides(lv_row, a):  # type: ignore[no-untyped-def]
    """Whether the row has a live entry other than column a."""
    for j in range(lv_row.shape[0]):
        if lv_row[j] != 0 and j != a:
            return True
    return False


@kernel
def _block_rows(b, lo, hi, p, logp, live, valid, ph, pl, fmt, near, log_rest, out):  # type: ignore[no-untyped-def]
    """Rows lo to hi - 1 of :func:`block_rows` into out (a block of run_blocks)."""
    n = p.shape[1]
    t, emin, log_zero = fmt
    dd = ph.shape[0] > 0
    arg, unique, pmax, top_low, log_top, deepest, cand, frac, sat, zeros, zero_mass = out
    near_k, near_low, dd_low = near
    half = 2.0 ** -(t + 1)  # u/2: p_max rounds to 1 iff 1 - p_max <= u/2
    for i in range(lo, hi):
        lp_row, p_row, lv_row = logp[i], p[i], live[i]
        top_key, pm, deep, c, z = _row_maxima(
            lp_row, p_row, lv_row, near_k, near_low, dd, dd_low, log_zero
        )
        top, ties, a = from_key(top_key), 0, n
        for j in range(n):  # the first of the largest log p (0 when all are -inf or NaN)
            eq = lp_row[np.uint64(j)] == top
            ties += eq
            a = min(a, j if eq else n)
        a = a if top > -np.inf else 0
        pm, deep = float_or(pm, -np.inf), float_or(deep, -np.inf)
        if dd:
            for j in range(n):
                if live[i, j]:
                    frac[i, j] = pl[i, j] / format_ulp(ph[i, j], t, emin)
        rest, comp, zm = 0.0, 0.0, 0.0
        for j in range(n):  # the others' sum (no cancellation near p = 1), compensated (Neumaier)
            pj = p_row[j] if j != a else 0.0  # adding 0 changes neither part
            s = rest + pj
            comp += (rest - s) + pj if abs(rest) >= abs(pj) else (pj - s) + rest
            rest = s
            if z:  # the same for the whole row: a row with none pays nothing (12% with many)
                # the mass that rounds to 0: each p <= s/2, so a plain sum is within n 2^-53
                zm += kept(p_row[j], (lv_row[j] != 0) & (lp_row[j] <= log_zero))
        r_hi = rest + comp
        r_lo = comp - (r_hi - rest)  # exact (|comp| <= |rest|): decides only a tie with u/2
        rest = r_hi
        arg[i], unique[i], pmax[i], deepest[i], cand[i] = a, ties == 1, pm, deep, c
        sat[i] = valid[i] and rest > 0 and (rest < half or (rest == half and r_lo <= 0))
        if valid[i] and rest == 0.0:
            # every other p is 0 in float64 (below 2^-1074, a lead over 744 nats): 1 - p_max <
            # n 2^-1074, its log below -700, under any format's u/2, so p_max rounds to 1 --
            # unless the top is the row's only live entry, p_max exactly 1 (nothing to lose)
            sat[i] = _live_besides(lv_row, a)
        zeros[i], zero_mass[i] = z, zm
        if valid[i] and rest > 0:
            if not dd and rest < 0.5:  # p_max's part below its float64 value
                top_low[i] = (1.0 - p[i, a]) - rest
            if rest < log_rest:
                log_top[i] = np.log1p(-rest)


@warmup
def _warm() -> None:
    p = np.array([[0.25, 0.75]])
    one, live, none2 = np.ones(1, np.uint8), np.ones((1, 2), np.uint8), np.empty((0, 0))
    f32, f64 = (24, -126, -150 * np.log(2.0)), (53, -1022, -1075 * np.log(2.0))
    block_rows(p, np.log(p), live, one, none2, none2, f32, (1 << 8, 0, 0.0), 0.5)
    dd = np.zeros((1, 2))  # the double-double route: frac from (ph, pl)
    block_rows(p, np.log(p), live, one, p, dd, f64, (1 << 8, 0, 2.0**-1000), 0.5)
