"""The per-chunk work of CellAccumulator.add: one fused kernel pass over a method's output.

Everything a method's metrics share with the other methods of its (format, temperature) block
-- the reference, its argmax, p_max, the exact binades -- is computed once per block
(smcheck.analysis.blockshared). Per cell, smcheck.kernels.cellmetrics.cell_metrics reads p̂ and
log p̂ once per row and returns every per-row quantity below. Definitions are those of
docs/design.md §4; see cells.CellAccumulator.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.analysis.blockshared import NONE2_U8, as_array, block_shared, value_bytes
from smcheck.analysis.logerror import LogErrors
from smcheck.analysis.stats import Bins
from smcheck.methods.base import NanCause

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.cells import Block

NONE1_U8 = np.empty(0, np.uint8)
NONE1 = np.empty(0)
HALF = ("float16", "bfloat16")
"""The 16-bit formats whose outputs the kernel reads in their own bits (_outputs)."""


@dataclass
class CellChunk:
    """Per-row results of one method on one chunk (None: nothing to add for this chunk)."""

    rows_checked: int
    temperature_overflow: torch.Tensor | None
    overflow: torch.Tensor
    sum_overflow: torch.Tensor | None
    """Per row, 1 where the sum of exp became +inf while no term did (a part of overflow)."""
    nan: torch.Tensor | None
    nan_codes: np.ndarray | None
    underflow: torch.Tensor
    exact_zero: torch.Tensor
    log_nonfinite: torch.Tensor
    log_of_zero: torch.Tensor
    """Per row, log p̂ = -inf (0 in a row that overflowed: its zeros are the overflow's)."""
    lost_mass: torch.Tensor
    max_ulp: torch.Tensor
    ulp_bins: Bins
    """The errors in ulps of the judged elements, as histogram bins (values while few)."""
    normwise: torch.Tensor
    sum_error: torch.Tensor
    flips: torch.Tensor
    unique: np.ndarray
    """Per row, whether the exact maximum is unique (uint8, the block's): only such a row has an
    argmax to flip or to lose."""
    saturated: np.ndarray
    """Per row, 1 where the exact p_max rounds to 1 in the format (the block's, every method's)."""
    kl: torch.Tensor
    kl_rows: torch.Tensor
    """Rows judged for accuracy: valid, and the output entirely finite."""
    log: LogErrors


_local = threading.local()


def _workspace() -> np.ndarray:
    """This thread's zeroed histogram workspace for the kernel's row blocks (calloc'd: only
    the pages of bins ever hit are touched)."""
    from smcheck.kernels import BLOCKS_PER_THREAD, max_threads
    from smcheck.kernels.cellmetrics import HIST_BINS

    w = getattr(_local, "work", None)
    if w is None:
        blocks = BLOCKS_PER_THREAD * max_threads()
        w = _local.work = np.zeros((blocks, 2, HIST_BINS), np.int64)
    return w


def _outputs(out: Any, fmt: str) -> tuple[Any, ...]:
    """A method's output as the kernel reads it: p̂ and log p̂ (the bits of the cell's 16-bit
    format ``fmt`` as uint16 where both are in it: the kernel reads them as they are; float32
    for the formats up to float32, exact; else float64), the overflow masks (uint8, empty where
    absent), and a function giving the NaN causes."""
    tens = getattr(out, "tensors", None)
    if tens is not None:
        import torch

        p, lq = tens.p.detach(), tens.logp.detach()
        if fmt in HALF and p.dtype == lq.dtype == getattr(torch, fmt):
            p, lq = (value_bytes(a).view(np.uint16) for a in (p, lq))
        else:
            wide = p.dtype == torch.float64 or lq.dtype == torch.float64
            dt = torch.float64 if wide else torch.float32  # exact for 16-bit formats
            p, lq = p.to(dt).contiguous().numpy(), lq.to(dt).contiguous().numpy()
        ovf, sovf, cause = tens.overflow, tens.sum_overflow, tens.nan_causes
    else:
        p, lq = as_array(out.p), as_array(out.logp)
        ovf, sovf, cause = out.overflow, out.sum_overflow, lambda: out.nan_cause
    return (
        p,
        lq,
        NONE2_U8 if ovf is None else as_array(ovf, np.uint8),
        NONE1_U8 if sovf is None else as_array(sovf, np.uint8),
        cause,
    )


def _nan_codes(p: np.ndarray, t: int, valid: np.ndarray, causes: Any, count: int) -> np.ndarray:
    """The cause code of each NaN probability of the valid rows (OTHER where not given);
    ``causes()`` gives the codes (computed only now: a whole pass). ``p`` as _outputs gives it
    (uint16: the bits of the format of precision t)."""
    cause = causes()
    if cause is None:
        return np.full(count, int(NanCause.OTHER), dtype=np.int8)
    if p.dtype == np.uint16:  # NaN: the exponent's bits all ones, the significand's not zero
        nan = (p & 0x7FFF) > ((1 << (16 - t)) - 1) << (t - 1)
    else:
        nan = np.isnan(p)
    return as_array(cause, None)[nan & (valid[:, None] != 0)]


def _fronts(slots: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray:
    """The values at the front of each row's slot of n, row after row."""
    if int(counts.sum()) == slots.size:  # every slot full: no copy
        return slots
    return np.concatenate([slots[i * n : i * n + m] for i, m in enumerate(counts.tolist())])


def _first_pass(k: Any, args: tuple[Any, ...], shape: tuple[int, int], keep: tuple[int, int]):  # type: ignore[no-untyped-def]
    """The kernel's pass that bins the errors, and the chunk's error values (ulp, log) where
    they fit in what the exact medians may still take (None: not kept). Where every element
    of the chunk would fit, the same pass keeps them, each row from its own slot of n; else
    a second pass does, only if the judged ones fit (known from the first)."""
    rows, n = shape
    fold = [rows * n <= keep[c] for c in (0, 1)]
    slots = tuple(np.empty(rows * n) if f else NONE1 for f in fold)
    offsets = np.full((rows, 2), -1)
    if any(fold):
        offsets[:] = np.arange(0, rows * n, n)[:, None]
    ints, flts, flags, first, bins = k.cell_metrics(*args, slots, offsets)
    counts = ints[:, [k.N_ULP, k.N_LOG]]
    total = counts.sum(0)
    fits = [0 < int(total[c]) <= keep[c] for c in (0, 1)]
    vals: list[np.ndarray | None] = [None, None]
    for c in (0, 1):
        if fits[c] and fold[c]:
            vals[c] = _fronts(slots[c], counts[:, c], n)
    later = [f and not d for f, d in zip(fits, fold, strict=True)]
    if any(later):
        kept = tuple(np.empty(int(total[c]) if later[c] else 0) for c in (0, 1))
        offsets = np.zeros(counts.shape, np.int64)  # C order, as compiled (counts is F order)
        np.cumsum(counts[:-1], axis=0, out=offsets[1:])
        k.cell_metrics(*args, kept, offsets, False)
        vals = [v if later[c] else vals[c] for c, v in enumerate(kept)]
    return ints, flts, flags, first, bins, vals


def cell_chunk(out: Any, b: Block, keep: tuple[int, int] = (-1, -1)) -> CellChunk:
    """Compute one cell's per-row quantities for one chunk.

    Args:
        out: the method's output (a MethodOutput; a framework one is read through its tensors).
        b: the block the output belongs to.
        keep: how many error values (ulp, log) the cell's exact medians may still take
            (Histogram.room); a chunk whose judged count fits returns them with its bins.
    """
    import torch

    from smcheck.kernels import cellmetrics as k

    sh = block_shared(b)
    p, lq, ovf, sovf, cause = _outputs(out, b.fmt.name)
    raw = (p.view(np.uint8), lq.view(np.uint8), ovf, sovf, sh.scale_over)  # one signature
    args = (raw, sh.blk, sh.rows, sh.ov, sh.fmt, _workspace())
    try:
        ints, flts, flags, first, bins, (vu, vl) = _first_pass(k, args, p.shape, keep)
    except BaseException:  # an error or ^C between filling and emptying the histogram slabs:
        _local.work = None  # the next call gets a clean workspace (a thread may still write here)
        raise
    n_nan = int(ints[:, k.NAN].sum())
    t = torch.from_numpy
    fin = flags[:, k.FINITE].view(np.bool_)
    return CellChunk(
        rows_checked=sh.rows_checked,
        temperature_overflow=None
        if sh.temperature_overflow is None
        else t(sh.temperature_overflow),
        overflow=t(ints[:, k.OVERFLOW]),
        sum_overflow=t((sovf & sh.blk[0]).astype(np.int64)) if sovf.any() else None,
        nan=t(ints[:, k.NAN]) if n_nan else None,
        nan_codes=_nan_codes(p, b.fmt.t, sh.blk[0], cause, n_nan) if n_nan else None,
        underflow=t(ints[:, k.UNDERFLOW]),
        exact_zero=t(ints[:, k.EXACT_ZERO]),
        log_nonfinite=t(ints[:, k.LOG_NONFINITE]),
        log_of_zero=t(ints[:, k.LOG_ZERO]),
        lost_mass=t(flts[:, k.LOST_MASS]),
        max_ulp=t(flts[:, k.MAX_ULP]),
        ulp_bins=Bins(int(first), bins[0], vu),
        normwise=t(flts[:, k.NORMWISE]),
        sum_error=t(flts[:, k.SUM_ERROR]),
        flips=t(flags[:, k.FLIP].view(np.bool_)),
        unique=sh.rows[1],
        saturated=sh.saturated,
        kl=t(flts[:, k.KL]),
        kl_rows=t(fin),
        log=LogErrors(
            t(flts[:, k.LOG_MAX_ULP]),
            t(flts[:, k.LOG_MAX_ABS]),
            Bins(int(first), bins[1], vl),
            t(ints[:, k.FINITE_AT_NEGINF]),
        ),
    )
