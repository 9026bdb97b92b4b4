"""What every cell of a (format, temperature) block shares: the reference as kernel inputs.

Computed once per block (:func:`block_shared`, one pass of the kernel
smcheck.kernels.blockrows.block_rows) and cached on it; the cell kernel
(smcheck.analysis.cellkernel) reads it for each method. The rare elements whose ulp or
sub-float64 part needs more than float64 -- reference values within their error of a power of
two (smcheck.analysis.binades) and the double-double cells' vanishing p (long double) -- are
found by the kernel's per-row count and settled here, on those rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from smcheck.analysis.binades import (
    DD_TOLERANCE,
    FLOAT64_TOLERANCE,
    near_bits,
    near_powers,
    upper_binade,
)
from smcheck.analysis.logerror import DD_TOP_REST
from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import DDReference

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

F64 = npt.NDArray[np.float64]
NONE2 = np.empty((0, 0))
"""An absent per-element float64 input of a kernel."""
NONE2_U8 = np.empty((0, 0), np.uint8)


def as_array(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """A C-contiguous numpy array of ``dtype`` from a numpy array or a CPU tensor (no copy when
    it already is one)."""
    if not isinstance(a, np.ndarray):
        a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    if a.dtype == np.bool_ and dtype == np.uint8:
        return np.ascontiguousarray(a).view(np.uint8)
    return np.ascontiguousarray(a, dtype=dtype)


def value_bytes(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor's rows as the bytes of its values (uint8, no copy where contiguous): how
    the kernels take a format's own values (16-bit ones through int16: numpy has no bfloat16)."""
    import torch

    t = t.detach().contiguous()
    return (t.view(torch.int16) if t.element_size() == 2 else t).numpy().view(np.uint8)


def format_ulp(a: np.ndarray, f: FloatFormat) -> F64:
    """Spacing of ``f`` at |a| (float64), the subnormal one below tiny (as the kernels' own
    scalar format_ulp, for the few elements settled here)."""
    expo = ((np.asarray(a, np.float64).view(np.int64) >> 52) & 0x7FF) - 1023
    return np.ldexp(1.0, np.maximum(expo, f.emin) + (1 - f.t))


@dataclass
class Shared:
    """Per-block kernel inputs every method of the block reads."""

    blk: tuple[np.ndarray, ...]
    """(valid, live, p, log p, log p's low part, frac): the cell kernel's block inputs. p and
    log p are the reference rounded to float64; the last two are empty but for double-double
    cells, where frac = (p - p rounded) / ulp."""
    rows: tuple[np.ndarray, ...]
    """Per row: exact argmax, whether unique, p_max, top_low (p_max's part below its float64
    value where p_max > 1/2, formats up to float32), log_top (the top class's log p as
    log1p(-rest), NaN where the reference's own is used)."""
    ov: tuple[np.ndarray, np.ndarray, F64]
    """ulp(p) of the elements whose binade was decided exactly: row starts, columns, ulp."""
    fmt: tuple[int, int, float, float, bool, bool, bool]
    """(t, emin, u, log_zero, double-double, exact sum, direct KL) for the cell kernel."""
    scale_over: np.ndarray
    """Elements of valid rows that became +inf when divided by T (uint8; empty: none)."""
    temperature_overflow: np.ndarray | None
    """Per row, how many of them (None: none in the block)."""
    deepest: F64
    """Per row, the most negative exact log p of a live entry, negated (-inf: none)."""
    zeros: tuple[np.ndarray, F64]
    """Per row, the live entries whose exact p rounds to 0 in the format, and their exact mass
    (what every method's correctly rounded output drops)."""
    rows_checked: int
    saturated: np.ndarray
    """Per row, whether it is judged and its exact p_max rounds to 1 in the format (uint8)."""


def block_shared(b: Block) -> Shared:
    """Compute (once) and cache what every cell of block ``b`` needs."""
    from smcheck.kernels.blockrows import block_rows
    from smcheck.kernels.cellmetrics import DIRECT_KL_MAX_T

    got = b.cache.get("shared")
    if got is not None:
        return got
    f, ref = b.fmt, b.ref
    dd = isinstance(ref, DDReference)
    valid, live = as_array(b.valid, np.uint8), as_array(b.live, np.uint8)
    if dd:
        q = ref.parts
        p, logp = as_array(ref.p_hi), as_array(ref.logp_hi)
        ph, pl, lo = as_array(q.ph), as_array(q.pl), as_array(q.ll)
    else:
        p, logp = as_array(ref.p), as_array(ref.logp)
        ph = pl = lo = NONE2
    tol = DD_TOLERANCE if dd else FLOAT64_TOLERANCE
    near = (*near_bits(f, tol), 2.0 * f.tiny if dd else 0.0)
    log_rest = DD_TOP_REST if dd else 0.5
    arg, unique, pmax, top_low, log_top, deepest, cand, frac, sat, zeros, zero_mass = block_rows(
        p, logp, live, valid, ph, pl, (f.t, f.emin, f.log_zero), near, log_rest
    )
    if dd and cand.any():
        _vanishing_frac(ref, p, live, cand, frac, f)
    ov = _exact_binades(b, p, live, valid, cand, frac, tol)
    so = as_array(b.scale_overflow, np.uint8) & valid[:, None]
    so_any = bool(so.any())
    sh = Shared(
        blk=(valid, live, p, logp, lo, frac),
        rows=(arg, unique, pmax, top_low, log_top),
        ov=ov,
        fmt=(f.t, f.emin, f.u, f.log_zero, dd, f.t > 24, f.t <= DIRECT_KL_MAX_T, f.neg_overflow),
        scale_over=so if so_any else NONE2_U8,
        temperature_overflow=so.sum(-1, dtype=np.int64) if so_any else None,
        deepest=deepest,
        zeros=(zeros, zero_mass),
        rows_checked=int(np.count_nonzero(valid)),
        saturated=sat,
    )
    b.cache["shared"] = sh
    return sh


def _vanishing_frac(
    ref: DDReference, p: F64, live: np.ndarray, cand: np.ndarray, frac: F64, f: FloatFormat
) -> None:
    """frac where p is below 2 tiny (subnormal or vanishing in float64): through long double."""
    rows = np.flatnonzero(cand)
    r, c = np.nonzero((p[rows] < f.tiny * 2.0) & (live[rows] != 0))
    if r.size == 0:
        return
    idx = (rows[r], c)
    q = ref.parts
    ph, pl, e = (as_array(a, None)[idx] for a in (q.ph, q.pl, q.e))
    exact = np.ldexp(ph.astype(np.longdouble) + pl, e)
    frac[idx] = ((exact - p[idx]) / format_ulp(p[idx], f)).astype(np.float64)


def _exact_binades(
    b: Block, p: F64, live: np.ndarray, valid: np.ndarray, cand: np.ndarray, frac: F64, tol: float
) -> tuple[np.ndarray, np.ndarray, F64]:
    """ulp(p) (and the float64 cells' frac, in those ulps) where p's binade had to be decided
    exactly: reference values within their error of a power of two, as per-row CSR."""
    n_rows = p.shape[0]
    starts = np.zeros(n_rows + 1, np.int64)
    rows = np.flatnonzero((cand > 0) & (valid != 0))
    if rows.size == 0 or b.logits is None:
        return starts, np.empty(0, np.int64), np.empty(0)
    sub = p[rows]
    r, c = np.nonzero(near_powers(sub, b.fmt, tol) & (live[rows] != 0))
    if r.size == 0:
        return starts, np.empty(0, np.int64), np.empty(0)
    idx = (rows[r], c)
    pv = p[idx]
    m, e = np.frexp(pv)  # p = m 2^e, m in [0.5, 1): the power is 2^(e-1) or 2^e
    power = np.ldexp(1.0, np.where(m < 0.75, e - 1, e))
    upper = upper_binade(b.logits, b.divisor, idx[0], idx[1], power)
    # any value inside the decided binade has its spacing: the power itself, or 3/4 of it
    new = format_ulp(np.where(upper, power, 0.75 * power), b.fmt)
    if frac.size:
        frac[idx] = frac[idx] * (format_ulp(pv, b.fmt) / new)
    starts[1:] = np.cumsum(np.bincount(idx[0], minlength=n_rows))
    return starts, idx[1].astype(np.int64), new
