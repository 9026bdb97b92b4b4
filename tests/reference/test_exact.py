"""The exact reference against mpmath at 50 digits, in every format's working precision."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from smcheck.dtypes import get_format
from smcheck.reference.exact import EXTENDED_AVAILABLE, exact_softmax, working_dtype
from tests.conftest import DTYPES

mpmath.mp.dps = 50


def mp(v: np.floating) -> mpmath.mpf:
    """Exact value of a float64 or long double (its shortest round-trip decimal)."""
    return mpmath.mpf(np.format_float_scientific(v, unique=True))


def mp_log_softmax(row: np.ndarray) -> list[mpmath.mpf]:
    xs = [mpmath.mpf(float(v)) for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
    return [v - lse for v in xs]


def rows_for(dtype: str) -> np.ndarray:
    f = get_format(dtype)
    rng = np.random.default_rng(7)
    span = min(f.exp_overflow_x * 3, 2000.0)
    rows = [
        rng.normal(0, 5, 12),
        rng.uniform(-span, span / 4, 12),
        np.array([-999.0, 1, 2, 5, 6, 0, 0, 0, 0, 0, 0, 0]),
        np.array([1e8, 1e8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ]
    x = f.round(np.array(rows))
    return x[np.isfinite(x).all(-1)]  # 1e8 is inf in float16


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_matches_mpmath(dtype: str) -> None:
    f = get_format(dtype)
    if f.t > 24 and not EXTENDED_AVAILABLE:
        pytest.skip("no extended long double on this platform")
    x = rows_for(dtype)
    ref = exact_softmax(x.astype(working_dtype(f)))
    # documented bound: |error of log p| <= (|log p| + 8) * eps of the working precision
    bits = np.finfo(working_dtype(f)).nmant + 1
    for i, row in enumerate(x):
        exact = mp_log_softmax(row)
        for j, z in enumerate(exact):
            got = mp(ref.logp[i, j])
            bound = (abs(z) + 8) * mpmath.mpf(2) ** (1 - bits)
            assert abs(got - z) <= bound, (dtype, i, j, got, z)


def test_float64_reference_is_finer_than_float64() -> None:
    if not EXTENDED_AVAILABLE:
        pytest.skip("no extended long double on this platform")
    x = np.array([[-999.0, 1, 2, 5, 6]])
    ref = exact_softmax(x.astype(np.longdouble))
    exact = mp_log_softmax(x[0])
    # a float64 result can be off by half an ulp (2^-53 relative); the reference must do far better
    for j in range(1, 5):
        rel = abs((mp(ref.p[0, j]) - mpmath.exp(exact[j])) / mpmath.exp(exact[j]))
        assert rel < 2.0**-60


def test_masked_entries_have_zero_probability() -> None:
    ref = exact_softmax(np.array([[-np.inf, 0.0, 0.0]]))
    np.testing.assert_array_equal(ref.p, [[0.0, 0.5, 0.5]])
    assert ref.lse[0] == pytest.approx(np.log(2))
