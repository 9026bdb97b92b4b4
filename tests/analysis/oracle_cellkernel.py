"""Test oracle: the torch-op cell metrics that smcheck.kernels.cellmetrics replaced.

The per-chunk work of CellAccumulator.add in torch: few passes, masks only where needed.

Everything a method's metrics share with the other methods of its (format, temperature) block --
the reference as tensors, ulp(p), the nonzero mask, the reference argmax -- is computed once per
block (smcheck.analysis.blockshared). Per cell, cheap whole-chunk screens (row sums, any-zero,
all-finite) decide whether the masked computations are needed at all; when a chunk is clean they
are skipped, which changes no count. Definitions are those of docs/design.md §4; see
cells.CellAccumulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from smcheck.dtypes import FloatFormat
from tests.analysis.oracle_blockshared import Shared, as_tensor, block_shared
from tests.analysis.oracle_logerror import LogErrors, log_errors
from tests.reference.oracle_doubledouble import exact_pieces_sum

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

DIRECT_KL_MAX_T = 11
"""Formats up to this precision (float16, bfloat16) take KL directly from float64 logs."""
KL_SERIES_LIMIT = 2.0**-6
"""|r| up to which KL terms use the series; beyond it (and where p̂ = 0) the exact logarithm."""


@dataclass
class CellChunk:
    """Per-row results of one method on one chunk (None: nothing to add for this chunk)."""

    rows_checked: int
    temperature_overflow: torch.Tensor | None
    overflow: torch.Tensor | None
    sum_overflow: torch.Tensor | None
    nan: torch.Tensor | None
    nan_codes: np.ndarray | None
    underflow: torch.Tensor | None
    exact_zero: torch.Tensor | None
    log_nonfinite: torch.Tensor | None
    log_of_zero: torch.Tensor | None
    lost_mass: torch.Tensor | None
    max_ulp: torch.Tensor
    ulp_values: torch.Tensor
    normwise: torch.Tensor
    sum_error: torch.Tensor
    flips: torch.Tensor
    kl: torch.Tensor
    kl_rows: torch.Tensor
    log: LogErrors


def _row_count(mask: torch.Tensor) -> torch.Tensor:
    import torch

    return mask.sum(-1, dtype=torch.int64)


class _Outputs(NamedTuple):
    """A method's output on a chunk, as tensors (None: the method reports no such thing)."""

    p: torch.Tensor
    logp: torch.Tensor
    overflow: torch.Tensor | None
    sum_overflow: torch.Tensor | None
    nan_cause: Any
    """NaN cause codes (a tensor or numpy array), or None."""


def _outputs(out: Any) -> _Outputs:
    """Read a framework output's tensors directly (no float64 copy); wrap a strict one's arrays."""
    tens = getattr(out, "tensors", None)
    if tens is not None:
        return _Outputs(
            tens.p.detach(), tens.logp.detach(), tens.overflow, tens.sum_overflow, tens.nan_causes()
        )
    return _Outputs(
        as_tensor(out.p),
        as_tensor(out.logp),
        None if out.overflow is None else as_tensor(out.overflow),
        None if out.sum_overflow is None else as_tensor(out.sum_overflow),
        out.nan_cause,
    )


def _overflow_rows(sh: Shared, o: _Outputs) -> tuple[torch.Tensor | None, ...]:
    """Per row: the temperature's own overflows, those with the method's exp and sum, and the
    sum's alone."""
    import torch

    valid, vcol = sh.valid, sh.valid[:, None]
    t_over = _row_count(sh.scale_over) if sh.scale_over is not None else None
    over = None
    if o.overflow is not None and bool(o.overflow.any()):
        over = o.overflow & vcol
        if sh.scale_over is not None:
            over = over | sh.scale_over
    elif sh.scale_over is not None:
        over = sh.scale_over
    per_row = _row_count(over) if over is not None else None
    so = None
    if o.sum_overflow is not None and bool(o.sum_overflow.any()):
        so = (o.sum_overflow & valid).to(torch.int64)
        per_row = so if per_row is None else per_row + so
    return t_over, per_row, so


def _row_sums(sh: Shared, P64: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum p̂ and sum p̂ - 1 per row (through exact pieces for float64 cells)."""
    if sh.exact_sum:
        a, b1, b2 = exact_pieces_sum(P64, 1.5 * 2.0**26, 1.5)
        sa, sb = a.sum(-1), b1.sum(-1)  # both exact; sa - 1 and then + sb are exact too
        total = sa + sb + b2.sum(-1)
        total_m1 = ((sa - 1) + sb) + b2.sum(-1)
    else:
        total = P64.sum(-1)
        total_m1 = total - 1
    return total, total_m1


def _finite_rows(
    sh: Shared, P: torch.Tensor, total: torch.Tensor, sum_over: torch.Tensor | None
) -> tuple[torch.Tensor, bool]:
    """Valid rows whose output is entirely finite and whose sum of exp did not overflow (p̂
    all 0), and whether that is every row."""
    import torch

    fin = torch.isfinite(total)
    if not bool(fin.all()):
        fin = torch.isfinite(P).all(-1)
    fin_rows = sh.valid & fin
    if sum_over is not None:
        fin_rows &= sum_over == 0
    return fin_rows, bool(fin_rows.all())


def _nan_rows(
    sh: Shared, o: _Outputs, all_fin: bool
) -> tuple[torch.Tensor | None, np.ndarray | None]:
    """NaN probabilities per row and the cause code of each (None: no NaN in the chunk)."""
    import torch

    if all_fin:
        return None, None
    nan_m = torch.isnan(o.p) & sh.valid[:, None]
    if not bool(nan_m.any()):
        return None, None
    codes = (
        as_tensor(o.nan_cause)[nan_m].numpy()
        if o.nan_cause is not None
        else np.full(int(nan_m.sum()), 4, dtype=np.int8)
    )
    return _row_count(nan_m), codes


class _Zeros(NamedTuple):
    """Zero probabilities and non-finite log-probabilities of a chunk (None: nothing to add)."""

    zero: torch.Tensor | None
    """p̂ = 0 or log p̂ = -inf, per element."""
    pzero: torch.Tensor | None
    """p̂ = 0 per element (the KL's zero terms)."""
    underflow: torch.Tensor | None
    exact_zero: torch.Tensor | None
    lost_mass: torch.Tensor | None
    log_nonfinite: torch.Tensor | None
    log_of_zero: torch.Tensor | None
    log_finite: bool
    """Whether every log p̂ of the chunk is finite."""


def _zero_rows(
    sh: Shared, o: _Outputs, per_row: torch.Tensor | None, all_fin: bool, fmt_floor: float
) -> _Zeros:
    """Underflow (exact p nonzero in the format), exact zeros and non-finite log p per row.

    Screens first (cheap reductions, no masks): p̂ >= 0, so a zero exists iff min p̂ == 0;
    log p̂ is all finite iff its min and max are (NaN propagates into them).
    """
    import torch

    P, logq_m, live, vcol = o.p, o.logp, sh.live, sh.valid[:, None]
    z_any = (not all_fin) or bool(P.amin() == 0)
    lf_all = bool(torch.isfinite(logq_m.amin()) & torch.isfinite(logq_m.amax()))
    zero = pzero = P == 0 if z_any else None
    lfin = None
    if not lf_all:
        lfin = torch.isfinite(logq_m)
        pzero = pzero if pzero is not None else P == 0
        zero = pzero | torch.isneginf(logq_m)
        z_any = True
    under = exact_zero = lost_mass = log_nf = log_zero = None
    # zeros in a row whose exp or sum overflowed are the overflow's, counted there
    kept = None if per_row is None else (per_row == 0)[:, None]
    if z_any and bool(zero.any()):  # type: ignore[union-attr]
        nz = sh.nonzero
        lost = pzero & (nz if nz is not None else vcol)  # type: ignore[operator]
        if kept is not None:
            lost &= kept
        under = _row_count(lost)
        lost_mass = (sh.p * lost).sum(-1)
        if nz is not None:
            ez = (P == 0) & (live if live is not None else vcol) & ~nz
            exact_zero = _row_count(ez if kept is None else ez & kept)
    else:
        zero = pzero = None
    if pzero is not None and not bool(pzero.any()):
        pzero = None
    if lfin is not None:
        log_nf = _row_count(~lfin & (live if live is not None else vcol))
        # -inf is the correctly rounded log p where the exact one is at or below -(max + ulp/2)
        lz = torch.isneginf(logq_m) & (live if live is not None else vcol) & (sh.logp > fmt_floor)
        log_zero = _row_count(lz if kept is None else lz & kept)
    return _Zeros(zero, pzero, under, exact_zero, lost_mass, log_nf, log_zero, lf_all)


class _Errors(NamedTuple):
    """Errors of the judged elements (rows whose output is entirely finite, live entries)."""

    D: torch.Tensor
    """p̂ - p per element, 0 where not judged."""
    ulp_values: torch.Tensor
    """Error in ulps of every judged element."""
    max_ulp: torch.Tensor
    normwise: torch.Tensor


def _ulp_errors(
    sh: Shared, P64: torch.Tensor, fin_rows: torch.Tensor, all_fin: bool, f: FloatFormat
) -> _Errors:
    """Error in ulps per element, its row maxima, and the normwise error in units of u."""
    import torch

    live = sh.live
    if sh.frac is None:
        D = P64 - sh.p
        if sh.top_low is not None:  # p_max's part below its float64 value (saturated rows)
            D.scatter_add_(-1, sh.ref_arg[:, None], -sh.top_low[:, None])
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
    normwise = (torch.maximum(-d_lo, d_hi) / sh.pmax.clamp(min=f.tiny)) / f.u
    return _Errors(D, ulp_values, max_ulp, normwise)


def _argmax_flips(
    sh: Shared, P: torch.Tensor, fin_rows: torch.Tensor, fmt: FloatFormat
) -> torch.Tensor:
    """Rows whose output's argmax is not the exact one (unique exact maximum only).

    Without an argmax pass (slow in torch): the row max, the value at the exact argmax, and --
    only where the max is tied -- the first index holding it.
    """
    import torch

    pm = P.amax(-1, keepdim=True)
    at_ref = P.gather(-1, sh.ref_arg[:, None])
    flip = (at_ref < pm)[:, 0]
    ties = ((P == pm).sum(-1) > 1) & ~flip
    if bool(ties.any()):
        rows = ties.nonzero()[:, 0]
        first = P[rows].argmax(-1)
        # a tie the correctly rounded exact values share is the tie-break's, not a flip
        exact = sh.p[rows].gather(-1, torch.stack([sh.ref_arg[rows], first], -1)).cpu().numpy()
        r = fmt.round(exact.astype(np.float64))
        flip[rows] = (first != sh.ref_arg[rows]) & torch.from_numpy(r[:, 0] != r[:, 1])
    return fin_rows & sh.unique & flip


def cell_chunk(out: Any, b: Block) -> CellChunk:
    """Compute one cell's per-row quantities for one chunk (the passes in their order).

    Args:
        out: the method's output (a MethodOutput; a framework one is read through its tensors).
        b: the block the output belongs to.
    """
    import torch

    sh = block_shared(b)
    f = b.fmt
    o = _outputs(out)
    t_over, per_row, sum_over = _overflow_rows(sh, o)
    P64 = o.p if o.p.dtype == torch.float64 else o.p.to(torch.float64)
    total, total_m1 = _row_sums(sh, P64)
    fin_rows, all_fin = _finite_rows(sh, o.p, total, sum_over)
    nan, nan_codes = _nan_rows(sh, o, all_fin)
    z = _zero_rows(sh, o, per_row, all_fin, f.neg_overflow)
    e = _ulp_errors(sh, P64, fin_rows, all_fin, f)
    sum_error = total_m1.abs()
    flips = _argmax_flips(sh, o.p, fin_rows, f)
    if f.t <= DIRECT_KL_MAX_T:
        kl = _kl_direct(sh, e.D, z.pzero, fin_rows)
    else:
        kl = _kl_series(sh, P64, e.D, z.pzero, fin_rows, all_fin)
    if z.pzero is not None:
        # an underflow (p̂ = 0 where p rounds to nonzero) makes the divergence infinite
        under = z.pzero if sh.nonzero is None else z.pzero & sh.nonzero
        kl = kl.masked_fill(under.any(-1), np.inf)
    return CellChunk(
        rows_checked=int(sh.valid.sum()),
        temperature_overflow=t_over,
        overflow=per_row,
        sum_overflow=sum_over,
        nan=nan,
        nan_codes=nan_codes,
        underflow=z.underflow,
        exact_zero=z.exact_zero,
        log_nonfinite=z.log_nonfinite,
        log_of_zero=z.log_of_zero,
        lost_mass=z.lost_mass,
        max_ulp=e.max_ulp,
        ulp_values=e.ulp_values,
        normwise=e.normwise,
        sum_error=sum_error,
        flips=flips,
        kl=kl,
        kl_rows=fin_rows,
        log=log_errors(b, sh, o.logp, z.log_finite),
    )


def _kl_direct(sh: Shared, D: torch.Tensor, pzero: torch.Tensor | None, fin_rows: torch.Tensor):  # type: ignore[no-untyped-def]
    """The generalised KL's finite terms directly, for 16-bit formats (and p̂ far from p).

    Each term p log(p/p̂) - p + p̂ is p (r - log1p(r)), r = (p̂ - p)/p = D/p: no log p of the
    reference enters (its absolute error would swamp the ~p r^2/2 of a near-exact entry), and
    no term comes out negative. Zeros of p̂ contribute 0 here (the caller makes a row with an
    underflow +inf).
    """
    import torch

    r = torch.div(D, sh.p)
    # no term goes negative: a faithfully rounded log1p(r) never exceeds r (r itself is a
    # float64 at or above the true log1p(r)), so r - log1p(r) >= 0 as computed
    t = r.sub_(torch.log1p(r)).mul_(sh.p)
    skip = sh.live
    if pzero is not None:
        skip = ~pzero if skip is None else skip & ~pzero
    if skip is not None:
        t.masked_fill_(~skip, 0.0)
    kl = t.sum(-1)
    bad = torch.isnan(kl) & fin_rows
    if bool(bad.any()):
        # p = 0 in float64 (log p < -745) under a nonzero p̂: the term's limit is p̂ itself
        rows = bad.nonzero()[:, 0]
        kl[rows] = torch.where(torch.isnan(t[rows]), D[rows], t[rows]).sum(-1)
    return kl


def _kl_series(sh, P64, D, pzero, fin_rows, all_fin):  # type: ignore[no-untyped-def]
    """The generalised KL's finite terms for float32 and float64 cells (see CellAccumulator).

    Its terms p log(p/p̂) - p + p̂ = p (r - log1p(r)), r = (p̂ - p)/p = D/p, are summed as the
    series D r (1/2 - r/3 + r^2/4 - r^3/5): no log p - log p̂ that would cancel, no 1 - sum p̂.
    Zeros of p̂ contribute 0 here (the caller makes a row with an underflow +inf).
    """
    import torch

    live = sh.live
    # Each row takes as many series terms as its max|r| needs for 2^-20 relative accuracy;
    # where |r| > 2^-6 the exact logarithm is used instead.
    r = D * sh.inv_p
    if pzero is not None:
        r.masked_fill_(pzero, 0.0)
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
    if bool(rmax.amax() > KL_SERIES_LIMIT):
        irregular = r.abs() > KL_SERIES_LIMIT
        if not all_fin:
            irregular &= fin_rows[:, None]
        if live is not None:
            irregular &= live
        if bool(irregular.any()):
            idx = irregular.nonzero(as_tuple=True)
            pi, li, Pi, ri, Di = sh.p[idx], sh.logp[idx], P64[idx], r[idx], D[idx]
            exact = torch.where(pi > 0, pi * (li - torch.log(Pi)), 0.0)
            series = Di * ri * (0.5 + ri * (-1.0 / 3.0 + ri * (0.25 - 0.2 * ri)))
            # p log(p/p̂) - p + p̂ >= 0: a term rounding makes negative is clamped to 0
            kl = kl.index_add(0, idx[0], (exact + Di).clamp(min=0.0) - series)
    return kl.clamp(min=0.0)
