"""The input, rounding and entropy kernels against the numpy code they replaced and mpmath.

Counts and Δlog p are identical to the oracle's (the same operations); the entropy and max
probability agree within 1e-13 relative (in-row sums sequential instead of numpy's pairwise);
the rounding KL is checked against mpmath (the oracle's could go negative).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from smcheck.analysis.inputstats import RoundingAccumulator
from smcheck.dtypes import get_format
from smcheck.kernels.inputs import entropy_rows, rounding_rows
from smcheck.kernels.reference import softmax64
from smcheck.reference.exact import exact_softmax
from tests.analysis import oracle_inputstats as oracle
from tests.conftest import DTYPES
from tests.kernels.rows import adversarial_rows

mpmath.mp.dps = 50


def _base_valid(x: np.ndarray) -> np.ndarray:
    return ~(np.isnan(x) | np.isposinf(x)).any(-1) & ~np.isneginf(x).all(-1)


def _source() -> np.ndarray:
    """float64 rows with values every narrower format rounds, overflows or makes -inf."""
    rng = np.random.default_rng(6)
    x = adversarial_rows("float64")
    extra = np.array([[1e5, -1e5, 7e4, 1.0], [-1e9, -1e9, 2.0, 3.0], [4e38, 1.0, 2.0, 3.0]])
    extra = np.pad(extra, ((0, 0), (0, x.shape[1] - 4)), constant_values=0.5)
    return np.concatenate([x, extra, rng.normal(0, 3, (4, x.shape[1])) * 1.000001])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cast_rows_counts_agree_with_the_oracle(dtype: str) -> None:
    x = _source()
    with np.errstate(over="ignore"):
        xd = get_format(dtype).round(x)
    base = _base_valid(x)
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(xd)
    got = rounding_rows(x, xd, base, logp, p, logq)[:3]
    for a, b in zip(got, oracle.cast_rows(x, xd, base), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rounding_dlogp_is_the_oracles_and_kl_is_never_negative(dtype: str) -> None:
    x = _source()
    with np.errstate(over="ignore"):
        xd = get_format(dtype).round(x)
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(xd)
    _, changed, valid, d, kl = rounding_rows(x, xd, _base_valid(x), logp, p, logq)
    assert changed.any() == (dtype != "float64")
    np.testing.assert_array_equal(d, oracle.rounding_dlogp(logp, logq, xd, valid))
    assert np.isnan(kl[~valid]).all()
    assert (kl[valid] >= 0).all()


def test_rounding_rows_leave_the_masks_out_but_keep_the_row() -> None:
    # row 0: logits 1, 2 (exact in bfloat16) and the -1e4 mask (-9984); row 1: masks only
    x = np.array([[1.0, 2.0, -1e4, -1e4], [-1e4, -1e4, -1e4, -1e4]])
    xd = get_format("bfloat16").round(x)
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(xd)
    masks = np.array([[False, False, True, True], [True] * 4])
    over, changed, valid, d, kl = rounding_rows(x, xd, np.ones(2, bool), logp, p, logq, masks)
    assert over.tolist() == [0, 0] and changed.tolist() == [0, 0]
    assert valid.tolist() == [True, True]  # a row of masks is still analysable
    assert d.tolist() == [0.0, 0.0] and kl.tolist() == [0.0, 0.0]
    assert rounding_rows(x, xd, np.ones(2, bool), logp, p, logq)[3][0] == 16.0  # the mask's


def _mp_kl(x: np.ndarray, xd: np.ndarray) -> mpmath.mpf:
    """KL(softmax(x) || softmax(xd)) over the entries finite in xd, at 50 digits."""

    def logp(row: np.ndarray) -> list[mpmath.mpf]:
        v = [mpmath.mpf(float(a)) for a in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(a) for a in v))
        return [a - lse for a in v]

    lp, lq = logp(x), logp(xd)
    return mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq, strict=True))


@pytest.mark.parametrize(("dtype", "rel"), [("float32", 1e-6), ("bfloat16", 1e-9)])
def test_rounding_kl_matches_mpmath(dtype: str, rel: float) -> None:
    # rows where the old sum p (log p - log q) came out negative (float32: about -7e-17)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (3, 64)) * np.array([[0.5], [4.0], [25.0]])
    xd = get_format(dtype).round(x)
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(xd)
    kl = rounding_rows(x, xd, np.ones(3, dtype=bool), logp, p, logq)[4]
    for i in range(3):
        assert kl[i] == pytest.approx(float(_mp_kl(x[i], xd[i])), rel=rel)


def test_rounding_kl_mean_is_positive_where_the_old_sum_went_negative() -> None:
    # row 12 of this draw: sum p (log p - log q) = -6.7e-17 in float64, a negative divergence
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (50, 64)) * rng.uniform(0.1, 30)
    f = get_format("float32")
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(f.round(x))
    assert (p * (logp - logq)).sum(-1)[12] < 0  # the old formula on these rows
    acc = RoundingAccumulator(f)
    acc.add(x, f.round(x), exact_softmax(x), np.ones(50, dtype=bool), 0)
    assert acc.kl_max.result > 0 and acc.kl_sum.mean > 0
    kl = rounding_rows(x, f.round(x), np.ones(50, dtype=bool), logp, p, logq)[4]
    assert kl[12] == pytest.approx(float(_mp_kl(x[12], f.round(x)[12])), rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [1.0, 0.05, 7.0, 1e-4, 1e4])
def test_entropy_rows_agree_with_the_oracle(dtype: str, t: float) -> None:
    x = adversarial_rows(dtype)
    valid = _base_valid(x)
    h, pmax = entropy_rows(x, valid, t)
    oh, opmax = oracle.entropy_and_max(x[valid], t)
    assert np.isnan(h[~valid]).all() and np.isnan(pmax[~valid]).all()
    np.testing.assert_allclose(h[valid], oh, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(pmax[valid], opmax, rtol=1e-13)
