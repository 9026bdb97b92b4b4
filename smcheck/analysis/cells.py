"""Cell metrics: compare one method's output in one format with the exact reference, per chunk.

Every quantity is accumulated so that chunks merge exactly (see :mod:`smcheck.analysis.stats`);
all are defined in docs/design.md §4. Arrays are (rows, n) blocks of the flattened row space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from smcheck.analysis.blockshared import block_shared
from smcheck.analysis.cellkernel import CellChunk, cell_chunk
from smcheck.analysis.stats import CountStat, ExactSum, Histogram, MaxStat, RowIndexer
from smcheck.dtypes import FloatFormat
from smcheck.methods.base import MethodOutput, NanCause
from smcheck.reference.exact import Reference
from smcheck.report import model as rm

BoolArray = npt.NDArray[np.bool_]

ULP_BINS = (-10, 20)
"""The report's ulp histogram: below 2^-10 ulp (as good as exact), one bin per power of two up
to 2^20, and 2^20 ulp and above (docs/design.md §4)."""


@dataclass(frozen=True)
class Block:
    """What every method of one (format, temperature) shares for one chunk of rows."""

    start: int
    """Flat index of the chunk's first row."""
    fmt: FloatFormat
    valid: BoolArray
    """Rows the methods are judged on (no NaN/+inf in the source, not fully masked, cast finite)."""
    live: BoolArray
    """Elements of valid rows whose (scaled) input is finite, i.e. not a -inf mask."""
    ref: Reference
    """Exact results for the rounded, scaled input."""
    scale_overflow: BoolArray
    """Elements that became +inf when divided by the temperature in the format."""
    logits: npt.NDArray[np.float64] | None = None
    """What ``ref`` is the exact softmax of, divided by ``divisor`` (float64 cells divide by T in
    double-double); the exact binades near powers of two are decided from it."""
    divisor: float = 1.0
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Tensors computed once per block and shared by its cells (see blockshared.block_shared)."""

    @property
    def nonzero(self) -> BoolArray:
        """Live elements whose exact probability rounds to a nonzero value of the format."""
        return self.live & (self.ref.logp > self.fmt.log_zero)


@dataclass
class CellAccumulator:
    """Mergeable metrics of one method × format × temperature cell."""

    fmt: FloatFormat
    overflow: CountStat = field(default_factory=CountStat)
    temperature_overflow: CountStat = field(default_factory=CountStat)
    exp_overflow: CountStat = field(default_factory=CountStat)
    sum_overflow: CountStat = field(default_factory=CountStat)
    nan: CountStat = field(default_factory=CountStat)
    nan_causes: dict[str, int] = field(default_factory=dict)
    underflow: CountStat = field(default_factory=CountStat)
    exact_zero: CountStat = field(default_factory=CountStat)
    log_nonfinite: CountStat = field(default_factory=CountStat)
    log_of_zero: CountStat = field(default_factory=CountStat)
    lost_mass: MaxStat = field(default_factory=MaxStat)
    max_ulp: MaxStat = field(default_factory=MaxStat)
    ulp: Histogram = field(default_factory=Histogram)
    normwise_u: MaxStat = field(default_factory=MaxStat)
    sum_error: MaxStat = field(default_factory=MaxStat)
    argmax_flips: CountStat = field(default_factory=CountStat)
    lost_nan: CountStat = field(default_factory=CountStat)
    lost_sum_overflow: CountStat = field(default_factory=CountStat)
    saturated: CountStat = field(default_factory=CountStat)
    kl_max: MaxStat = field(default_factory=MaxStat)
    kl_sum: ExactSum = field(default_factory=ExactSum)
    log_max_ulp: MaxStat = field(default_factory=MaxStat)
    log_ulp: Histogram = field(default_factory=Histogram)
    log_max_abs: MaxStat = field(default_factory=MaxStat)
    log_finite_at_neginf: CountStat = field(default_factory=CountStat)
    rows_checked: int = 0

    def add(self, out: MethodOutput, b: Block) -> CellChunk:
        """Fold one chunk of a method's output into the cell (the work is in cellkernel).

        Returns the chunk's per-row quantities, which the bound checks reuse.
        """
        c = cell_chunk(out, b, (self.ulp.room, self.log_ulp.room))
        start = b.start
        self.rows_checked += c.rows_checked
        # overflow's three parts, disjoint per element: x/T, exp, and the sum of a row whose
        # terms are all finite (each counted once: a part's row counts are its own)
        over = c.overflow.numpy()
        self.overflow.add(over, start)
        for part, acc in (
            (c.temperature_overflow, self.temperature_overflow),
            (c.sum_overflow, self.sum_overflow),
        ):
            if part is not None:
                acc.add(part.numpy(), start)
                over = over - part.numpy()
        self.exp_overflow.add(over, start)
        if c.nan is not None:
            self.nan.add(c.nan.numpy(), start)
            for code, n in zip(*np.unique(c.nan_codes, return_counts=True), strict=True):
                label = NanCause(int(code) or NanCause.OTHER).label
                self.nan_causes[label] = self.nan_causes.get(label, 0) + int(n)
        under = c.underflow.numpy()
        if under.any():
            self.underflow.add(under, start)
            self.lost_mass.add(c.lost_mass.numpy(), start)
        self.exact_zero.add(c.exact_zero.numpy(), start)
        self.log_nonfinite.add(c.log_nonfinite.numpy(), start)
        self.log_of_zero.add(c.log_of_zero.numpy(), start)

        # accuracy is judged on rows whose output is entirely finite
        fin = c.kl_rows.numpy()
        self.max_ulp.add(c.max_ulp.numpy(), start)
        self.ulp.add_bins(c.ulp_bins)
        self.normwise_u.add(np.where(fin, c.normwise.numpy(), np.nan), start)
        self.sum_error.add(np.where(fin, c.sum_error.numpy(), np.nan), start)
        # argmax flips: rows with a unique exact maximum only (exact ties excluded)
        self.argmax_flips.add(c.flips.numpy().astype(np.int64), start)
        self._lost_argmax(c, start)
        # saturation is the exact p's, whatever the method returned (NaN rows included)
        self.saturated.add(c.saturated.astype(np.int64), start)
        # generalised KL(ref || p̂) = sum of p log(p/p̂) - p + p̂ over live entries: every term
        # >= 0, so never negative when rounding leaves sum p̂ != 1 (plain KL then can be); a
        # correctly rounded 0 (p rounds to 0 in the format) adds 0, an underflow makes it +inf
        kl = c.kl.numpy()
        self.kl_max.add(np.where(fin, kl, np.nan), start)
        self.kl_sum.add(kl[fin])
        # log p̂ against the exact log p, wherever both are finite (analysis/logerror.py)
        self.log_max_ulp.add(c.log.max_ulp.numpy(), start)
        self.log_ulp.add_bins(c.log.ulp_bins)
        self.log_max_abs.add(c.log.max_abs.numpy(), start)
        self.log_finite_at_neginf.add(c.log.finite_at_neginf.numpy(), start)
        return c

    def _lost_argmax(self, c: CellChunk, start: int) -> None:
        """Rows whose argmax is lost, not flipped (no flip is measured there): NaN output, or
        every p̂ 0 after the row sum overflowed; like a flip, only where the exact maximum is
        unique (a tie, e.g. a row of equal logits, has no argmax to lose). Disjoint: a NaN row
        is the NaN's."""
        unique = c.unique != 0
        nan = c.nan.numpy() > 0 if c.nan is not None else np.zeros_like(unique)
        self.lost_nan.add((nan & unique).astype(np.int64), start)
        if c.sum_overflow is not None:
            zero = (c.sum_overflow.numpy() > 0) & unique & ~nan
            self.lost_sum_overflow.add(zero.astype(np.int64), start)

    def _flips(self, index: RowIndexer) -> rm.FlipCount:
        lost = CountStat()  # the first lost row of either kind (one per row, rows disjoint)
        lost.merge(self.lost_nan)
        lost.merge(self.lost_sum_overflow)
        return rm.FlipCount(
            self.argmax_flips.rows,
            index(self.argmax_flips.worst_row),
            self.lost_nan.rows,
            self.lost_sum_overflow.rows,
            index(lost.worst_row),
        )

    def result(
        self, headroom: rm.Headroom, index: RowIndexer, cast: rm.Count, masked_rows: int = 0
    ) -> rm.CellMetrics:
        """The cell's metrics for the report (``headroom``: its HeadroomAccumulator's result;
        ``cast``: the format's cast overflow, shared by its cells; ``masked_rows``: the rows the
        format or T masks entirely, CellMetrics.masked_rows)."""
        return rm.CellMetrics(
            overflow=self.overflow.result(index),
            temperature_overflow=self.temperature_overflow.result(index),
            exp_overflow=self.exp_overflow.result(index),
            sum_overflow=self.sum_overflow.result(index),
            cast_overflow=cast,
            nan=rm.NanCount(
                self.nan.elements,
                self.nan.rows,
                index(self.nan.worst_row),
                dict(sorted(self.nan_causes.items())),
            ),
            underflow=self.underflow.result(index),
            exact_zero=self.exact_zero.result(index),
            log_nonfinite=self.log_nonfinite.result(index),
            log_of_zero=self.log_of_zero.result(index),
            lost_mass=rm.Extreme(
                self.lost_mass.result if self.underflow.elements else 0.0,
                index(self.lost_mass.row) if self.underflow.elements else None,
            ),
            error=rm.ErrorMetric(
                self.max_ulp.result,
                self.ulp.median,
                self.normwise_u.result,
                index(self.max_ulp.row),
                rm.UlpHistogram(ULP_BINS[0], self.ulp.octaves(*ULP_BINS)) if self.ulp.n else None,
            ),
            sum_error=rm.Extreme(self.sum_error.result, index(self.sum_error.row)),
            argmax_flips=self._flips(index),
            kl=rm.KLMetric(self.kl_max.result, self.kl_sum.mean, index(self.kl_max.row)),
            headroom=headroom,
            rows_checked=self.rows_checked,
            log_error=rm.LogErrorMetric(
                self.log_max_ulp.result,
                self.log_ulp.median,
                self.log_max_abs.result,
                index(self.log_max_ulp.row),
                self.log_nonfinite.result(index),
                self.log_finite_at_neginf.result(index),
                index(self.log_max_abs.row),
            ),
            saturated=rm.RowCount(self.saturated.rows, index(self.saturated.worst_row)),
            masked_rows=masked_rows,
        )


@dataclass
class HeadroomAccumulator:
    """Per format × temperature: headroom to the format's limits (shared by every method)."""

    fmt: FloatFormat
    top_lse: MaxStat = field(default_factory=MaxStat)
    """Largest exact logsumexp of x/T per row (a naive sum of exp overflows past the limit)."""
    deepest_logp: MaxStat = field(default_factory=MaxStat)
    """Most negative exact log-probability per row, negated."""
    zeros: CountStat = field(default_factory=CountStat)
    """Live entries whose exact p rounds to 0 in the format."""
    zero_mass: MaxStat = field(default_factory=MaxStat)
    """Their exact mass per row."""

    def add(self, b: Block) -> None:
        sh = block_shared(b)
        lse = np.asarray(b.ref.lse, dtype=np.float64)
        self.top_lse.add(np.where(b.valid, lse, np.nan), b.start)
        self.deepest_logp.add(np.where(b.valid, sh.deepest, np.nan), b.start)
        count, mass = sh.zeros
        if count.any():  # only live entries count: none in a row that is not judged
            self.zeros.add(count, b.start)
            self.zero_mass.add(np.where(count > 0, mass, np.nan), b.start)

    def result(self, index: RowIndexer) -> rm.Headroom:
        """Headroom to overflow of the sum of exp and to underflow of p, shared by the cells."""
        f, top, deep, some = self.fmt, self.top_lse, self.deepest_logp, self.zeros.elements > 0
        return rm.Headroom(
            None if top.result is None else f.exp_overflow_x - top.value,
            index(top.row),
            None if deep.result is None else -deep.value - f.log_zero,
            index(deep.row),
            self.zeros.result(index),
            rm.Extreme(self.zero_mass.value if some else 0.0, index(self.zero_mass.row)),
        )
