"""Cell metrics: compare one method's output in one format with the exact reference, per chunk.

Every quantity is accumulated so that chunks merge exactly (see :mod:`smcheck.stats`); all are
defined in DESIGN.md §4. Arrays are (rows, n) blocks of the flattened row space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from smcheck.dtypes import FloatFormat
from smcheck.methods.base import MethodOutput, NanCause
from smcheck.reference import Reference
from smcheck.stats import CountStat, ExactSum, Histogram, MaxStat

BoolArray = npt.NDArray[np.bool_]


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
    nan: CountStat = field(default_factory=CountStat)
    nan_causes: dict[str, int] = field(default_factory=dict)
    underflow: CountStat = field(default_factory=CountStat)
    exact_zero: CountStat = field(default_factory=CountStat)
    log_nonfinite: CountStat = field(default_factory=CountStat)
    lost_mass: MaxStat = field(default_factory=MaxStat)
    max_ulp: MaxStat = field(default_factory=MaxStat)
    ulp: Histogram = field(default_factory=Histogram)
    normwise_u: MaxStat = field(default_factory=MaxStat)
    sum_error: MaxStat = field(default_factory=MaxStat)
    argmax_flips: CountStat = field(default_factory=CountStat)
    kl_max: MaxStat = field(default_factory=MaxStat)
    kl_sum: ExactSum = field(default_factory=ExactSum)
    rows_checked: int = 0

    def add(self, out: MethodOutput, b: Block) -> None:
        """Fold one chunk of a method's output into the cell."""
        fmt, ref, live, valid = self.fmt, b.ref, b.live, b.valid
        vcol = valid[:, None]
        start = b.start
        self.rows_checked += int(valid.sum())
        p, logp = out.p, out.logp

        over = b.scale_overflow & vcol
        self.temperature_overflow.add(over.sum(-1), start)
        if out.overflow is not None:
            over = over | (out.overflow & vcol)
        per_row = over.sum(-1)
        if out.sum_overflow is not None:
            per_row = per_row + (out.sum_overflow & valid)
        self.overflow.add(per_row, start)

        nan = np.isnan(p) & vcol
        self.nan.add(nan.sum(-1), start)
        if nan.any():
            codes = out.nan_cause[nan] if out.nan_cause is not None else np.full(int(nan.sum()), 4)
            for code, n in zip(*np.unique(codes, return_counts=True), strict=True):
                label = NanCause(int(code) or NanCause.OTHER).label
                self.nan_causes[label] = self.nan_causes.get(label, 0) + int(n)

        nonzero = b.nonzero
        # zeros in a row whose exp or sum overflowed are lost to the overflow, counted there
        lost = ((p == 0) | np.isneginf(logp)) & nonzero & (per_row == 0)[:, None]
        self.underflow.add(lost.sum(-1), start)
        self.exact_zero.add(((p == 0) & live & ~nonzero).sum(-1), start)
        self.log_nonfinite.add((~np.isfinite(logp) & live).sum(-1), start)
        self.lost_mass.add(np.where(lost, ref.p, 0).sum(-1).astype(np.float64), start)

        # accuracy is judged on rows whose output is entirely finite
        fin_rows = valid & np.isfinite(p).all(-1)
        frow = fin_rows[:, None]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            diff = np.abs(p.astype(ref.p.dtype) - ref.p)
            err = (diff / fmt.ulp(ref.p)).astype(np.float64)
            sel = live & frow
            self.max_ulp.add(np.where(sel, err, -np.inf).max(-1, initial=-np.inf), start)
            self.ulp.add(err[sel])
            norm = (np.where(sel, diff, 0).max(-1) / ref.p.max(-1)).astype(np.float64) / fmt.u
            self.normwise_u.add(np.where(fin_rows, norm, np.nan), start)
            total = p.astype(ref.p.dtype).sum(-1)
            self.sum_error.add(
                np.where(fin_rows, np.abs(total - 1), np.nan).astype(np.float64), start
            )

            # argmax flips: rows with a unique exact maximum only (exact ties excluded)
            top = ref.logp.max(-1, keepdims=True)
            unique = (ref.logp == top).sum(-1) == 1
            flip = fin_rows & unique & (np.argmax(p, -1) != np.argmax(ref.logp, -1))
            self.argmax_flips.add(flip.astype(np.int64), start)

            # generalised KL(ref || p̂) = sum p log(p/p̂) - 1 + sum p̂: equal to KL when p̂ sums to
            # 1, and never negative when rounding leaves sum p̂ != 1 (plain KL then can be).
            # A 0 in the format is read as the largest value that rounds to 0,
            # so the divergence stays finite and charges every underflowed entry at least p·log(p/(s/2))
            logq = np.maximum(np.log(np.where(p > 0, p, 1.0)), fmt.log_zero)
            logq = np.where(p > 0, logq, fmt.log_zero)
            kl = np.where(live, ref.p * (ref.logp - logq), 0).sum(-1) - 1 + total
            kl = kl.astype(np.float64)
            self.kl_max.add(np.where(fin_rows, kl, np.nan), start)
            self.kl_sum.add(kl[fin_rows])


@dataclass
class GroupAccumulator:
    """Per format × temperature: headroom to the format's limits (shared by every method)."""

    fmt: FloatFormat
    top_logit: MaxStat = field(default_factory=MaxStat)
    """Largest scaled logit per row (naive exp overflows past ln(max))."""
    deepest_logp: MaxStat = field(default_factory=MaxStat)
    """Most negative exact log-probability per row, negated."""

    def add(self, x: npt.NDArray[np.floating], b: Block) -> None:
        with np.errstate(invalid="ignore"):
            xm = np.where(b.live, x, -np.inf).max(-1).astype(np.float64)
            lm = np.where(b.live, -b.ref.logp, -np.inf).max(-1).astype(np.float64)
        self.top_logit.add(np.where(b.valid, xm, np.nan), b.start)
        self.deepest_logp.add(np.where(b.valid, lm, np.nan), b.start)
