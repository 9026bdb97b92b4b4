"""The fast references and cell metrics against mpmath at 50 digits."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

from smcheck import analyze
from smcheck.kernels.reference import dd_exp_many, dd_table
from smcheck.reference.doubledouble import dd_reference
from smcheck.reference.exact import EXTENDED_AVAILABLE, exact_softmax, softmax64

mpmath.mp.dps = 50


def _rows() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.array(
        [
            rng.normal(0, 5, 24),
            rng.uniform(-1500, 300, 24),  # probabilities far below the float64 range
            np.r_[-999.0, 1, 2, 5, 6, np.zeros(19)],
            np.r_[745.0, -rng.uniform(0, 1, 23)],
            np.r_[[-np.inf] * 4, rng.standard_t(3, 20) * 40],  # masked entries
            np.r_[1e-30, 2e-30, 1e10, rng.normal(0, 1, 21)],  # x - m is inexact in float64
        ]
    )


def _mp_log_softmax(row: np.ndarray, t: float) -> list[mpmath.mpf | None]:
    xs = [mpmath.mpf(float(v)) / mpmath.mpf(t) if np.isfinite(v) else None for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs if v is not None))
    return [None if v is None else v - lse for v in xs]


@pytest.mark.parametrize("t", [1.0, 0.7, 3.0])
def test_dd_reference_matches_mpmath(t: float) -> None:
    x = _rows()
    ref = dd_reference(torch.from_numpy(x), t)
    q = ref.parts
    worst_p = worst_l = mpmath.mpf(0)
    for i, row in enumerate(x):
        for j, z in enumerate(_mp_log_softmax(row, t)):
            if z is None:
                assert ref.p_hi[i, j] == 0
                continue
            got_l = mpmath.mpf(float(q.lh[i, j])) + mpmath.mpf(float(q.ll[i, j]))
            worst_l = max(worst_l, abs(got_l - z))
            if z < -1999:  # below EXP_FLOOR: clamped, p < 2^-2885
                continue
            got_p = (mpmath.mpf(float(q.ph[i, j])) + mpmath.mpf(float(q.pl[i, j]))) * mpmath.mpf(
                2
            ) ** int(q.e[i, j])
            worst_p = max(worst_p, abs(got_p / mpmath.exp(z) - 1))
    # documented bound (smcheck.reference.doubledouble): p within 2^-60 relative, log p within
    # 2^-59 absolute
    assert worst_p < mpmath.mpf(2) ** -60
    assert worst_l < mpmath.mpf(2) ** -59


def test_dd_exp_matches_mpmath_over_its_range() -> None:
    d = -np.linspace(0, 1490, 20011)
    eh, el, e = dd_exp_many(d, *dd_table()[:5])
    for i in range(0, d.size, 97):
        got = (mpmath.mpf(float(eh[i])) + mpmath.mpf(float(el[i]))) * mpmath.mpf(2) ** int(e[i])
        exact = mpmath.exp(mpmath.mpf(float(d[i])))
        assert abs(got / exact - 1) < mpmath.mpf(2) ** -62, float(d[i])


def test_dd_reference_long_double_view_agrees() -> None:
    if not EXTENDED_AVAILABLE:
        pytest.skip("no extended long double on this platform")
    x = np.array([[-999.0, 1, 2, 5, 6], [0.5, -1.25, 3.0, 2.0, -np.inf]])
    ref = dd_reference(torch.from_numpy(x))
    old = exact_softmax(x.astype(np.longdouble))
    assert ref.p.dtype == np.longdouble
    np.testing.assert_allclose(ref.p.astype(float), old.p.astype(float), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(ref.logp.astype(float)[:, :4], old.logp.astype(float)[:, :4])


def test_softmax64_is_the_documented_algorithm() -> None:
    x = _rows()
    got = softmax64(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = x.max(-1, keepdims=True)
        d = x - m
        log_s = np.log(np.exp(d).sum(-1, keepdims=True))
    np.testing.assert_allclose(got.logp, d - log_s, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got.lse, (m + log_s)[:, 0], rtol=1e-15)


def _ulp64(p: mpmath.mpf) -> mpmath.mpf:
    _, e = mpmath.frexp(p)
    return mpmath.mpf(2) ** (max(int(e), -1021) - 53)


def test_float64_cell_error_is_measured_below_the_float64_ulp() -> None:
    # the float64 cell's max ulp error against an mpmath softmax of the same rows: with a
    # float64-only reference it would be off by up to an ulp; the double-double one is exact
    # to 2^-7 ulp (reported to 1e-4 here)
    rng = np.random.default_rng(5)
    x = rng.normal(0, 4, (3, 40))
    cell = next(
        c
        for c in analyze(x, dtypes=["float64"], methods=["torch"]).sources[0].cells
        if c.method == "torch"
    )
    p_hat = torch.softmax(torch.from_numpy(x), -1).numpy()
    worst = mpmath.mpf(0)
    for i, row in enumerate(x):
        for j, z in enumerate(_mp_log_softmax(row, 1.0)):
            p = mpmath.exp(z)
            worst = max(worst, abs(mpmath.mpf(float(p_hat[i, j])) - p) / _ulp64(p))
    assert cell.metrics.error.max_ulp == pytest.approx(float(worst), abs=1e-4)


def test_float32_cell_kl_matches_mpmath() -> None:
    # generalised KL(p || p̂) = sum p log(p/p̂) - 1 + sum p̂ of float32 outputs is ~1e-15: from
    # float64 logs it would cancel to noise; the series in r = (p̂ - p)/p gives many digits
    rng = np.random.default_rng(8)
    x = rng.normal(0, 3, (2, 50)).astype(np.float32)
    cell = next(
        c
        for c in analyze(x, dtypes=["float32"], methods=["shifted"]).sources[0].cells
        if c.method == "shifted"
    )
    xt = torch.from_numpy(x)
    w = torch.exp(xt - xt.amax(-1, keepdim=True))
    q = (w / w.sum(-1, keepdim=True)).numpy()
    kls = []
    for i, row in enumerate(x.astype(np.float64)):
        zs = _mp_log_softmax(row, 1.0)
        qs = [mpmath.mpf(float(v)) for v in q[i]]
        terms = zip(zs, qs, strict=True)
        plain = mpmath.fsum(mpmath.exp(z) * (z - mpmath.log(qj)) for z, qj in terms)
        kls.append(plain - 1 + mpmath.fsum(qs))
    assert cell.metrics.kl.max == pytest.approx(float(max(kls)), rel=1e-5)
    assert cell.metrics.kl.mean == pytest.approx(float(mpmath.fsum(kls) / 2), rel=1e-5)


def test_float64_cell_sum_error_is_exact() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, (4, 1000))
    cell = next(
        c
        for c in analyze(x, dtypes=["float64"], methods=["naive"]).sources[0].cells
        if c.method == "naive"
    )
    xt = torch.from_numpy(x)
    w = torch.exp(xt)
    p = (w / w.sum(-1, keepdim=True)).numpy()
    exact = max(abs(mpmath.fsum(mpmath.mpf(float(v)) for v in row) - 1) for row in p)
    assert cell.metrics.sum_error.max == float(exact)
