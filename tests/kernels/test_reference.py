"""The fused reference kernels against the torch code they replaced, and against mpmath.

Tolerances (docs/design.md §3): the float64 kernel differs from the torch oracle only by libm
exp/log versus torch's (about an ulp each), a compensated row sum and p = exp(x - m) / s, so
log p agrees within 2 (|log p| + 8) 2^-52 and p within (|log p| + 8) 2^-52 + 2^-50 relative
(normal range; the oracle's p = exp(log p) is the less accurate); the
double-double kernel runs the oracle's own operations except log s (the Newton step's starting
point, whose exp(-L0) then carries a different error below 2^-62) and the order of the last,
inexact piece of the row sum, so the exponents e are identical and p and log p agree within
twice their documented bounds (2^-59 relative, 2^-58 absolute); mpmath checks each bound.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from smcheck.kernels.reference import dd_softmax, dd_table, softmax64
from smcheck.reference.doubledouble import dd_reference
from smcheck.reference.exact import exact_softmax
from tests.conftest import DTYPES
from tests.kernels.rows import adversarial_rows
from tests.reference import oracle_doubledouble, oracle_exact

mpmath.mp.dps = 50


def _same_nonfinite(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Assert a and b are NaN, +inf and -inf at the same places; return where both are finite."""
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b))
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b))
    return np.isfinite(a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax64_agrees_with_the_torch_oracle(dtype: str) -> None:
    x = adversarial_rows(dtype)
    logp, p, lse = softmax64(x)
    ologp, op, olse = oracle_exact.fast_softmax64(x)
    fin = _same_nonfinite(logp, ologp)
    tol = 2 * (np.abs(ologp[fin]) + 8) * 2.0**-52
    assert (np.abs(logp[fin] - ologp[fin]) <= tol).all()
    fin = _same_nonfinite(p, op)
    normal = fin & (op >= 2.0**-1022)
    # the oracle's p = exp(log p) carries log p's absolute error as a relative one
    rel = np.abs(p[normal] / op[normal] - 1)
    assert (rel <= (np.abs(ologp[normal]) + 8) * 2.0**-52 + 2.0**-50).all()
    np.testing.assert_array_equal(p[fin & ~normal] == 0, op[fin & ~normal] == 0)
    fin = _same_nonfinite(lse, olse)
    np.testing.assert_allclose(lse[fin], olse[fin], rtol=2.0**-50, atol=2.0**-52)


def test_softmax64_long_row_sum_is_compensated() -> None:
    # 10^6 logits whose sum rounds at every step, so that a plain sequential sum misses the
    # bound (checked below). The reference sums the float64 exps exactly rounded (math.fsum;
    # each exp within an ulp, so the sum within 2^-52 relative and lse within a tenth of the
    # bound) and takes the log in mpmath.
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (1, 1_000_000))
    logp, p, lse = softmax64(x)
    m = float(x.max())
    e = np.exp(x[0] - m)
    with mpmath.workdps(30):
        exact = mpmath.log(mpmath.mpf(math.fsum(e))) + m

        def off(v: float) -> bool:
            return abs(mpmath.mpf(v) - exact) >= 4 * 2.0**-53 * abs(exact)

        assert not off(float(lse[0]))
        assert off(m + math.log(np.cumsum(e)[-1]))  # cumsum: the plain sum, in element order
    assert abs(float(p.sum()) - 1) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [1.0, 0.7, 3.0, 1e-3, 1e3])
def test_dd_softmax_agrees_with_the_torch_oracle(dtype: str, t: float) -> None:
    x = adversarial_rows(dtype)
    ph, pl, e, lh, ll, lse, p_hi = dd_softmax(x, t, *dd_table())
    oph, opl, oe, olh, oll, olse, op_hi = (
        v.numpy() for v in oracle_doubledouble.dd_reference(torch.from_numpy(x), t)
    )
    ok = np.isfinite(x).all(-1) | (np.isneginf(x).any(-1) & ~np.isneginf(x).all(-1))
    ok &= ~np.isnan(x).any(-1) & ~np.isposinf(x).any(-1)  # excluded rows: meaningless values
    ok = np.broadcast_to(ok[:, None], x.shape)
    np.testing.assert_array_equal(e[ok], oe[ok])
    live = ok & (oph != 0)
    dd, odd = ph[live] + pl[live], oph[live] + opl[live]
    assert (np.abs((ph[live] - oph[live]) + (pl[live] - opl[live])) <= 2.0**-59 * odd).all()
    np.testing.assert_allclose(dd, odd, rtol=2.0**-52)
    np.testing.assert_array_equal(ph[ok & (oph == 0)], 0)
    fin = _same_nonfinite(lh[ok], olh[ok])
    dl = np.abs((lh[ok][fin] - olh[ok][fin]) + (ll[ok][fin] - oll[ok][fin]))
    assert (dl <= 2.0**-58).all()
    np.testing.assert_allclose(p_hi[ok], op_hi[ok], rtol=2.0**-52, atol=0)
    rows = ok[:, 0]
    np.testing.assert_allclose(lse[rows], olse[rows], rtol=2.0**-52)


def test_dd_softmax_row_with_an_infinite_or_nan_max_is_not_finite() -> None:
    # such rows are excluded from every metric, but their reference must stay non-finite (a
    # vectorised row sum in integer pieces, tried at stop 32, made it finite: its fallback
    # to the float sum for such rows is what this checks; docs/performance-history.md)
    x = np.array([[np.inf, 1.0, 2.0], [np.nan, 1.0, 2.0], [1e308, -1e308, 0.0]])
    ph, pl, e, lh, ll, lse, p_hi = dd_softmax(x, 1.0, *dd_table())
    assert not np.isfinite(lse[:2]).any() and np.isfinite(lse[2])
    assert np.isnan(p_hi[1]).all() and not np.isfinite(p_hi[0]).all()
    np.testing.assert_array_equal(p_hi[2], [1.0, 0.0, 0.0])


def test_dd_reference_accepts_arrays_and_tensors_alike() -> None:
    x = adversarial_rows("float64")[:6]
    a, b = dd_reference(x, 0.7), dd_reference(torch.from_numpy(x), 0.7)
    np.testing.assert_array_equal(a.p_hi, b.p_hi)
    assert a.parts.e.dtype == torch.int64 and a.parts.lh.dtype == torch.float64


def test_exact_softmax_float64_is_the_kernel() -> None:
    x = adversarial_rows("float32")
    ref = exact_softmax(x)
    logp, p, lse = softmax64(x)
    for got, want in ((ref.logp, logp), (ref.p, p), (ref.lse, lse)):
        np.testing.assert_array_equal(got, want)


def test_softmax64_matches_mpmath_within_its_documented_bounds() -> None:
    # smcheck.reference.exact: |error of log p| <= (|log p| + 8) 2^-52; p within 2^-49 relative
    x = adversarial_rows("float32")
    x = x[np.isfinite(x).all(-1) | (np.isneginf(x).any(-1) & ~np.isneginf(x).all(-1))]
    x = x[~np.isnan(x).any(-1) & ~np.isposinf(x).any(-1)]
    logp, p, _ = softmax64(x)
    for i, row in enumerate(x):
        fin = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in fin))
        for j, v in enumerate(row):
            if not np.isfinite(v):
                assert p[i, j] == 0 and logp[i, j] == -np.inf
                continue
            z = mpmath.mpf(float(v)) - lse
            assert abs(mpmath.mpf(float(logp[i, j])) - z) <= (abs(z) + 8) * mpmath.mpf(2) ** -52
            if p[i, j] >= 2.0**-1022:
                assert abs(mpmath.mpf(float(p[i, j])) / mpmath.exp(z) - 1) <= mpmath.mpf(2) ** -49


def test_softmax64_shifts_by_the_largest_logit_whatever_the_signs() -> None:
    # the shift must be the maximum: by any other entry, exp(x - m) overflows here
    x = np.array([[-1000.0, -2000.0, -1.0], [-1.0, -2000.0, -1000.0], [-800.0, 0.0, -0.0]])
    logp, p, lse = softmax64(x)
    want = np.array([[-999.0, -1999.0, 0.0], [0.0, -1999.0, -999.0]])
    np.testing.assert_array_equal(logp[:2], want)  # the others' exp underflows: log s = 0
    np.testing.assert_array_equal(lse[:2], [-1.0, -1.0])
    # a maximum of 0.0 and -0.0: log p of both is -log 2, not a signed-zero artefact
    np.testing.assert_array_equal(logp[2, 1:], [-math.log(2.0)] * 2)
    one = softmax64(np.array([[-0.0]]))
    assert one[0][0, 0] == 0.0 and one[1][0, 0] == 1.0 and one[2][0] == 0.0
    # far from 0: by anything but the maximum every exp(x - m) underflows (or overflows)
    far = softmax64(np.array([[-1e6, -999999.0]]))
    np.testing.assert_allclose(
        far[0][0], [-1 - math.log1p(math.exp(-1)), -math.log1p(math.exp(-1))]
    )
