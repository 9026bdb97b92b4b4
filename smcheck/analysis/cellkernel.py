"""The per-chunk work of CellAccumulator.add in torch: few passes, masks only where needed.

Everything a method's metrics share with the other methods of its (format, temperature) block --
the reference as tensors, ulp(p), the nonzero mask, the reference argmax -- is computed once per
block (:func:`block_shared`). Per cell, cheap whole-chunk screens (row sums, any-zero, all-finite)
decide whether the masked computations are needed at all; when a chunk is clean they are skipped,
which changes no count. Definitions are those of docs/design.md §4; see cells.CellAccumulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import DDReference, exact_pieces_sum

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

DIRECT_KL_MAX_T = 11
"""Formats up to this precision (float16, bfloat16) take KL directly from float64 logs."""
KL_SERIES_LIMIT = 2.0**-6
"""|r| up to which KL terms use the series; beyond it (and where p̂ = 0) the exact logarithm."""


def _t(a: Any) -> torch.Tensor:
    import torch

    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))


def format_ulp(a: torch.Tensor, f: FloatFormat) -> torch.Tensor:
    """Spacing of ``f`` at |a| (a float64, >= 0 or its sign ignored), the subnormal one below tiny.

    From the float64 exponent bits: |a| in [2^E, 2^(E+1)) has spacing 2^(max(E, emin) + 1 - t).
    """
    import torch

    expo = ((a.view(torch.int64) >> 52) & 0x7FF) - 1023
    k = expo.clamp(min=f.emin) + (1 - f.t)
    # 2^k for k >= -1074: build 2^(k + 600) from the bits and scale back (exact, even subnormal)
    return ((k + 600 + 1023) << 52).view(torch.float64) * 2.0**-600


@dataclass
class Shared:
    """Per-block tensors every method of the block uses."""

    valid: torch.Tensor
    live: torch.Tensor | None
    """None when every element of the chunk is live."""
    all_valid: bool
    p: torch.Tensor
    """Reference p rounded to float64."""
    logp: torch.Tensor
    ulp: torch.Tensor
    inv_ulp: torch.Tensor | None
    """1/ulp where it is representable (formats up to float32)."""
    frac: torch.Tensor | None
    """(p - p_rounded) / ulp for float64 cells (the reference's sub-float64 part)."""
    inv_p: torch.Tensor
    nonzero: torch.Tensor | None
    """None when every live element's exact p is representable as nonzero."""
    pmax: torch.Tensor
    ref_arg: torch.Tensor
    unique: torch.Tensor
    scale_over: torch.Tensor | None
    exact_sum: bool
    """Sum p̂ through exact pieces (float64 cells: a float64 sum is as noisy as the quantity)."""
    kl_zero: torch.Tensor
    """KL correction where p̂ = 0: p (log p - log_zero) - p minus the series' p 77/60."""


def block_shared(b: Block) -> Shared:
    """Compute (once) and cache what every cell of block ``b`` needs."""
    import torch

    got = b.cache.get("shared")
    if got is not None:
        return got
    f, ref = b.fmt, b.ref
    valid = _t(b.valid)
    live = _t(b.live)
    all_live = bool(live.all())
    if isinstance(ref, DDReference):
        p, logp = _t(ref.p_hi), _t(ref.logp_hi)
        q = ref.parts
        ulp = format_ulp(p, f)
        # p - p_rounded: exactly pl * 2^e where p_rounded = ph * 2^e (normal range)
        frac = q.pl / format_ulp(q.ph, f)
        low = p < f.tiny * 2.0
        if bool(low.any()):  # subnormal or vanishing p: go through long double on those elements
            idx = low.nonzero(as_tuple=True)
            ph, pl, e = (t[idx].numpy() for t in (q.ph, q.pl, q.e))
            exact = np.ldexp(ph.astype(np.longdouble) + pl, e)
            fr = (exact - p[idx].numpy()) / ulp[idx].numpy()
            frac = frac.index_put(idx, torch.from_numpy(fr.astype(np.float64)))
    else:
        p, logp = _t(ref.p), _t(ref.logp)
        ulp = format_ulp(p, f)
        frac = None
    nonzero = None
    if not (all_live and bool(logp.amin() > f.log_zero)):
        nonzero = live & (logp > f.log_zero)
    # 1/p overflows below 2^-1024: such terms (p < 1e-301) are left out of the series part
    inv_p = torch.where(p > 2.0**-1000, 1.0 / p, 0.0)
    if not all_live:
        inv_p = inv_p.masked_fill(~live, 0.0)
    top, ref_arg = logp.max(-1, keepdim=True)
    unique = (logp == top).sum(-1) == 1
    so = _t(b.scale_overflow)
    so_any = bool(so.any())
    sh = Shared(
        valid=valid,
        live=None if all_live else live,
        all_valid=bool(valid.all()),
        p=p,
        logp=logp,
        ulp=ulp,
        inv_ulp=None if frac is not None else 1.0 / ulp,
        frac=frac,
        inv_p=inv_p,
        nonzero=nonzero,
        pmax=p.amax(-1),
        ref_arg=ref_arg[:, 0],
        unique=unique,
        scale_over=(so & valid[:, None]) if so_any else None,
        exact_sum=f.t > 24,
        kl_zero=torch.where(p > 0, p * (logp - (f.log_zero + 1.0 + 77.0 / 60.0)), 0.0),
    )
    b.cache["shared"] = sh
    return sh


@dataclass
class CellChunk:
    """Per-row results of one method on one chunk (None: nothing to add for this chunk)."""

    rows_checked: int
    temperature_overflow: torch.Tensor | None
    overflow: torch.Tensor | None
    nan: torch.Tensor | None
    nan_codes: np.ndarray | None
    underflow: torch.Tensor | None
    exact_zero: torch.Tensor | None
    log_nonfinite: torch.Tensor | None
    lost_mass: torch.Tensor | None
    max_ulp: torch.Tensor
    ulp_values: torch.Tensor
    normwise: torch.Tensor
    sum_error: torch.Tensor
    flips: torch.Tensor
    kl: torch.Tensor
    kl_rows: torch.Tensor


def _row_count(mask: torch.Tensor) -> torch.Tensor:
    import torch

    return mask.sum(-1, dtype=torch.int64)


def cell_chunk(out: Any, b: Block) -> CellChunk:  # noqa: C901 - one pass list, kept in order
    """Compute one cell's per-row quantities for one chunk."""
    import torch

    sh = block_shared(b)
    f = b.fmt
    tens = getattr(out, "tensors", None)
    if tens is not None:
        P, logq_m = tens.p.detach(), tens.logp.detach()
        over_t, sum_over_t = tens.overflow, tens.sum_overflow
    else:
        P, logq_m = _t(out.p), _t(out.logp)
        over_t = None if out.overflow is None else _t(out.overflow)
        sum_over_t = None if out.sum_overflow is None else _t(out.sum_overflow)
    valid, live = sh.valid, sh.live
    vcol = valid[:, None]

    # overflow: the temperature's own, then the method's exp and sum
    t_over = _row_count(sh.scale_over) if sh.scale_over is not None else None
    over = None
    if over_t is not None and bool(over_t.any()):
        over = (over_t & vcol) | sh.scale_over if sh.scale_over is not None else over_t & vcol
    elif sh.scale_over is not None:
        over = sh.scale_over
    per_row = _row_count(over) if over is not None else None
    if sum_over_t is not None and bool(sum_over_t.any()):
        so = (sum_over_t & valid).to(torch.int64)
        per_row = so if per_row is None else per_row + so

    P64 = P if P.dtype == torch.float64 else P.to(torch.float64)
    if sh.exact_sum:
        a, b1, b2 = exact_pieces_sum(P64, 1.5 * 2.0**26, 1.5)
        sa, sb = a.sum(-1), b1.sum(-1)  # both exact; sa - 1 and then + sb are exact too
        total = sa + sb + b2.sum(-1)
        total_m1 = ((sa - 1) + sb) + b2.sum(-1)
    else:
        total = P64.sum(-1)
        total_m1 = total - 1
    fin = torch.isfinite(total)
    if not bool(fin.all()):
        fin = torch.isfinite(P).all(-1)
    fin_rows = valid & fin
    all_fin = bool(fin_rows.all())

    nan = nan_codes = None
    if not all_fin:
        nan_m = torch.isnan(P) & vcol
        if bool(nan_m.any()):
            nan = _row_count(nan_m)
            codes = tens.nan_cause if tens is not None else out.nan_cause
            nan_codes = (
                _t(codes)[nan_m].numpy()
                if codes is not None
                else np.full(int(nan_m.sum()), 4, dtype=np.int8)
            )

    # zeros: underflow (exact p nonzero in the format), exact zeros, non-finite log p.
    # Screens first (cheap reductions, no masks): p̂ >= 0, so a zero exists iff min p̂ == 0;
    # log p̂ is all finite iff its min and max are (NaN propagates into them).
    z_any = (not all_fin) or bool(P.amin() == 0)
    lf_all = bool(torch.isfinite(logq_m.amin()) & torch.isfinite(logq_m.amax()))
    zero = P == 0 if z_any else None
    lfin = None
    if not lf_all:
        lfin = torch.isfinite(logq_m)
        zero = (zero if zero is not None else P == 0) | torch.isneginf(logq_m)
        z_any = True
    under = exact_zero = lost_mass = log_nf = None
    if z_any and bool(zero.any()):
        nz = sh.nonzero
        lost = zero & (nz if nz is not None else vcol)
        if per_row is not None:
            # zeros in a row whose exp or sum overflowed are lost to the overflow, counted there
            lost &= (per_row == 0)[:, None]
        under = _row_count(lost)
        lost_mass = (sh.p * lost).sum(-1)
        if nz is not None:
            ez = (P == 0) & (live if live is not None else vcol) & ~nz
            exact_zero = _row_count(ez)
    else:
        zero = None
    if lfin is not None:
        log_nf = _row_count(~lfin & (live if live is not None else vcol))

    # accuracy on rows whose output is entirely finite: error in ulps and its row maxima
    if sh.frac is None:
        D = P64 - sh.p
        err = torch.mul(D, sh.inv_ulp).abs_()
    else:
        err = (P64 - sh.p).div_(sh.ulp).sub_(sh.frac)
        D = err * sh.ulp
        err.abs_()
    clean = all_fin and live is None
    if not clean:
        sel = fin_rows[:, None].expand_as(D) if live is None else live & fin_rows[:, None]
        err.masked_fill_(~sel, 0.0)
        D.masked_fill_(~sel, 0.0)
        ulp_values = err[sel]
    else:
        ulp_values = err.reshape(-1)
    max_ulp = err.amax(-1)
    if not clean:
        # rows with nothing judged (non-finite output, or every entry a mask) have no maximum
        max_ulp = max_ulp.masked_fill(~(fin_rows & sel.any(-1)), -np.inf)
    d_hi, d_lo = D.amax(-1), D.amin(-1)
    normwise = (torch.maximum(-d_lo, d_hi) / sh.pmax) / f.u
    sum_error = total_m1.abs()

    # argmax flips without an argmax pass (slow in torch): the row max, the value at the exact
    # argmax, and -- only where the max is tied -- the first index holding it
    pm = P.amax(-1, keepdim=True)
    at_ref = P.gather(-1, sh.ref_arg[:, None])
    flip = (at_ref < pm)[:, 0]
    ties = ((P == pm).sum(-1) > 1) & ~flip
    if bool(ties.any()):
        rows = ties.nonzero()[:, 0]
        flip[rows] = P[rows].argmax(-1) != sh.ref_arg[rows]
    flips = fin_rows & sh.unique & flip

    if f.t <= DIRECT_KL_MAX_T:
        kl = _kl_direct(sh, P64, live, f) + total_m1
    else:
        kl = _kl_series(sh, P64, D, zero, fin_rows, all_fin, live, f)

    return CellChunk(
        rows_checked=int(valid.sum()),
        temperature_overflow=t_over,
        overflow=per_row,
        nan=nan,
        nan_codes=nan_codes,
        underflow=under,
        exact_zero=exact_zero,
        log_nonfinite=log_nf,
        lost_mass=lost_mass,
        max_ulp=max_ulp,
        ulp_values=ulp_values,
        normwise=normwise,
        sum_error=sum_error,
        flips=flips,
        kl=kl,
        kl_rows=fin_rows,
    )


def _kl_direct(sh: Shared, P64: torch.Tensor, live: torch.Tensor | None, f: FloatFormat):  # type: ignore[no-untyped-def]
    """sum p (log p - log q), q = max(p̂, s/2): directly, for 16-bit formats (the caller adds
    sum p̂ - 1 for the generalised KL).

    Their KL (~u^2 ~ 1e-5) is far above the float64 logarithms' cancellation (~1e-15), and
    log(0) = -inf clamps to log(s/2) by itself.
    """
    import torch

    with np.errstate(divide="ignore", invalid="ignore"):  # numpy's log is the faster one here
        t = torch.from_numpy(np.log(P64.numpy()))
    t.clamp_(min=f.log_zero).sub_(sh.logp).mul_(sh.p)
    if live is not None:
        t.masked_fill_(~live, 0.0)
    return -t.sum(-1)


def _kl_series(sh, P64, D, zero, fin_rows, all_fin, live, f):  # type: ignore[no-untyped-def]
    """Generalised KL(ref || p̂) per row for float32 and float64 cells (see CellAccumulator).

    Its terms p log(p/p̂) - p + p̂ = p (r - log1p(r)), r = (p̂ - p)/p = D/p, are summed as the
    series D r (1/2 - r/3 + r^2/4 - r^3/5): no log p - log p̂ that would cancel, no 1 - sum p̂.
    """
    import torch

    # Each row takes as many series terms as its max|r| needs for 2^-20 relative accuracy;
    # where |r| > 2^-6 or p̂ = 0 the exact logarithm is used instead.
    r = D * sh.inv_p
    rmax = torch.maximum(-r.amin(-1), r.amax(-1))
    qk = D * r
    kl = 0.5 * qk.sum(-1)
    coef = (-1.0 / 3.0, 0.25, -0.2)
    for k, lim in enumerate((2.0**-20, 2.0**-10, 2.0**-7)):
        need = rmax > lim
        if not bool(need.any()):
            break
        qk.mul_(r)
        kl = kl + torch.where(need, coef[k] * qk.sum(-1), 0.0)
    if zero is not None:
        # p̂ = 0 (r = -1, every series term in use): swap the series' p 77/60 for the exact
        # p (log p - log(s/2)) - p, precomputed per block as kl_zero
        kl = kl + (sh.kl_zero * zero).sum(-1)
    if bool(rmax.amax() > KL_SERIES_LIMIT):
        irregular = r.abs() > KL_SERIES_LIMIT
        if zero is not None:
            irregular &= ~zero
        if not all_fin:
            irregular &= fin_rows[:, None]
        if live is not None:
            irregular &= live
        if bool(irregular.any()):
            idx = irregular.nonzero(as_tuple=True)
            pi, li, Pi, ri, Di = sh.p[idx], sh.logp[idx], P64[idx], r[idx], D[idx]
            logq = torch.log(Pi).clamp(min=f.log_zero)
            exact = torch.where(pi > 0, pi * (li - logq), 0.0)
            series = Di * ri * (0.5 + ri * (-1.0 / 3.0 + ri * (0.25 - 0.2 * ri)))
            kl = kl.index_add(0, idx[0], exact + Di - series)
    return kl
