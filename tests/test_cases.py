"""The core's hand-derived cases (issue 2 "It must show"), through the Python API."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck import analyze
from smcheck.dtypes import get_format
from smcheck.report.model import Report, Verdict
from tests.conftest import DTYPES, ROOT, cell


@pytest.fixture(scope="module")
def minus999() -> Report:
    return analyze(np.array([[-999.0, 1, 2, 5, 6]]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["naive", "shifted"])
def test_minus999_is_an_exact_zero_not_an_underflow(
    minus999: Report, method: str, dtype: str
) -> None:
    m = cell(minus999, method, dtype).metrics
    assert (m.exact_zero.elements, m.exact_zero.rows, m.exact_zero.worst_row) == (1, 1, (0,))
    assert m.underflow.elements == 0
    assert m.lost_mass.max == 0.0
    # ...but log(softmax) turns that correct zero into -inf: FAIL, naming the remedy
    assert m.log_nonfinite.elements == 1
    c = cell(minus999, method, dtype)
    assert c.verdict is Verdict.FAIL
    assert "log_softmax" in c.reasons[0]


def test_minus999_logdomain_log_probability_in_float64(minus999: Report) -> None:
    c = cell(minus999, "logdomain", "float64")
    assert c.verdict is Verdict.OK
    assert c.log_probabilities is not None
    # mpmath mp.dps=50: -999 - logsumexp(-999,1,2,5,6) = -1005.33141161543602...
    assert c.log_probabilities[0][0] == pytest.approx(-1005.3314116154360, abs=1e-12)
    assert c.log_probabilities[0][1:] == pytest.approx(
        [-5.3314116154360, -4.3314116154360, -1.3314116154360, -0.33141161543603], abs=1e-12
    )


def test_minus999_float64_errors_are_measured_against_a_finer_reference(minus999: Report) -> None:
    errors = [
        cell(minus999, m, "float64").metrics.error.max_ulp
        for m in ("naive", "shifted", "logdomain", "torch")
    ]
    assert all(e is not None and 0 <= e < 4 for e in errors)
    assert any(
        e > 0 for e in errors
    )  # float64 results are not exact; a float64 reference would hide it


def test_fp16_naive_overflows_in_exactly_one_element() -> None:
    r = analyze(np.array([[1.0, 2, 3, 12]]), dtypes=["float16"])
    naive = cell(r, "naive", "float16")
    assert naive.metrics.overflow.elements == 1
    assert naive.metrics.overflow.rows == 1
    assert naive.metrics.nan.elements == 1  # exp(12) = inf, sum = inf: inf/inf
    assert naive.metrics.nan.causes == {"inf/inf": 1}
    assert naive.verdict is Verdict.FAIL
    assert "11.09" in naive.reasons[0]
    for m in ("shifted", "logdomain", "torch"):
        assert cell(r, m, "float16").verdict is not Verdict.FAIL, m


def test_1e8_float32_logdomain_exact_naive_fails() -> None:
    r = analyze(np.array([[1e8, 1e8]]), dtypes=["float32"])
    assert cell(r, "naive", "float32").verdict is Verdict.FAIL
    lg = cell(r, "logdomain", "float32")
    assert lg.verdict is Verdict.OK
    assert lg.metrics.error.max_ulp == 0.0
    assert lg.probabilities == [[0.5, 0.5]]


def test_mnist_naive_float16_overflow_counts_match_hand_derivation() -> None:
    x = np.load(ROOT / "sample_inputs" / "mnist_cnn_presoftmax_2500x10.npy")
    r = analyze(x, methods=["naive"])
    # by hand: float16 exp(x) rounds to inf iff exp(x) >= max + ulp(max)/2 = 65520
    x16 = x.astype(np.float16).astype(np.float64)
    w = np.exp(x16)
    over = w >= 65520.0
    # rows whose terms are all finite in float16 but whose sum (float32 inside) rounds past max
    with np.errstate(over="ignore"):
        w16 = w.astype(np.float16).astype(np.float64)
    sum_over = ~over.any(1) & (w16.sum(1) >= 65520.0)
    m16 = cell(r, "naive", "float16").metrics
    assert (int(over.sum()), int(over.any(1).sum()), int(sum_over.sum())) == (472, 471, 4)
    assert m16.overflow.elements == int(over.sum() + sum_over.sum())
    assert m16.overflow.rows == int((over.any(1) | sum_over).sum())
    # and its parts: the exp's and the sums' (no T here)
    assert (m16.exp_overflow.elements, m16.exp_overflow.rows) == (472, 471)
    assert (m16.sum_overflow.elements, m16.sum_overflow.rows) == (4, 4)
    assert m16.temperature_overflow.elements == 0
    first_sum = int(np.flatnonzero(sum_over)[0])
    assert m16.sum_overflow.worst_row == (first_sum,)
    # each overflowed element is inf/inf = NaN; the rest of the row is finite/inf = 0
    assert m16.nan.elements == int(over.sum())
    assert m16.nan.rows == int(over.any(1).sum())
    for dtype in ("bfloat16", "float32", "float64"):
        assert cell(r, "naive", dtype).metrics.overflow.elements == 0, dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_overflow_threshold_is_ln_max(dtype: str) -> None:
    f = get_format(dtype)
    below = float(f.round(f.exp_overflow_x * (1 - 4 * f.eps)))
    above = float(f.round(f.exp_overflow_x * (1 + 4 * f.eps)))
    r = analyze(np.array([[below, 0.0], [above, 0.0]]), dtypes=[dtype], methods=["naive"])
    ov = cell(r, "naive", dtype).metrics.overflow
    assert (ov.elements, ov.rows, ov.worst_row) == (1, 1, (1,))
