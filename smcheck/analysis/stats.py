"""Mergeable accumulators: per-chunk statistics that combine exactly, whatever the chunking."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from smcheck.kernels.cellmetrics import HIST_BINS, HIST_HI, HIST_LO, HIST_SUB_BITS
from smcheck.report.model import Count, RowIndex

RowIndexer = Callable[[int | None], RowIndex | None]
"""Flat row number -> its index in the source's shape (RowView.index)."""

EXACT_MEDIAN_LIMIT = 1 << 20
"""Up to this many values a median is exact; beyond, it comes from bins (see Histogram)."""


@dataclass
class CountStat:
    """How many elements and rows have a property, and the row with the most (lowest on ties)."""

    elements: int = 0
    rows: int = 0
    worst_count: int = 0
    worst_row: int | None = None

    def add(self, per_row: npt.NDArray[np.integer], start: int) -> None:
        """Add counts for rows ``start, start+1, ...`` of the flattened row space."""
        if per_row.size == 0:
            return
        self.elements += int(per_row.sum())
        self.rows += int(np.count_nonzero(per_row))
        i = int(np.argmax(per_row))
        c = int(per_row[i])
        if c > self.worst_count:  # rows arrive in increasing order: strict > keeps the lowest index
            self.worst_count, self.worst_row = c, start + i

    def merge(self, other: CountStat) -> None:
        """Add the counts of rows disjoint from this one's (the worst: most, then lowest row)."""
        self.elements += other.elements
        self.rows += other.rows
        better = other.worst_count > self.worst_count or (
            other.worst_count == self.worst_count
            and other.worst_row is not None
            and (self.worst_row is None or other.worst_row < self.worst_row)
        )
        if better:
            self.worst_count, self.worst_row = other.worst_count, other.worst_row

    def result(self, index: RowIndexer) -> Count:
        """The report's count, its worst row as an index of the source's shape."""
        return Count(self.elements, self.rows, index(self.worst_row))


@dataclass
class MaxStat:
    """The maximum of a per-row quantity and the first row attaining it (NaN rows ignored)."""

    value: float = -math.inf
    row: int | None = None

    def add(self, per_row: npt.NDArray[np.floating], start: int) -> None:
        if per_row.size == 0:
            return
        v = np.where(np.isnan(per_row), -np.inf, per_row)
        i = int(np.argmax(v))
        if v[i] > self.value:
            self.value, self.row = float(v[i]), start + i

    @property
    def result(self) -> float | None:
        return None if self.row is None else self.value


@dataclass
class ExactSum:
    """A sum of floats that is exact until the final rounding (Shewchuk partials, as math.fsum).

    So means do not depend on how the rows were chunked. Infinite values are counted apart.
    """

    partials: list[float] = field(default_factory=list)
    count: int = 0
    posinf: int = 0

    def add(self, values: npt.NDArray[np.floating]) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        self.count += v.size
        inf = np.isposinf(v)
        self.posinf += int(inf.sum())
        partials = self.partials
        for x in v[~inf].tolist():
            i = 0
            for y in partials:
                if abs(x) < abs(y):
                    x, y = y, x
                hi = x + y
                lo = y - (hi - x)
                if lo:
                    partials[i] = lo
                    i += 1
                x = hi
            partials[i:] = [x]

    @property
    def mean(self) -> float | None:
        if self.count == 0:
            return None
        if self.posinf:
            return math.inf
        return math.fsum(self.partials) / self.count


class Bins(NamedTuple):
    """A chunk's contribution to a :class:`Histogram`: the counts of fine bins first, first + 1,
    ..., and the values themselves while the histogram still keeps them for an exact median."""

    first: int
    counts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64] | None = None


@dataclass
class Histogram:
    """Median of absolute values: exact up to EXACT_MEDIAN_LIMIT values, else from bins.

    A bin is a float64 exponent and the top 7 bits of the significand (1/128 of an octave, read
    straight from the bits, the sign bit dropped), so a histogram median is within 0.4 %
    (relative) of the exact lower median. Zero and values below 2^LO share the zero bin (a median
    there reads 0.0); values above 2^HI go to the last bin. The cell kernel bins its errors
    itself (smcheck.kernels.cellmetrics.hist_bin) and hands over counts (:meth:`add_bins`).
    """

    SUB_BITS = HIST_SUB_BITS
    LO, HI = HIST_LO, HIST_HI

    counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    exact: list[npt.NDArray[np.float64]] | None = field(default_factory=list)
    n: int = 0

    @property
    def room(self) -> int:
        """How many more values the exact median can take (-1: it is given up)."""
        return -1 if self.exact is None else EXACT_MEDIAN_LIMIT - self.n

    def add_bins(self, b: Bins) -> None:
        """Fold in a chunk's bin counts; ``b.values`` must be there if they fit in :attr:`room`."""
        m = int(b.counts.sum())
        if m == 0:
            return
        self.n += m
        if self.exact is not None:
            if self.n > EXACT_MEDIAN_LIMIT:  # past the limit: no copy that would be dropped
                self.exact = None
            else:
                assert b.values is not None and b.values.size == m
                self.exact.append(b.values)
        self.counts[b.first : b.first + b.counts.size] += b.counts

    def add(self, values: Any) -> None:
        """Fold in values (a numpy array or a torch tensor, any shape)."""
        v = np.abs(np.asarray(values, dtype=np.float64).reshape(-1))
        if v.size == 0:
            return
        k = (v.view(np.int64) >> (52 - self.SUB_BITS)) & ((1 << (11 + self.SUB_BITS)) - 1)
        k = np.clip(k - (((1023 + self.LO) << self.SUB_BITS) - 1), 0, self.counts.size - 1)
        keep = self.exact is not None and self.n + v.size <= EXACT_MEDIAN_LIMIT
        self.add_bins(Bins(0, np.bincount(k, minlength=self.counts.size), v if keep else None))

    def octaves(self, lo: int, hi: int) -> list[int]:
        """Counts per power of two: below 2^lo, [2^k, 2^(k+1)) for lo <= k < hi, 2^hi and above.

        Folded from the fine bins, so exact (for lo > LO) and independent of how values arrived.
        """
        fine = self.counts

        def k(e: int) -> int:  # the first fine bin of [2^e, 2^(e+1))
            return 1 + ((e - self.LO) << self.SUB_BITS)

        out = [int(fine[: k(lo)].sum())]
        out += [int(fine[k(e) : k(e + 1)].sum()) for e in range(lo, hi)]
        out.append(int(fine[k(hi) :].sum()))
        return out

    @property
    def median(self) -> float | None:
        if self.n == 0:
            return None
        if self.exact is not None:
            return float(np.median(np.concatenate(self.exact)))
        k = int(np.searchsorted(np.cumsum(self.counts), (self.n + 1) // 2))
        if k == 0:
            return 0.0
        e, j = divmod(k - 1, 1 << self.SUB_BITS)
        return math.ldexp(1.0 + (j + 0.5) / (1 << self.SUB_BITS), self.LO + e)
