"""Input statistics: range, non-finite counts, logsumexp, and what rounding to a format does."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smcheck.analysis.stats import CountStat, ExactSum, MaxStat, RowIndexer
from smcheck.dtypes import FloatFormat
from smcheck.reference.exact import Reference, exact_softmax
from smcheck.report import model as rm

if TYPE_CHECKING:
    from smcheck.analysis.masks import MaskAccumulator
    from smcheck.sources.rows import RowView

Array = npt.NDArray[np.float64]


@dataclass
class InputAccumulator:
    """Range, non-finite counts and logsumexp of the analysed values (after --softmin negation).

    Upstream (NaN/+inf) and fully masked rows are counted by the MaskAccumulator.
    """

    lo: float = math.inf
    hi: float = -math.inf
    judged_hi: float = -math.inf
    """The largest value of the rows a method can judge (not upstream, not fully masked): what a
    format must hold for their cast not to overflow (the cast-overflow remedy names one)."""
    judged_floor: float = math.inf
    """The smallest row maximum of those rows that hold logits: what a format must hold for
    none of them to round entirely to -inf (the masked-row remedy names one)..."""
    mask_floor: float = math.inf
    """...and of those that hold only masks (sentinels), for their own masked-row remedy."""
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    lse: MaxStat = field(default_factory=MaxStat)
    longest_live: int = 0
    """The most live entries (finite, not a mask sentinel) in a judged row: the terms a row's
    running sum grows by (-inf and masks add zeros), what the accumulation stall note reads."""

    def add(
        self,
        x: Array,
        ref: Reference,
        excluded: np.ndarray,
        start: int,
        masks: np.ndarray,
        sentinels: np.ndarray | None = None,
    ) -> None:
        """Fold in a chunk; ``excluded``: its upstream or fully masked rows (no logsumexp);
        ``masks``: its rows of masks only (``MaskChunk.mask_rows``); ``sentinels``: its mask
        sentinel entries (``MaskChunk.sentinel_entries``)."""
        fin = np.isfinite(x)
        vals = x if fin.all() else x[fin]  # the common case, all finite: no copy, no counts
        if not excluded.all():
            masked = sentinels is not None and sentinels.any()
            live = (fin & ~sentinels) if masked else fin
            n = x.shape[-1] if vals is x and not masked else np.count_nonzero(live, axis=-1)
            self.longest_live = max(self.longest_live, int(np.max(np.where(excluded, 0, n))))
        # NaN or +inf in the upstream rows, -inf in the fully masked: all of them excluded
        row_max = x.max(axis=-1, initial=-math.inf)
        if vals.size:
            self.lo = min(self.lo, float(vals.min()))
            self.hi = max(self.hi, float(row_max.max() if vals is x else vals.max()))
        judged = row_max[~excluded] if excluded.any() else row_max
        if judged.size:
            self.judged_hi = max(self.judged_hi, float(judged.max()))
            of_masks = masks[~excluded] if excluded.any() else masks
            floor = judged.min(initial=math.inf, where=~of_masks)
            self.judged_floor = min(self.judged_floor, float(floor))
            mask_floor = judged.min(initial=math.inf, where=of_masks)
            self.mask_floor = min(self.mask_floor, float(mask_floor))
        if vals is not x:
            self.nan += int(np.isnan(x).sum())
            self.posinf += int(np.count_nonzero(x == np.inf))
            self.neginf += int(np.count_nonzero(x == -np.inf))
        self.lse.add(np.where(excluded, np.nan, ref.lse), start)

    def result(
        self, masks: MaskAccumulator, view: RowView, dtype: str | None = None
    ) -> rm.InputSummary:
        """The report's input summary, with the mask counts and findings of ``masks``; ``dtype``:
        the source's stored format."""
        empty = self.lo > self.hi
        return rm.InputSummary(
            min=None if empty else self.lo,
            max=None if empty else self.hi,
            nan=self.nan,
            posinf=self.posinf,
            neginf=self.neginf,
            max_logsumexp=self.lse.result,
            max_logsumexp_row=view.index(self.lse.row),
            **masks.summary_fields(view, nan=self.nan, posinf=self.posinf, dtype=dtype),
        )


@dataclass
class RoundingAccumulator:
    """The effect of casting the source to ``fmt``: changed values, Δlog p, KL, cast overflow.

    Of the logits only: mask sentinels are left out, as -inf is (the Mask sentinels table
    says what the cast does to them)."""

    fmt: FloatFormat
    changed: int = 0
    dlogp: MaxStat = field(default_factory=MaxStat)
    kl_max: MaxStat = field(default_factory=MaxStat)
    kl_sum: ExactSum = field(default_factory=ExactSum)
    cast_overflow: CountStat = field(default_factory=CountStat)
    cast_posinf: CountStat = field(default_factory=CountStat)
    """Of the judged source rows, those the cast gives a +inf: no softmax of them is finite."""

    def add(
        self,
        x: Array,
        xd: Array,
        ref: Reference,
        base_valid: np.ndarray,
        start: int,
        rd: Reference | None = None,
        masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fold a chunk in; returns the rows still analysable in the format.

        ``rd``: the exact softmax of ``xd`` when the caller has it already (computed otherwise);
        ``masks``: the chunk's sentinel entries (``MaskChunk.sentinel_entries``), left out.
        """
        from smcheck.kernels.inputs import rounding_rows

        if xd is not x and (
            rd is None or not isinstance(rd.logp, np.ndarray) or rd.logp.dtype != np.float64
        ):
            rd = exact_softmax(xd)
        logq = ref.logp if xd is x or rd is None else rd.logp
        # one pass: cast overflow, changed values, the rows left, and where a row changed its
        # max |Δlog p| and KL, every term p (e^δ - 1 - δ) >= 0 (smcheck.kernels.inputs)
        over, changed, valid, d, kl = rounding_rows(
            _f64(x),
            _f64(xd),
            np.ascontiguousarray(base_valid, dtype=np.bool_),
            _f64(ref.logp),
            _f64(ref.p),
            _f64(logq),
            None if masks is None else np.ascontiguousarray(masks, dtype=np.bool_),
        )
        self.cast_overflow.add(over, start)
        lost = base_valid & ~valid  # +inf from the cast, or entirely -inf (a mask finding)
        if lost.any():
            self.cast_posinf.add(np.where(lost, np.count_nonzero(xd == np.inf, axis=-1), 0), start)
        self.changed += int(changed.sum())
        if changed.any():
            self.dlogp.add(d, start)
            self.kl_max.add(kl, start)
            self.kl_sum.add(kl[valid])
        else:
            self.kl_sum.add(np.zeros(int(valid.sum())))
        return valid

    def result(self, index: RowIndexer) -> rm.InputRounding:
        """What the cast to the format did to the input, for the report."""
        return rm.InputRounding(
            dtype=self.fmt.name,
            exact=self.changed == 0 and self.cast_overflow.elements == 0,
            changed_elements=self.changed,
            max_abs_dlogp=self.dlogp.result if self.changed else 0.0,
            kl_max=self.kl_max.result if self.changed else 0.0,
            kl_mean=self.kl_sum.mean,
            cast_overflow=self.cast_overflow.result(index),
        )


@dataclass
class DivisionAccumulator:
    """What rounding x/T to ``fmt`` does to the exact distribution: the methods see fl(x/T), and
    the cells' references are its softmax, so this is measured here, once per format and T."""

    fmt: FloatFormat
    temperature: float
    changed: int = 0
    dlogp: MaxStat = field(default_factory=MaxStat)
    normwise: MaxStat = field(default_factory=MaxStat)

    def add(self, xin: Array, xsw: Array, ref: Reference, exact: Reference, live: np.ndarray,
            start: int) -> None:  # fmt: skip
        """Fold a chunk in: ``ref`` is the softmax of ``xin`` = fl(x/T), ``exact`` of x/T."""
        self.changed += int((live & (xin != xsw)).sum())
        rows = live.any(-1)
        with np.errstate(invalid="ignore"):
            lp, lq = np.asarray(exact.logp, np.float64), np.asarray(ref.logp, np.float64)
            ok = live & np.isfinite(lp) & np.isfinite(lq)
            d = np.where(ok, np.abs(lq - lp), -np.inf).max(-1, initial=-np.inf)
            p, q = np.asarray(exact.p, np.float64), np.asarray(ref.p, np.float64)
            dp = np.where(live, np.abs(q - p), 0.0).max(-1, initial=0.0)
            pmax = np.where(live, p, 0.0).max(-1, initial=0.0)
            nw = dp / pmax / self.fmt.u
        self.dlogp.add(np.where(rows & np.isfinite(d), d, np.nan), start)
        self.normwise.add(np.where(rows & (pmax > 0), nw, np.nan), start)

    def result(self, index: RowIndexer) -> rm.DivisionRounding:
        return rm.DivisionRounding(
            temperature=self.temperature,
            changed_elements=self.changed,
            max_abs_dlogp=self.dlogp.result,
            normwise_u=self.normwise.result,
            worst_row=index(self.normwise.row),
        )


def analysable_rows(xd: Array, base_valid: np.ndarray) -> np.ndarray:
    """Rows still analysable once cast to a format: no value became +inf, not every one -inf."""
    return base_valid & ~((xd == np.inf).any(-1) | (xd == -np.inf).all(-1))


def _f64(a: np.ndarray) -> Array:
    """``a`` as the kernels take it: C-contiguous float64 (no copy when it is already)."""
    return np.ascontiguousarray(a, dtype=np.float64)
