"""The mergeable accumulators: exact counts and sums, maxima, and the bounded-memory median."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck.analysis.stats import EXACT_MEDIAN_LIMIT, CountStat, ExactSum, Histogram, MaxStat


def test_count_stat_merges_exactly_and_keeps_lowest_worst_row() -> None:
    a, b = CountStat(), CountStat()
    a.add(np.array([0, 2, 1, 2]), 0)
    b.add(np.array([0, 2]), 0)
    b.add(np.array([1, 2]), 2)
    assert a == b == CountStat(elements=5, rows=3, worst_count=2, worst_row=1)


def test_max_stat_ignores_nan_rows() -> None:
    m = MaxStat()
    m.add(np.array([np.nan, 1.0, 3.0, 3.0]), 10)
    assert (m.result, m.row) == (3.0, 12)


def test_exact_sum_is_order_independent() -> None:
    v = np.array([1e16, 1.0, -1e16, 3.0, 1e-3] * 50)
    a, b = ExactSum(), ExactSum()
    a.add(v)
    for chunk in np.array_split(v[::-1], 7):
        b.add(chunk)
    assert a.mean == b.mean == pytest.approx((4.001 * 50) / v.size)


def test_histogram_median_is_exact_when_small_and_within_bound_when_large() -> None:
    h = Histogram()
    h.add(np.array([0.5, 1.0, 3.0]))
    assert h.median == 1.0
    big = np.random.default_rng(0).exponential(2.0, EXACT_MEDIAN_LIMIT + 10)
    h = Histogram()
    h.add(big)
    exact_lower = np.sort(big)[(big.size + 1) // 2 - 1]
    assert h.median == pytest.approx(exact_lower, rel=0.0055)


def test_histogram_median_is_within_its_stated_bound() -> None:
    rng = np.random.default_rng(1)
    vals = rng.lognormal(0, 2, EXACT_MEDIAN_LIMIT + 1001)
    h = Histogram()
    for part in np.array_split(vals, 7):
        h.add(part)
    assert h.exact is None  # past the limit: from the bins
    exact = np.sort(vals)[(vals.size + 1) // 2 - 1]
    assert abs(h.median / exact - 1) < 1 / 256  # half a 1/128-octave bin
    small = Histogram()
    small.add(np.array([3.0, -1.0, 0.0]))  # absolute values; exact below the limit
    assert small.median == 1.0


def test_histogram_zero_bin() -> None:
    h = Histogram(exact=None)
    h.add(np.array([0.0, 0.0, 2.0**-90, 5.0]))
    assert h.median == 0.0  # zero and values below 2^-80 share the zero bin


def test_histogram_octaves_count_each_power_of_two_exactly() -> None:
    h = Histogram()
    # below 2^-2 (with 0), [2^-2, 2^-1), [2^-1, 1), [1, 2) twice, [2, 4), and 4 and above
    h.add(np.array([0.0, 2.0**-3, 0.25, 0.3, 0.5, 1.0, 1.99, 2.0, 4.0, 1e300]))
    assert h.octaves(-2, 2) == [2, 2, 1, 2, 1, 2]
    split = Histogram()
    for part in np.array_split(np.array([0.0, 2.0**-3, 0.25, 0.3, 0.5, 1.0, 1.99, 2.0, 4.0]), 4):
        split.add(part)
    assert split.octaves(-2, 2) == [2, 2, 1, 2, 1, 1]
