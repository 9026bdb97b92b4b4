"""Cell metrics on hand-derived cases: overflow, underflow, NaN causes, flips, KL, headroom."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smcheck import analyze
from smcheck.report.model import Verdict
from tests.conftest import cell, sample_input


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


def mp_kl(x: np.ndarray, q: list[list[float]], dtype: str) -> list:  # type: ignore[type-arg]
    """The documented KL per row, at 50 digits: sum p log(p/q) - p + q over the entries, a
    correctly rounded zero (p <= s/2, s the format's smallest subnormal) adding 0 and an
    underflow (q = 0 where p rounds to nonzero) making it +inf."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    half_s = mpmath.mpf(2) ** {"float16": -25, "bfloat16": -134, "float32": -150}[dtype]
    import torch

    out = []
    # the reference is the exact softmax of the input as rounded to the format
    xd = torch.from_numpy(np.asarray(x, dtype=np.float64)).to(getattr(torch, dtype)).double()
    for row, qs in zip(xd.numpy(), q, strict=True):
        lse = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))
        terms = []
        for v, qj in zip(row, qs, strict=True):
            p, qm = mpmath.exp(mpmath.mpf(float(v)) - lse), mpmath.mpf(qj)
            if qm == 0:
                terms.append(mpmath.mpf(0) if p <= half_s else mpmath.inf)
            else:
                terms.append(p * mpmath.log(p / qm) - p + qm)
        out.append(mpmath.fsum(terms))
    return out


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_kl_matches_its_definition_with_exact_zeros(dtype: str) -> None:
    # saturated rows (leads of 20..60 nats): in float16 the other classes' p (e^-20 ... e^-62)
    # are below s/2 = 2^-25, so p̂ = (1, 0, ..., 0) is correctly rounded. The old reading of a
    # 0 as s/2 in the log but as 0 in sum p̂ made these rows' KL negative.
    x = np.loadtxt(sample_input("saturated_rows.csv"), delimiter=",", comments="#")
    r = analyze(x, dtypes=[dtype], gradients=False)
    for c in r.cells:
        if c.metrics.nan.elements:
            continue  # naive float16: exp(60) overflows, no KL for that row
        expected = mp_kl(x, c.probabilities, dtype)
        assert c.metrics.kl.max >= 0
        assert c.metrics.kl.max == pytest.approx(float(max(expected)), rel=1e-6, abs=0), c.method
    if dtype == "float16":
        assert cell(r, "torch", "float16").metrics.exact_zero.elements == 36


def test_kl_of_a_correctly_rounded_one_zero_row() -> None:
    # p = (1 - e, e), e = 1/(1 + e^18) = 1.523e-8: float16 gives exactly (1, 0), correctly
    # rounded (e < 2^-25 = 2.98e-8); KL = (1 - e) log(1 - e) + e = e^2/2 + e^3/6 + ... = 1.16e-16
    # by hand, not the e log(2e/s) - e = -2.5e-8 the old reading of 0 as s/2 gave
    r = analyze([[18.0, 0.0]], dtypes=["float16"], methods=["shifted", "torch"], gradients=False)
    e = 1 / (1 + math.exp(18))
    for m in ("shifted", "torch"):
        c = cell(r, m, "float16")
        assert c.probabilities == [[1.0, 0.0]]
        assert c.metrics.exact_zero.elements == 1
        assert c.metrics.kl.max == pytest.approx(e * e / 2 + e**3 / 6, rel=1e-6, abs=0)


def test_kl_is_infinite_at_an_underflow() -> None:
    # naive float16: exp(-20) rounds to 0 but the exact p = e^-15/(1 + e^-15) = 3.06e-7 is
    # representable (a subnormal): the generalised KL is +inf, as its definition says
    r = analyze([[-20.0, -5.0]], dtypes=["float16"], methods=["naive", "shifted"])
    naive = cell(r, "naive", "float16").metrics
    assert naive.underflow.elements == 1
    assert naive.kl.max == math.inf and naive.kl.mean == math.inf
    shifted = cell(r, "shifted", "float16")
    assert 0 < shifted.metrics.kl.max < 1e-6
    assert shifted.metrics.kl.max == pytest.approx(
        float(mp_kl(np.array([[-20.0, -5.0]]), shifted.probabilities, "float16")[0]),
        rel=1e-6,
        abs=0,
    )


def test_generalised_kl_is_never_negative() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 4, (40, 50))
    x[::4, 0] += 40  # saturated rows: exact zeros in float16 beside a top p rounded to 1
    x[1::4] *= 8  # wide rows: subnormal and zero outputs
    for c in analyze(x, gradients=False).cells:
        assert c.metrics.kl.max is None or c.metrics.kl.max >= 0, (c.method, c.dtype)
        assert c.metrics.kl.mean is None or c.metrics.kl.mean >= 0, (c.method, c.dtype)


def test_headroom_is_distance_to_the_limits() -> None:
    r = analyze([[3.0, 1.0, -2.0]], dtypes=["float32"], methods=["naive"])
    h = cell(r, "naive", "float32").metrics.headroom
    lse = math.log(math.exp(3) + math.exp(1) + math.exp(-2))
    # float32's first value that rounds to inf: max + ulp(max)/2 = 2^128 (1 - 2^-25)
    limit = 128 * math.log(2) + math.log1p(-(2.0**-25))
    assert h.overflow_nats == pytest.approx(limit - lse, rel=1e-12, abs=0)
    # float32 p rounds to 0 below ln(2^-150) = -103.97
    assert h.underflow_nats == pytest.approx(-2.0 - lse + 150 * math.log(2), rel=1e-6, abs=0)


def test_overflow_headroom_counts_the_sum() -> None:
    # three logits of 10 in float16: each exp(10) = 22026 is finite, but the sum 66079 is past
    # 65520 (the first value that rounds to inf) and naive's sum overflows. The headroom is
    # ln 65520 - (10 + ln 3) = -0.0085 nats: past the limit; ln 65504 - 10 was +1.09.
    r = analyze([[10.0, 10.0, 10.0]], dtypes=["float16"], methods=["naive"])
    c = cell(r, "naive", "float16").metrics
    assert c.overflow.rows == 1
    assert c.headroom.overflow_nats == pytest.approx(
        math.log(65520) - 10 - math.log(3), rel=1e-9, abs=0
    )
    assert c.headroom.overflow_nats < 0
    # 9.9 three times: sum 59904 < 65520 (headroom +0.0915), naive float16 does not overflow
    r = analyze([[9.9, 9.9, 9.9]], dtypes=["float16"], methods=["naive"])
    c = cell(r, "naive", "float16").metrics
    x = float(np.float16(9.9))
    assert c.overflow.rows == 0
    assert c.headroom.overflow_nats == pytest.approx(
        math.log(65520) - x - math.log(3), rel=1e-9, abs=0
    )


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
