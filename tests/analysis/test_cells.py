"""Cell metrics on hand-derived cases: overflow, underflow, NaN causes, flips, KL, headroom."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smcheck import analyze
from smcheck.report.model import Verdict
from tests.conftest import cell


def test_naive_float16_exp_underflow_loses_mass_shifted_keeps_it() -> None:
    # exp(-20) = 2.1e-9 rounds to 0 in float16 (below 2^-25 = 2.98e-8), so naive gives p[0] = 0;
    # the exact p[0] = e^-15 / (1 + e^-15) = 3.059e-7 is representable (subnormal) in float16.
    # shifted computes exp(-15) = 3.06e-7 -> 5 * 2^-24 = 2.98e-7: not lost.
    r = analyze([[-20.0, -5.0]], dtypes=["float16"])
    naive = cell(r, "naive", "float16").metrics
    assert (naive.underflow.elements, naive.underflow.rows, naive.underflow.worst_row) == (
        1,
        1,
        (0,),
    )
    assert naive.lost_mass.max == pytest.approx(math.exp(-15) / (1 + math.exp(-15)), rel=1e-9)
    assert cell(r, "shifted", "float16").metrics.underflow.elements == 0
    assert any("underflow" in s for s in cell(r, "naive", "float16").reasons)


def test_zeros_in_an_overflowed_row_count_as_overflow_not_underflow() -> None:
    # exp(12) = inf in float16: p = (inf/inf, 1/inf) = (NaN, 0). The 0 is lost to the overflow.
    r = analyze([[12.0, 0.0]], dtypes=["float16"], methods=["naive"])
    m = cell(r, "naive", "float16").metrics
    assert m.overflow.elements == 1 and m.nan.elements == 1
    assert m.underflow.elements == 0


def test_sum_overflow_counts_one_overflow_per_row() -> None:
    # exp(10) = 22032 in float16 is finite; three of them sum past 65504 -> sum = inf, p = 0
    r = analyze([[10.0, 10.0, 10.0]], dtypes=["float16"], methods=["naive"])
    m = cell(r, "naive", "float16").metrics
    assert (m.overflow.elements, m.overflow.rows) == (1, 1)
    assert m.nan.elements == 0
    assert cell(r, "naive", "float16").verdict is Verdict.FAIL


def test_zero_over_zero_nan_cause() -> None:
    # every exp underflows to 0 in float16: 0/0
    r = analyze([[-30.0, -30.0]], dtypes=["float16"], methods=["naive"])
    assert cell(r, "naive", "float16").metrics.nan.causes == {"0/0": 2}


def test_argmax_flip_in_bfloat16_and_ties_excluded() -> None:
    # 1 and 1.001 both round to 1.0 in bfloat16: the rounded input ties, so it is excluded
    r = analyze([[1.0, 1.001], [0.0, 1.0]], dtypes=["bfloat16"])
    for m in ("naive", "shifted", "logdomain", "torch"):
        assert cell(r, m, "bfloat16").metrics.argmax_flips.rows == 0


def test_generalised_kl_is_never_materially_negative() -> None:
    x = np.random.default_rng(3).normal(0, 4, (40, 50))
    for c in analyze(x).cells:
        assert c.metrics.kl.mean is not None and c.metrics.kl.mean > -1e-12, (c.method, c.dtype)


def test_headroom_is_distance_to_the_limits() -> None:
    r = analyze([[3.0, 1.0, -2.0]], dtypes=["float32"], methods=["naive"])
    h = cell(r, "naive", "float32").metrics.headroom
    assert h.overflow_nats == pytest.approx(math.log(np.finfo(np.float32).max) - 3.0)
    lse = math.log(math.exp(3) + math.exp(1) + math.exp(-2))
    # float32 p rounds to 0 below ln(2^-150) = -103.97
    assert h.underflow_nats == pytest.approx(-2.0 - lse + 150 * math.log(2), rel=1e-6)


def test_ulp_histogram_counts_the_judged_elements_whatever_the_chunking() -> None:
    x = np.random.default_rng(3).normal(0, 4, (9, 7))
    x[2, 0] = 30.0  # naive float16 overflows row 2: its elements are not judged
    kw = {"dtypes": ["float16", "float32"], "methods": ["naive", "shifted"], "gradients": False}
    whole = analyze(x, chunk_rows=100, **kw)
    for c in whole.cells:
        h = c.metrics.error.ulp_histogram
        assert h is not None and h.lo_log2 == -10 and len(h.counts) == 32
        judged = (c.metrics.rows_checked - c.metrics.overflow.rows) * 7
        assert sum(h.counts) == judged, (c.method, c.dtype)
        # max_ulp lies in the highest non-empty bin
        top = max(k for k, n in enumerate(h.counts) if n)
        assert 2.0 ** (h.lo_log2 + top - 1) <= c.metrics.error.max_ulp < 2.0 ** (h.lo_log2 + top)
    for chunk_rows in (1, 4):
        part = analyze(x, chunk_rows=chunk_rows, **kw)
        assert [c.metrics.error for c in part.cells] == [c.metrics.error for c in whole.cells]
