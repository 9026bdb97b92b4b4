"""The fused row-features kernel against the numpy oracle it replaced, over adversarial blocks in
every format and temperature.

Tolerances (docs/design.md §4, error bounds): every count, extreme and flag identical; the
condition number within (log2 n + 4)·2^-52 relative, as its weighted sum is now compensated
(the oracle's pairwise sum was off by up to (log2 n)/2 ulps; the difference moves cond by as
much, since cond >= that sum).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from smcheck.analysis.bounds import row_features
from tests.analysis.oracle_bounds import row_features as oracle_row_features
from tests.conftest import DTYPES
from tests.kernels.blocks import adversarial_rows, blocks

EXACT = ("n", "top", "span", "lse", "b", "pmax", "rises", "big_rises", "k_sum", "k_naive")


def _check(x: np.ndarray, dtypes: tuple[str, ...]) -> None:
    for blk, _ in blocks(x, dtypes):
        xs = blk.logits / blk.divisor  # float64 cells: the reference's own division, rounded
        new = row_features(xs, blk.ref, blk.live, blk.fmt)
        old = oracle_row_features(xs, blk.ref, blk.live, blk.fmt)
        where = f"{blk.fmt.name} T={blk.divisor}"
        for name in EXACT:
            np.testing.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=where)
        np.testing.assert_array_equal(new.out_under, old.out_under, err_msg=where)
        np.testing.assert_array_equal(new.ref_allow, old.ref_allow, err_msg=where)
        tol = (math.log2(x.shape[1]) + 4) * 2.0**-52
        np.testing.assert_allclose(new.cond, old.cond, rtol=tol, atol=0, err_msg=where)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_features_agree_with_the_oracle_on_adversarial_blocks(dtype: str) -> None:
    _check(adversarial_rows(2), (dtype,))


def test_row_features_agree_on_long_rows() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(0, 4, (5, 6000))
    x[1, ::5] = -np.inf
    x[2] = np.sort(x[2])  # the running maximum rises at every entry
    x[3, 0] = 80.0  # one dominant class
    _check(x, ("float16", "float32", "float64"))


def test_condition_number_is_nan_when_a_term_is() -> None:
    from smcheck.kernels.bounds import row_features as kernel_rows

    x = np.array([[0.0, -1.0, -2.0], [0.0, -1.0, -2.0], [np.inf, 0.0, -1.0], [0.0, -1.0, -2.0]])
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    live = np.ones(x.shape, np.bool_)
    live[3, :] = [True, False, False]
    with np.errstate(divide="ignore"):
        out, _ = kernel_rows(x, p, np.log(p), live, -700.0)
    # row 0: max over j of p_j/0.7 [d_j (1 - p_j) + max(W - p_j d_j, 0)], W = 0.4
    want0 = max(
        g / 0.7 * (d * (1 - g) + max(0.4 - g * d, 0.0)) for g, d in [(0.7, 0), (0.2, 1), (0.1, 2)]
    )
    assert out[0, 8] == pytest.approx(want0, rel=1e-15)
    assert np.isnan(out[1, 8])  # every live p is 0: 0/0
    assert np.isnan(out[2, 8])  # x_max = +inf: inf - inf
    assert np.isnan(out[3, 8])  # the one live p is 0
