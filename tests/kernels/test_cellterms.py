"""The direct formats' KL term without a logarithm (cellterms.direct_kl) against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np

from smcheck.kernels.cellterms import DIRECT_SERIES_LIMIT, DIRECT_SERIES_MIN, direct_kl

mpmath.mp.dps = 40


def _exact(d: float, p: float) -> mpmath.mpf:
    """p (r - log1p r) for the exact r = d/p, to 40 digits."""
    r = mpmath.mpf(d) / mpmath.mpf(p)
    return mpmath.mpf(p) * (r - mpmath.log1p(r))


def test_direct_kl_is_within_four_units_of_roundoff_over_its_range() -> None:
    rng = np.random.default_rng(5)
    lo, hi = DIRECT_SERIES_MIN, DIRECT_SERIES_LIMIT
    mags = np.concatenate(
        [
            np.geomspace(lo, hi, 2000),
            rng.uniform(lo, hi, 2000),
            np.exp(rng.uniform(np.log(lo), np.log(hi), 4000)),  # small |r| as often as large
            [lo, hi],
        ]
    )
    rs = np.concatenate([mags, -mags])
    ps = 2.0 ** rng.uniform(-60, 0, rs.size)
    worst = 0.0
    for r, p in zip(rs, ps, strict=True):
        d = r * p  # rounded: d / p is r or a neighbour; judged against the exact quotient
        got = direct_kl(d, p)
        exact = _exact(d, p)
        worst = max(worst, float(abs((mpmath.mpf(got) - exact) / exact)))
    worst_seen = (-1.0136148744165546e-09, 1.5446631936289144e-08)  # 3.2 in 200 000 samples
    got, exact = direct_kl(*worst_seen), _exact(*worst_seen)
    worst = max(worst, float(abs((mpmath.mpf(got) - exact) / exact)))
    assert worst < 4 * 2.0**-53, worst / 2.0**-53


def test_direct_kl_leaves_what_it_cannot_hold_to_the_scalar_loop() -> None:
    p = 0.125
    beyond = [DIRECT_SERIES_LIMIT * 1.0001, -DIRECT_SERIES_LIMIT * 1.0001, 3.0, -1.0]
    below = [DIRECT_SERIES_MIN / 2, -DIRECT_SERIES_MIN / 2, 1e-300]
    for r in beyond + below:
        assert np.isnan(direct_kl(r * p, p)), r
    assert direct_kl(0.0, p) == 0.0
    assert direct_kl(-0.0, p) == 0.0
