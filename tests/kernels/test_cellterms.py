"""The direct formats' KL term without a logarithm (cellterms.direct_kl) against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np

from smcheck.kernels.cellterms import DIRECT_SERIES_LIMIT, DIRECT_SERIES_MIN, direct_kl

mpmath.mp.dps = 40


def _exact(r: float, p: float) -> mpmath.mpf:
    """p (r - log1p r) for the float64 r, to 40 digits."""
    rm = mpmath.mpf(r)
    return mpmath.mpf(p) * (rm - mpmath.log1p(rm))


def test_direct_kl_is_within_six_units_of_roundoff_over_its_range() -> None:
    rng = np.random.default_rng(5)
    lo, hi = DIRECT_SERIES_MIN, DIRECT_SERIES_LIMIT
    mags = np.concatenate(
        [
            np.geomspace(lo, hi, 2000),
            rng.uniform(lo, hi, 2000),
            np.exp(rng.uniform(np.log(lo), np.log(hi), 4000)),  # small |r| as often as large
            [lo, hi, 1.0390620070011535e-05 / 0.9273739353625423],  # near the worst seen
        ]
    )
    rs = np.concatenate([mags, -mags])
    ps = 2.0 ** rng.uniform(-60, 0, rs.size)
    worst = 0.0
    for r, p in zip(rs, ps, strict=True):
        d = r * p  # d / p is r again, or r's neighbour: judged against that quotient
        got = direct_kl(d, p)
        exact = _exact(d / p, p)
        worst = max(worst, float(abs((mpmath.mpf(got) - exact) / exact)))
    assert worst < 6 * 2.0**-53, worst / 2.0**-53  # 3.9 here (4.06 the worst seen)


def test_direct_kl_leaves_what_it_cannot_hold_to_the_scalar_loop() -> None:
    p = 0.125
    beyond = [DIRECT_SERIES_LIMIT * 1.0001, -DIRECT_SERIES_LIMIT * 1.0001, 3.0, -1.0]
    below = [DIRECT_SERIES_MIN / 2, -DIRECT_SERIES_MIN / 2, 1e-300]
    for r in beyond + below:
        assert np.isnan(direct_kl(r * p, p)), r
    assert direct_kl(0.0, p) == 0.0
    assert direct_kl(-0.0, p) == 0.0
