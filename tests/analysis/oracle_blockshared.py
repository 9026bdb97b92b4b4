"""Test oracle (torch ops, replaced by smcheck.kernels.blockrows.block_rows).

What every cell of a (format, temperature) block shares: the reference as tensors, ulp(p), masks.

Computed once per block (:func:`block_shared`) and cached on it; the cell kernel
(smcheck.analysis.cellkernel) reads it for each method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.analysis.binades import DD_TOLERANCE, FLOAT64_TOLERANCE, near_powers, upper_binade
from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import DDReference

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block


def as_tensor(a: Any) -> torch.Tensor:
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
    rest: torch.Tensor
    """Per row, the sum of the probabilities other than the top one (1 - p_max, no cancellation)."""
    top_low: torch.Tensor | None
    """Per row, p_max - its float64 value, from ``rest`` where p_max > 1/2 (0 elsewhere), for
    formats up to float32 (None: nothing to correct). Near 1 the float64 p_max is off by up to
    2^-53, which would swamp p̂ - p of a saturated row; float64 cells carry it in ``frac``."""


def block_shared(b: Block) -> Shared:
    """Compute (once) and cache what every cell of block ``b`` needs."""
    import torch

    got = b.cache.get("oracle_shared")
    if got is not None:
        return got
    f, ref = b.fmt, b.ref
    valid = as_tensor(b.valid)
    live = as_tensor(b.live)
    all_live = bool(live.all())
    if isinstance(ref, DDReference):
        p, logp = as_tensor(ref.p_hi), as_tensor(ref.logp_hi)
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
        p, logp = as_tensor(ref.p), as_tensor(ref.logp)
        ulp = format_ulp(p, f)
        frac = None
    ulp, frac = _exact_binades(b, p, ulp, frac)
    nonzero = None
    if not (all_live and bool(logp.amin() > f.log_zero)):
        nonzero = live & (logp > f.log_zero)
    # 1/p overflows below 2^-1024: such terms (p < 1e-301) are left out of the series part
    inv_p = torch.where(p > 2.0**-1000, 1.0 / p, 0.0)
    if not all_live:
        inv_p = inv_p.masked_fill(~live, 0.0)
    top, ref_arg = logp.max(-1, keepdim=True)
    unique = (logp == top).sum(-1) == 1
    # the row's other probabilities, summed without the top one: no cancellation near p = 1
    rest = p.scatter(-1, ref_arg, 0.0).sum(-1)
    top_low = None
    if frac is None:
        near_one = (rest < 0.5) & (rest > 0) & valid
        if bool(near_one.any()):
            p_top = p.gather(-1, ref_arg)[:, 0]
            top_low = torch.where(near_one, (1.0 - p_top) - rest, 0.0)
    so = as_tensor(b.scale_overflow)
    so_any = bool(so.any())
    sh = Shared(
        valid=valid,
        live=None if all_live else live,
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
        rest=rest,
        top_low=top_low,
    )
    b.cache["oracle_shared"] = sh
    return sh


def _exact_binades(b: Block, p: torch.Tensor, ulp: torch.Tensor, frac: torch.Tensor | None):  # type: ignore[no-untyped-def]
    """ulp(p) (and the float64 cells' frac, in those ulps) where p's binade had to be decided
    exactly: reference values within their error of a power of two (smcheck.analysis.binades)."""
    import torch

    near = near_powers(p.numpy(), b.fmt, DD_TOLERANCE if frac is not None else FLOAT64_TOLERANCE)
    near = torch.from_numpy(near) if near.any() else None
    if near is None or b.logits is None:
        return ulp, frac
    idx = (near & as_tensor(b.valid)[:, None]).nonzero(as_tuple=True)
    if idx[0].numel() == 0:
        return ulp, frac
    m, e = np.frexp(p[idx].numpy())  # p = m 2^e, m in [0.5, 1): the power is 2^(e-1) or 2^e
    power = np.ldexp(1.0, np.where(m < 0.75, e - 1, e))
    upper = upper_binade(b.logits, b.divisor, idx[0].numpy(), idx[1].numpy(), power)
    # any value inside the decided binade has its spacing: the power itself, or 3/4 of it
    new = format_ulp(torch.from_numpy(np.where(upper, power, 0.75 * power)), b.fmt)
    if frac is not None:
        frac = frac.index_put(idx, frac[idx] * (ulp[idx] / new))
    return ulp.index_put(idx, new), frac
