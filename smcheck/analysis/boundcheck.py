"""Mergeable per-cell checks: observed error against the bounds, and the accumulation stall."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smcheck.analysis.bounds import RowFeatures, formula, model_fn_error, row_bounds
from smcheck.analysis.cellkernel import CellChunk
from smcheck.analysis.cells import Block
from smcheck.analysis.stats import CountStat, MaxStat, RowIndexer
from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.methods.base import MethodOutput
from smcheck.report import model as rm


@dataclass
class _Worst:
    """The row with the largest error (first on ties), with its bound and condition number."""

    error: float = -math.inf
    row: int | None = None
    bound: float = math.inf
    first: float = math.nan
    cond: float = math.nan

    def add(self, err: np.ndarray, bound: np.ndarray, first: np.ndarray, cond: np.ndarray,
            start: int) -> None:  # fmt: skip
        if err.size == 0:
            return
        v = np.where(np.isnan(err), -np.inf, err)
        i = int(np.argmax(v))
        if v[i] > self.error:
            self.error, self.row = float(v[i]), start + i
            self.bound, self.first, self.cond = float(bound[i]), float(first[i]), float(cond[i])


@dataclass
class BoundsAccumulator:
    """Observed normwise error against each row's bound, for one method × format × temperature."""

    method: str
    model: str
    fmt: FloatFormat
    ftz: bool
    tested: int = 0
    violations: CountStat = field(default_factory=CountStat)
    worst_violation: MaxStat = field(default_factory=MaxStat)
    vacuous: CountStat = field(default_factory=CountStat)
    ratio: MaxStat = field(default_factory=MaxStat)
    cond: MaxStat = field(default_factory=MaxStat)
    worst: _Worst = field(default_factory=_Worst)

    @property
    def formula(self) -> str | None:
        return formula(self.method, self.model)

    def add(self, c: CellChunk, b: Block, feats: RowFeatures) -> None:
        """Fold one chunk in, from the cell's own per-row quantities (errors, overflows)."""
        rb = row_bounds(self.method, self.model, feats, self.fmt, self.ftz)
        if rb is None:
            return
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            rows = c.kl_rows.numpy() & (feats.n > 0)  # judged rows with an entirely finite output
            if c.overflow is not None:
                # the bounds assume no overflow: overflowing rows are already FAIL findings
                rows &= c.overflow.numpy() == 0
            # the cell's normwise error max|p̂ - p| / max p in units of u (double-double exact
            # for float64 cells)
            err = np.where(rows, c.normwise.numpy(), np.nan)
            tested = rows & ~rb.vacuous
            violated = tested & (err > rb.bound)
            ratio = np.where(tested, err / rb.bound, np.nan)
        self.tested += int(rows.sum())
        self.violations.add(violated.astype(np.int64), b.start)
        self.worst_violation.add(np.where(violated, ratio, np.nan), b.start)
        self.vacuous.add((rows & rb.vacuous).astype(np.int64), b.start)
        self.ratio.add(ratio, b.start)
        self.cond.add(np.where(rows, feats.cond, np.nan), b.start)
        self.worst.add(err, rb.bound, rb.first, feats.cond, b.start)

    def reading(self, th: Thresholds) -> str:
        """Whose fault the largest error is (see :class:`~smcheck.report.model.BoundCheck`)."""
        if self.violations.rows:
            return "implementation"
        w = self.worst
        if w.row is None or w.error <= 2.0 ** (th.normwise_bits * self.fmt.t):
            return "none"
        return "input" if w.error <= w.cond else "algorithm"

    def result(self, index: RowIndexer, th: Thresholds) -> rm.BoundCheck | None:
        formula = self.formula
        if formula is None:
            return None
        w = self.worst
        worst = None
        if w.row is not None:
            bound = None if math.isinf(w.bound) else w.bound
            worst = rm.WorstError(index(w.row), w.error, bound, w.first, w.cond)
        return rm.BoundCheck(
            bound=formula,
            c=model_fn_error(self.model, self.fmt),
            rows_tested=self.tested,
            violations=rm.RowCount(self.violations.rows, index(self.worst_violation.row)),
            vacuous=rm.RowCount(self.vacuous.rows, index(self.vacuous.worst_row)),
            max_ratio=rm.Extreme(self.ratio.result, index(self.ratio.row)),
            cond_max=rm.Extreme(self.cond.result, index(self.cond.row)),
            worst=worst,
            reading=self.reading(th),
        )


def stall_limit(fmt: FloatFormat, th: Thresholds) -> float:
    """Absorbed fraction above which a row counts as stalled: over half the significand lost
    at the default normwise_bits = 0.5 (float16: 2.2 %, bfloat16: 6.3 %, float32: 0.02 %)."""
    return 2.0 ** (-(1 - th.normwise_bits) * fmt.t)


@dataclass
class StallAccumulator:
    """How much of each row's summed mass a running sum in the format absorbed unchanged."""

    fmt: FloatFormat
    limit: float
    stalled: CountStat = field(default_factory=CountStat)
    absorbed: MaxStat = field(default_factory=MaxStat)
    seen: bool = False

    def add(self, out: MethodOutput, b: Block) -> None:
        if out.absorbed is None:
            return
        self.seen = True
        frac = np.where(b.valid, out.absorbed, np.nan)
        with np.errstate(invalid="ignore"):
            self.stalled.add((frac > self.limit).astype(np.int64), b.start)
        self.absorbed.add(frac, b.start)

    def result(self, index: RowIndexer) -> rm.Accumulation | None:
        if not self.seen:
            return None
        return rm.Accumulation(
            stall_length=self.fmt.sum_stall,
            stalled=rm.RowCount(self.stalled.rows, index(self.stalled.worst_row)),
            max_absorbed=rm.Extreme(self.absorbed.result, index(self.absorbed.row)),
        )


def stall_notes(row_length: int, fmts: list[FloatFormat]) -> list[str]:
    """A predictive note per format whose stall length the rows reach (any model)."""
    reached = [f for f in fmts if row_length >= f.sum_stall]
    if not reached:
        return []
    which = ", ".join(f"{f.sum_stall} in {f.name}" for f in reached)
    return [
        f"rows of {row_length} elements reach the accumulation stall length ({which}): a "
        "running sum of comparable terms kept in that format stops growing there; PyTorch "
        "accumulates 16-bit sums in float32, a kernel summing in the format does not "
        "(--model strict shows it)"
    ]


REMEDY = {
    "naive": "use shifted softmax or torch.softmax",
    "shifted": "accumulate the sum in float32",
    "logdomain": "accumulate the sum in float32",
    "lse-direct": "subtract the max before the logsumexp (logdomain)",
    "online": "keep the running normaliser in float32",
}


def _row(ix: tuple[int, ...] | None) -> str:
    return "-" if ix is None else "[" + ",".join(str(i) for i in ix) + "]"


def bound_reasons(
    where: str,
    method: str,
    bounds: rm.BoundCheck | None,
    acc: rm.Accumulation | None,
    fmt: FloatFormat,
    total: int,
) -> list[str]:
    """WARN sentences, root cause first: a violated bound, a stalled sum, whose fault it is."""
    out: list[str] = []
    if bounds is not None and bounds.reading == "implementation":
        out.append(
            f"{where}: the error exceeds the rounding-error bound {bounds.bound} of "
            f"Blanchard, Higham & Higham (2021) in {bounds.violations.rows}/{total} rows "
            f"(row {_row(bounds.violations.worst_row)}: {bounds.max_ratio.max:.3g}x) -- "
            "the implementation, not the input, is at fault"
        )
    if acc is not None and acc.stalled.rows:
        out.append(
            f"{where}: the running {fmt.name} sum stalled in {acc.stalled.rows}/{total} rows: up "
            f"to {acc.max_absorbed.max:.1%} of a row's mass was added to a sum too large to "
            f"change (a sequential {fmt.name} sum of equal terms stops at {acc.stall_length}) -- "
            "accumulate in float32 or sum pairwise"
        )
    w = bounds.worst if bounds is not None else None
    if bounds is None or w is None or bounds.reading not in ("input", "algorithm"):
        return out
    remedy = REMEDY.get(method, "use a wider format")
    if bounds.reading == "input":
        out.append(
            f"{where}: row {_row(w.row)} is ill-conditioned (condition number {w.cond:.3g}): "
            f"its error {w.error_u:.3g}u is no more than one rounding of its logits causes "
            "-- the input, not the algorithm, limits the accuracy; use a wider format"
        )
    elif w.bound_u is None:
        out.append(
            f"{where}: on row {_row(w.row)} (error {w.error_u:.3g}u) the rounding-error bound "
            f"of {method} is vacuous ({w.first_order_u:.3g}u to first order, against "
            f"1/u = {2**fmt.t}) -- the algorithm guarantees nothing there; {remedy}"
        )
    else:
        out.append(
            f"{where}: row {_row(w.row)}'s error {w.error_u:.3g}u is within its bound "
            f"{w.bound_u:.3g}u but far above its condition number {w.cond:.3g} -- the "
            f"algorithm, not the input, loses the accuracy; {remedy}"
        )
    return out
