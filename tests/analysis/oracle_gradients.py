"""The gradient statistics as torch/numpy ops, before smcheck.kernels.gradients fused them: kept
only as the differential tests' oracle (tests/kernels/test_gradients.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smcheck.analysis.cells import Block
from smcheck.analysis.gradients import GradientAccumulator

if TYPE_CHECKING:
    import torch

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ExactGradient:
    """The exact loss and gradient of one chunk in one (format, temperature), shared by methods."""

    start: int
    target: npt.NDArray[np.int64]
    rows: BoolArray
    """Rows judged: valid for the methods, target class not masked."""
    masked_target: BoolArray
    """Valid rows whose target is masked while another class is live: exact loss infinite."""
    g: npt.NDArray[np.floating]
    """``p - onehot(t)`` in the reference's working precision."""
    norm: npt.NDArray[np.floating]
    """``max |g|`` per row."""
    loss: npt.NDArray[np.floating]
    """``-log p[t]`` per row, accurate also when p[t] is close to 1."""
    nonzero: BoolArray
    """Elements whose exact gradient rounds to a nonzero value of the format."""
    saturated: BoolArray
    """Judged rows whose top probability rounds to 1 in the format (not exactly one-hot)."""


def exact_gradient(b: Block, target: npt.NDArray[np.int64]) -> ExactGradient:
    """Exact cross-entropy loss and gradient of a block for the given target class per row."""
    ref, fmt = b.ref, b.fmt
    r = np.arange(target.shape[0])
    target_live = b.live[r, target]
    rows = b.valid & target_live
    # masked entries have p = 0 already; rows not judged may hold NaN and are never read
    g = np.array(ref.p, copy=True)
    g[r, target] = 0
    # 1 - p[t] summed from the other classes: no cancellation when p[t] is close to 1
    rest = g.sum(-1)
    g[r, target] = -rest
    with np.errstate(invalid="ignore", divide="ignore"):
        # -log p[t] = -log1p(-rest) keeps its digits as p[t] -> 1; below 1/2 log p[t] is accurate
        loss = np.where(rest < 0.5, -np.log1p(-np.minimum(rest, 0.5)), -ref.logp[r, target])
        # the target's |g| = rest; every other |g| = p, which rounds to 0 iff log p <= log_zero
        nonzero = b.nonzero
        nonzero[r, target] = np.log(rest) > fmt.log_zero  # as Block.nonzero, exact for float64
        norm = np.maximum(rest, g.max(-1))  # max |g|: the others' g = p >= 0, the target's -rest
        top = np.argmax(ref.logp, axis=-1)  # masks are -inf in logp
        rest_top = rest.copy()
        other = np.flatnonzero(top != target)
        if other.size:  # argmin or given targets: 1 - p_max from the others, as above
            q = np.array(ref.p[other], copy=True)
            q[np.arange(other.size), top[other]] = 0
            rest_top[other] = q.sum(-1)
        # where every other p underflows the reference, 1 - p_max in the log domain: the
        # others' logsumexp (-inf: the top is the only live entry, p_max exactly 1)
        lp = np.array(ref.logp, np.float64, copy=True)
        lp[r, top] = -np.inf
        log_rest = np.logaddexp.reduce(lp, axis=-1)
        below = (rest_top == 0) & (log_rest > -np.inf) & (log_rest <= np.log(fmt.u / 2))
    # p_max rounds to 1 iff 1 - p_max <= u/2 (the tie 1 - u/2 rounds to even, i.e. to 1)
    saturated = rows & (((rest_top > 0) & (rest_top <= fmt.u / 2)) | below)
    return ExactGradient(
        b.start,
        target,
        rows,
        b.valid & ~target_live & b.live.any(-1),
        g,
        norm,
        loss,
        nonzero,
        saturated,
    )


class OracleGradientAccumulator(GradientAccumulator):
    """GradientAccumulator with its torch-op ``add``: the same fields, results and merging."""

    def add(self, g: torch.Tensor | None, logp: torch.Tensor, e: ExactGradient) -> None:
        """Fold one chunk in: ``g`` the computed gradient, ``logp`` the method's log p (both in
        the format)."""
        import torch

        if g is None:
            self.computed = False
            return
        start, rows = e.start, e.rows
        rcol = torch.from_numpy(rows)[:, None]
        self.rows_checked += int(rows.sum())
        self.masked_target.add(e.masked_target.astype(np.int64), start)
        tgt = torch.from_numpy(e.target)[:, None]
        loss = -logp.gather(-1, tgt)[:, 0].to(torch.float64).numpy()
        held = e.loss < -self.fmt.neg_overflow  # beyond the format, inf is the loss rounded
        self.loss_inf.add((rows & np.isinf(loss) & held).astype(np.int64), start)
        self.loss_nan.add((rows & np.isnan(loss)).astype(np.int64), start)
        nan = torch.isnan(g)
        nan_rows = np.zeros(len(rows), bool)
        if bool(nan.any()):  # a screen: most chunks have none
            self.nan.add((nan & rcol).sum(-1).numpy(), start)
            nan_rows = (nan & rcol).any(-1).numpy()
            zero = torch.isneginf(logp).any(-1).numpy()
            self.nan_loss_rows += int((nan_rows & np.isnan(loss)).sum())
            self.nan_zero_rows += int((nan_rows & ~np.isnan(loss) & zero).sum())
        zero = g == 0
        if bool(zero.any()):
            nonzero = torch.from_numpy(e.nonzero)
            dead = (zero & nonzero & rcol).numpy()
            self.dead.add(dead.sum(-1), start)
            if dead.any():  # what the format lost: the largest exact |g| of a dead element
                lost = np.abs(e.g, where=dead, out=np.zeros(e.g.shape, e.g.dtype)).max(-1)
                self.dead_lost.add(np.where(dead.any(-1), lost, np.nan).astype(np.float64), start)
            vanished = zero.all(-1) & nonzero.any(-1)
            self.vanished.add((rows & vanished.numpy()).astype(np.int64), start)
        # saturation is the exact p's: NaN gradient rows count too
        self.saturated.add(e.saturated.astype(np.int64), start)
        if e.g.dtype == np.float64:
            diff = (g.to(torch.float64) - torch.from_numpy(e.g)).abs_().amax(-1).numpy()
        else:  # an exact gradient wider than float64 (float64 cells): in numpy
            d = g.to(torch.float64).numpy().astype(e.g.dtype)
            d -= e.g
            diff = np.abs(d, out=d).max(-1)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # normwise error; NaN rows stay NaN and MaxStat skips them (they count under nan)
            norm = e.norm
            # diff + inf: inf for an error over an exact 0, NaN for a NaN row (left out)
            rel = np.where(norm > 0, diff / norm, np.where(diff == 0, 0.0, diff + np.inf))
            self.rel_error.add(np.where(rows, rel, np.nan).astype(np.float64), start)
            fin = rows & np.isfinite(loss)
            err = np.abs(loss - e.loss)
            lrel = np.where(e.loss > 0, err / e.loss, np.where(err == 0, 0.0, np.inf))
            self.loss_abs.add(np.where(fin, err, np.nan).astype(np.float64), start)
            self.loss_rel.add(np.where(fin, lrel, np.nan).astype(np.float64), start)
            # saturated rows: a NaN gradient, or a finite one off by more than u/2 somewhere
            sat = e.saturated & ~nan_rows
            self.saturated_nan_rows += int((e.saturated & nan_rows).sum())
            lossy = sat & (diff > self.fmt.u / 2)
            self.saturated_lossy_rows += int(lossy.sum())
            self.saturated_lost.add(np.where(lossy, diff, np.nan).astype(np.float64), start)
        if self.keep:
            s = self.shown
            s.losses += loss.tolist()
            s.exact_losses += e.loss.astype(np.float64).tolist()
            s.gradients += g.to(torch.float64).tolist()
            s.exact_gradients += e.g.astype(np.float64).tolist()
