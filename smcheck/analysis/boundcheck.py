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
            # the cell's normwise error max|p̂ - p| / max(max p, tiny) in units of u (double-
            # double exact for float64 cells)
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
