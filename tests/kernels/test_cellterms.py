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


def test_16_bit_floats_widen_exactly_from_their_bits() -> None:
    import torch
    from numba import njit

    from smcheck.kernels.cellterms import half_bits_value

    @njit
    def widen_all(h, t):  # type: ignore[no-untyped-def]
        out = np.empty(h.shape[0])
        for j in range(h.shape[0]):
            out[j] = half_bits_value(h[j], t)
        return out

    bits = np.arange(1 << 16, dtype=np.uint16)
    for t, dtype in ((11, torch.float16), (8, torch.bfloat16)):
        want = torch.from_numpy(bits.view(np.int16)).view(dtype).to(torch.float64).numpy()
        got = widen_all(bits, t)
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan), t
        # every value, signed zeros and subnormals included, to the bit
        assert np.array_equal(got[~nan].view(np.int64), want[~nan].view(np.int64)), t
