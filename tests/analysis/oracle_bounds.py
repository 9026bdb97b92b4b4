"""The error bounds' row features as numpy ops, before smcheck.kernels.bounds fused them: kept
only as the differential tests' oracle (tests/kernels/test_bounds.py)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from smcheck.analysis.bounds import RowFeatures
from smcheck.dtypes import FloatFormat
from smcheck.reference.exact import Reference

Array = npt.NDArray[np.float64]


def condition_number(d: Array, g: Array, live: npt.NDArray[np.bool_]) -> Array:
    """``max_j (g_j / g_max)·[d_j(1 - g_j) + sum_{i != j} g_i d_i]`` per row, with d = x_max - x.

    The normwise relative condition number of softmax for relative perturbations of the shifted
    logits x - x_max (softmax is shift invariant, so a stable algorithm's first step is that
    shift; without it any row of large logits would count as ill-conditioned): a relative
    change u in every x_i - x_max moves p by at most this many u in ``||·||_inf / ||p||_inf``.
    """
    d = np.where(live, d, 0.0)
    g = np.where(live, g, 0.0)
    weighted = (g * d).sum(-1, keepdims=True)
    kappa = d * (1 - g) + np.maximum(weighted - g * d, 0.0)
    gmax = g.max(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(live, g / gmax * kappa, 0.0).max(-1)


def row_features(
    x: npt.NDArray[np.floating], ref: Reference, live: npt.NDArray[np.bool_], fmt: FloatFormat
) -> RowFeatures:
    """The per-row quantities for a chunk of (scaled) logits already in the format."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        xl = np.where(live, x, -np.inf).astype(np.float64)
        top = xl.max(-1)
        low = np.where(live, x, np.inf).astype(np.float64).min(-1)
        lse = np.asarray(ref.lse, dtype=np.float64)
        b = np.maximum(lse - top, 0.0)
        g = np.asarray(ref.p, dtype=np.float64)
        pmax = np.where(live, g, 0.0).max(-1)
        run = np.maximum.accumulate(xl, axis=-1)
        jump = run[:, 1:] - run[:, :-1]
        rise = (jump > 0) & np.isfinite(run[:, :-1])
        # how close to the underflow threshold an exact value must be to possibly land below it
        ln_tiny = math.log(fmt.tiny)
        margin = 4 * fmt.u * (1 + abs(ln_tiny))
        logp = np.asarray(ref.logp, dtype=np.float64)
        n = live.sum(-1).astype(np.float64)
        eps_ref = float(np.finfo(ref.p.dtype).eps)
        return RowFeatures(
            n=n,
            top=top,
            span=top - low,
            lse=lse,
            b=b,
            pmax=pmax,
            rises=rise.sum(-1).astype(np.float64),
            big_rises=(rise & (jump > -ln_tiny - margin)).sum(-1).astype(np.float64),
            k_sum=(live & (xl - top[:, None] < ln_tiny + margin)).sum(-1).astype(np.float64),
            k_naive=(live & (xl < ln_tiny + margin)).sum(-1).astype(np.float64),
            out_under=(live & (logp < ln_tiny + margin)).any(-1),
            cond=condition_number(top[:, None] - xl, g, live),
            ref_allow=(np.log(np.maximum(n, 1)) + 9) * eps_ref / fmt.u,
        )
