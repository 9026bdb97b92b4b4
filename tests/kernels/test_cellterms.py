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


def test_every_16_bit_pattern_reads_as_torch_widens_it() -> None:
    # the cell kernel reads float16 and bfloat16 outputs in their own bits (half_value): every
    # value, signed zeros, subnormals, infinities and NaN included, to the bit; all_finite
    # counts the non-finite ones
    import torch
    from numba import njit

    from smcheck.kernels.cellterms import all_finite, as_floats, half_value

    @njit
    def read(h, t):  # type: ignore[no-untyped-def]
        return np.array([half_value(np.int64(v), t) for v in h])

    @njit
    def finite(raw, n, t):  # type: ignore[no-untyped-def]
        return all_finite(as_floats(raw, n), t)

    bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    for dtype, t in ((torch.float16, 11), (torch.bfloat16, 8)):
        want = bits.view(dtype).to(torch.float64).numpy()
        got = read(bits.numpy().view(np.uint16), t)
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan), dtype
        assert np.array_equal(got[~nan].view(np.int64), want[~nan].view(np.int64)), dtype
        raw = bits.numpy().view(np.uint8)
        ok = np.isfinite(want)
        assert not finite(raw, want.size, t) and finite(raw[: 2 * 1000], 1000, t) == ok[:1000].all()
        first_ok = bits.numpy()[ok][:500].view(np.uint8)
        assert finite(np.ascontiguousarray(first_ok), 500, t)
