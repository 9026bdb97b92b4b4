"""Cross-entropy gradients: autograd through each method in its format against the exact gradient.

The loss of a row is ``L = -log p[t]`` for its target class t, taken through the method's own
log-probabilities (``log(p)`` for the probability routes, ``z`` for the log-softmax routes), and
back-propagated in the format by PyTorch autograd. Its exact gradient with respect to the softmax
input is ``p - onehot(t)`` (docs/design.md §5). The methods' forward and backward passes stay
torch autograd (the arithmetic under test); the exact gradient and every statistic of a computed
gradient are smcheck's own and run as fused kernels (smcheck.kernels.gradients), one per block
and one per cell. Every statistic merges exactly across row-chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smcheck.analysis.blockshared import block_shared, value_bytes
from smcheck.analysis.cells import Block
from smcheck.analysis.stats import CountStat, MaxStat
from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import DDReference
from smcheck.reference.exact import Reference
from smcheck.report import model as rm
from smcheck.sources.rows import WORK_ARRAYS_PER_ELEMENT, RowView

if TYPE_CHECKING:
    import torch

    from smcheck.methods.base import FrameworkFn, MethodOutput
    from smcheck.methods.framework import TorchResult

BoolArray = npt.NDArray[np.bool_]

GRADIENT_ARRAYS_PER_ELEMENT = 32
"""Extra float64-sized arrays alive per input element with gradients on (autograd's saved tensors
and gradients, the exact gradient): 30 in all were measured with them, 21 more than without
(tests/benchmarks/bench_chunk_memory.py), so the two constants together leave a margin of 2x."""


def gradient_budget(memory_budget: int) -> int:
    """The share of ``memory_budget`` that sizes row-chunks when gradients run as well."""
    w = WORK_ARRAYS_PER_ELEMENT
    return memory_budget * w // (w + GRADIENT_ARRAYS_PER_ELEMENT)


@dataclass(frozen=True)
class ExactGradient:
    """The exact loss and gradient of one chunk in one (format, temperature), shared by methods.

    The gradient ``p - onehot(t)`` is never materialised: the cells' kernel reads it from the
    reference's pieces (see smcheck.kernels.gradients).
    """

    start: int
    target: npt.NDArray[np.int64]
    rows: BoolArray
    """Rows judged: valid for the methods, target class not masked."""
    masked_target: BoolArray
    """Valid rows whose target is masked (-inf or a sentinel) while another class is live: exact
    loss infinite, left out. A row of masks only (no live class) is left out without it: the
    input's fully masked finding, no masked class beside live ones for the target to be at."""
    pieces: tuple[np.ndarray, np.ndarray, bool]
    """The exact p as the kernel reads it: (ph, pl, dd), see smcheck.kernels.gradients."""
    nonzero: BoolArray
    """Elements whose exact gradient rounds to a nonzero value of the format."""
    rest: npt.NDArray[np.float64]
    """``1 - p[t]`` per row as a double-double (rows, 2): the target's ``-g``."""
    norm: npt.NDArray[np.float64]
    """``max |g|`` per row."""
    loss: npt.NDArray[np.floating]
    """``-log p[t]`` per row, accurate also when p[t] is close to 1."""
    saturated: BoolArray
    """Judged rows whose top probability rounds to 1 in the format (not exactly one-hot): the
    block's count (smcheck.analysis.blockshared), which the cells' metrics read too."""
    ref: Reference
    """The block's reference (for :meth:`values`)."""

    def values(self) -> npt.NDArray[np.floating]:
        """The exact gradient itself, ``p - onehot(t)`` (small inputs show it)."""
        r = np.arange(self.target.shape[0])
        g = np.array(self.ref.p, copy=True)
        g[r, self.target] = -_wide(self.rest)
        return g


_DUMMY = np.zeros((1, 1))
"""Stands for the unused low parts of a float64 reference (one kernel signature)."""


def _wide(dd: npt.NDArray[np.float64]) -> npt.NDArray[np.floating]:
    """A (rows, 2) double-double as long doubles (float64 where those are no wider)."""
    return dd[:, 0].astype(np.longdouble) + dd[:, 1]


def _pieces(ref: Reference) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """The reference as the kernels read it: (ph, pl, lh, ll, dd), see smcheck.kernels.gradients.

    The double-double reference holds p = (ph + pl)·2^e: its float64 p_hi, and pl scaled once
    here (a power of two: exact, or rounded once among the subnormals).
    """
    if isinstance(ref, DDReference):
        q = ref.parts
        lo = np.ldexp(q.pl.numpy(), np.clip(q.e.numpy(), -1100, 64).astype(np.int32))
        return ref.p_hi, lo, q.lh.numpy(), q.ll.numpy(), True
    if ref.p.dtype != np.float64:  # a long-double reference: as double-double pairs
        with np.errstate(invalid="ignore"):
            ph, lh = ref.p.astype(np.float64), ref.logp.astype(np.float64)
            pl = np.where(np.isfinite(ph), ref.p - ph, 0.0).astype(np.float64)
            ll = np.where(np.isfinite(lh), ref.logp - lh, 0.0).astype(np.float64)
        return ph, pl, lh, ll, True
    # masked entries have p = 0; rows not judged may hold NaN and are never read
    return np.ascontiguousarray(ref.p), _DUMMY, np.ascontiguousarray(ref.logp), _DUMMY, False


def exact_gradient(b: Block, target: npt.NDArray[np.int64]) -> ExactGradient:
    """Exact cross-entropy loss and gradient of a block for the given target class per row."""
    from smcheck.kernels.gradients import exact_gradient_rows

    ref, fmt = b.ref, b.fmt
    r = np.arange(target.shape[0])
    target = np.ascontiguousarray(target, dtype=np.int64)
    target_live = b.live[r, target]
    rows = b.valid & target_live
    ph, pl, lh, ll, dd = _pieces(ref)
    nonzero, rest, others, logp_t = exact_gradient_rows(
        ph, pl, lh, ll, dd, np.ascontiguousarray(b.live), target, fmt.log_zero
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        if dd:  # the float64 cells' loss in long double: its error is measured in float64 ulps
            one_minus, logp = _wide(rest), _wide(logp_t)
        else:
            one_minus, logp = rest[:, 0], logp_t[:, 0]
        # -log p[t] = -log1p(-rest) keeps its digits as p[t] -> 1; below 1/2 log p[t] is accurate
        loss = np.where(one_minus < 0.5, -np.log1p(-np.minimum(one_minus, 0.5)), -logp)
        # p_max rounds to 1 iff 1 - p_max <= u/2: one count for the forward metrics and this
        saturated = rows & (block_shared(b).saturated != 0)
        norm = np.maximum(rest[:, 0], others)  # the others' g = p >= 0, the target's -rest
    return ExactGradient(
        b.start,
        target,
        rows,
        b.valid & ~target_live & b.live.any(-1),
        (ph, pl, dd),
        nonzero,
        rest,
        norm,
        loss,
        saturated,
        ref,
    )


def backprop(
    fn: FrameworkFn, xs: torch.Tensor, target: npt.NDArray[np.int64]
) -> tuple[TorchResult, torch.Tensor | None]:
    """Run a framework method on ``xs`` and back-propagate ``sum_rows -log p[t]`` in its format.

    Rows are independent, so the gradient of the summed loss is each row's own gradient; the
    backward pass of ``nll_loss(logp, t, reduction="sum")`` seeds ``d L / d logp = -onehot(t)``
    exactly (a scalar loss, not ``grad_outputs=``: torch's check of grad_outputs imports sympy,
    half a second of start-up). Returns the forward result (for the forward metrics, so the
    method runs once) and the gradient with respect to ``xs`` in the format, or None when the
    method's logp is not differentiable.
    """
    import torch

    with torch.enable_grad():  # also where the caller runs smcheck under torch.no_grad()
        leaf = xs.detach().requires_grad_()
        res = fn(leaf)
        if not res.logp.requires_grad:
            return res, None
        loss = torch.nn.functional.nll_loss(res.logp, torch.from_numpy(target), reduction="sum")
        (g,) = torch.autograd.grad(loss, leaf)
    return res, g


def forward_backward(
    fn: FrameworkFn, xs: torch.Tensor, e: ExactGradient, acc: GradientAccumulator
) -> MethodOutput:
    """One method on one chunk: its forward output, with its gradient folded into ``acc``.

    The backward pass has freed the graph's saved tensors on return, before the forward metrics
    run; the output keeps the method's own tensors (and those its NaN causes are computed from).
    """
    res, g = backprop(fn, xs, e.target)
    acc.add(g, res.logp.detach(), e)
    return res.to_output()


@dataclass
class _Shown:
    """Per-row values kept for small inputs."""

    losses: list[float] = field(default_factory=list)
    exact_losses: list[float] = field(default_factory=list)
    gradients: list[list[float]] = field(default_factory=list)
    exact_gradients: list[list[float]] = field(default_factory=list)


@dataclass
class GradientAccumulator:
    """Mergeable gradient metrics of one method × format × temperature cell."""

    fmt: FloatFormat
    keep: bool = False
    """Keep every row's loss and gradient (small inputs)."""
    computed: bool = True
    """False once a chunk came without a gradient (a method whose logp is not differentiable)."""
    rows_checked: int = 0
    masked_target: CountStat = field(default_factory=CountStat)
    loss_inf: CountStat = field(default_factory=CountStat)
    loss_nan: CountStat = field(default_factory=CountStat)
    nan: CountStat = field(default_factory=CountStat)
    nan_loss_rows: int = 0
    nan_zero_rows: int = 0
    dead: CountStat = field(default_factory=CountStat)
    vanished: CountStat = field(default_factory=CountStat)
    saturated: CountStat = field(default_factory=CountStat)
    saturated_nan_rows: int = 0
    saturated_lossy_rows: int = 0
    saturated_lost: MaxStat = field(default_factory=MaxStat)
    """Of the saturated rows with a finite gradient, those whose ``max |ĝ - g|`` exceeds u/2 (more
    than saturation can cost the gradient: the method's own error), and the largest such loss."""
    rel_error: MaxStat = field(default_factory=MaxStat)
    dead_lost: MaxStat = field(default_factory=MaxStat)
    loss_abs: MaxStat = field(default_factory=MaxStat)
    loss_rel: MaxStat = field(default_factory=MaxStat)
    shown: _Shown = field(default_factory=_Shown)

    def add(self, g: torch.Tensor | None, logp: torch.Tensor, e: ExactGradient) -> None:
        """Fold one chunk in: ``g`` the computed gradient, ``logp`` the method's log p (both in
        the format)."""
        import torch

        from smcheck.kernels.gradients import gradient_rows

        if g is None:
            self.computed = False
            return
        start, rows = e.start, e.rows
        self.rows_checked += int(rows.sum())
        self.masked_target.add(e.masked_target.astype(np.int64), start)
        tgt = torch.from_numpy(e.target)[:, None]
        loss = -logp.gather(-1, tgt)[:, 0].to(torch.float64).numpy()
        # an exact loss beyond the format's range (float16: 65520 and up) is inf, correctly
        held = e.loss < -self.fmt.neg_overflow
        self.loss_inf.add((rows & np.isinf(loss) & held).astype(np.int64), start)
        self.loss_nan.add((rows & np.isnan(loss)).astype(np.int64), start)
        gb = value_bytes(g)  # the kernel reads the format's own values: no float64 copy
        ph, pl, dd = e.pieces
        nan, dead, dead_max, vanished, rel = gradient_rows(
            gb, self.fmt.t, ph, pl, dd, e.nonzero, e.target, rows, e.rest, e.norm
        )
        self.nan.add(nan, start)
        nan_rows, loss_nan = nan > 0, np.isnan(loss)
        self.nan_loss_rows += int((nan_rows & loss_nan).sum())
        if (nan_rows & ~loss_nan).any():  # log p̂ = -inf: a p̂ of 0 (a mask's too)
            zero = torch.isneginf(logp).any(-1).numpy()
            self.nan_zero_rows += int((nan_rows & ~loss_nan & zero).sum())
        self.dead.add(dead, start)
        self.dead_lost.add(dead_max, start)
        self.vanished.add(vanished.astype(np.int64), start)
        # saturation is the exact p's: a row whose gradient is NaN counts too (and under nan)
        self.saturated.add(e.saturated.astype(np.int64), start)
        self._add_saturated(e, nan_rows, rel, g)
        # normwise error; NaN rows stay NaN and MaxStat skips them (they count under nan)
        self.rel_error.add(rel, start)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            fin = rows & np.isfinite(loss)
            err = np.abs(loss - e.loss)
            lrel = np.where(e.loss > 0, err / e.loss, np.where(err == 0, 0.0, np.inf))
            self.loss_abs.add(np.where(fin, err, np.nan).astype(np.float64), start)
            self.loss_rel.add(np.where(fin, lrel, np.nan).astype(np.float64), start)
        if self.keep:
            s = self.shown
            s.losses += loss.tolist()
            s.exact_losses += e.loss.astype(np.float64).tolist()
            s.gradients += g.detach().to(torch.float64).numpy().tolist()
            s.exact_gradients += e.values().astype(np.float64).tolist()

    def _add_saturated(
        self, e: ExactGradient, nan_rows: BoolArray, rel: np.ndarray, g: torch.Tensor
    ) -> None:
        """Which saturated rows' gradient is off by more than saturation can cost, 1 - p_max <=
        u/2 at the top class (the method's own error: data only, no finding reads it)."""
        sat = e.saturated & ~nan_rows
        self.saturated_nan_rows += int((e.saturated & nan_rows).sum())
        with np.errstate(invalid="ignore", over="ignore"):
            lost = np.where(sat, rel * e.norm, np.nan)  # max |ĝ - g|: rel is it over max |g|
        flat = sat & (e.norm == 0)  # g is 0 in float64 (a lead past 745 nats): the error is |ĝ|
        if flat.any():
            import torch

            lost[flat] = g.abs().amax(-1).to(torch.float64).numpy()[flat]
        # a float64 rounding or two of rel * norm is not a loss
        lossy = lost > self.fmt.u / 2 * (1 + 2.0**-40)
        self.saturated_lossy_rows += int(lossy.sum())
        self.saturated_lost.add(np.where(lossy, lost, np.nan), e.start)

    def result(self, view: RowView, target: str) -> rm.GradientMetrics | None:
        """The cell's report entry (None when the gradient could not be computed)."""
        if not self.computed:
            return None

        def count(c: CountStat) -> rm.Count:
            return rm.Count(c.elements, c.rows, view.index(c.worst_row))

        def first(c: CountStat) -> rm.RowIndex | None:
            return view.index(c.worst_row)  # one per row: the worst is the first

        s = self.shown if self.keep else None
        return rm.GradientMetrics(
            target=target,
            rows_checked=self.rows_checked,
            masked_target_rows=self.masked_target.rows,
            masked_target_first_row=first(self.masked_target),
            loss_inf=count(self.loss_inf),
            loss_nan=count(self.loss_nan),
            nan=count(self.nan),
            nan_loss_rows=self.nan_loss_rows,
            nan_zero_rows=self.nan_zero_rows,
            dead=count(self.dead),
            vanished_rows=self.vanished.rows,
            vanished_first_row=first(self.vanished),
            saturated_rows=self.saturated.rows,
            saturated_first_row=first(self.saturated),
            saturated_nan_rows=self.saturated_nan_rows,
            saturated_lossy_rows=self.saturated_lossy_rows,
            saturated_lost=self.saturated_lost.result,
            max_rel_error=self.rel_error.result,
            max_rel_error_row=view.index(self.rel_error.row),
            loss_error=rm.LossError(
                self.loss_abs.result,
                view.index(self.loss_abs.row),
                self.loss_rel.result,
                view.index(self.loss_rel.row),
            ),
            dead_max=self.dead_lost.result,
            losses=s.losses if s else None,
            exact_losses=s.exact_losses if s else None,
            gradients=s.gradients if s else None,
            exact_gradients=s.exact_gradients if s else None,
        )
