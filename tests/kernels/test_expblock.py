"""The vectorised exp against mpmath at 40 digits: below 2 ulp (documented in expblock)."""

from __future__ import annotations

import mpmath
import numpy as np

from smcheck.kernels.expblock import exp_many

mpmath.mp.dps = 40


def _ulp(e: mpmath.mpf) -> mpmath.mpf:
    if e < mpmath.mpf(2) ** -1022:
        return mpmath.mpf(2) ** -1074  # subnormal spacing
    return mpmath.mpf(2) ** (mpmath.floor(mpmath.log(e, 2)) - 52)


def test_exp_block_is_within_two_ulp_over_its_range() -> None:
    rng = np.random.default_rng(9)
    v = np.concatenate(
        [
            -np.linspace(0, 746, 4001),
            np.linspace(0, 709, 401),
            rng.uniform(-1e-6, 1e-6, 50),
            [-745.1, -744.5, -708.3, -708.5, -708.4, 5e-324, -0.0, np.log(2) / 2, -np.log(2) / 2],
        ]
    )
    got = exp_many(v)
    worst = max(
        abs(mpmath.mpf(float(g)) - mpmath.exp(mpmath.mpf(float(a)))) / _ulp(mpmath.exp(a))
        for a, g in zip(v, got, strict=True)
    )
    assert worst < 2, float(worst)


def test_exp_block_gives_zero_far_below_the_range_and_for_minus_inf() -> None:
    got = exp_many(np.array([-np.inf, -746.0, -1e300, -800.0, 0.0]))
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 1])
