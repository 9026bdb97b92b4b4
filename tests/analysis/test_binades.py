"""Errors in ulps take the ulp of the exact p's binade, decided exactly near powers of two."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from smcheck import analyze
from smcheck.analysis.binades import FLOAT64_TOLERANCE, near_bits, near_powers, upper_binade
from smcheck.dtypes import get_format
from smcheck.kernels.blockrows import near_power
from tests.conftest import cell

LN3 = math.log(3)


def test_2048_zeros_in_float16_is_half_an_ulp() -> None:
    # p = 2^-11 exactly. logdomain float16: z = -fl16(ln 2048) = -7.625, exp(-7.625) rounds to
    # 2^-11 - 2^-22, one spacing of the binade below; the spacing at 2^-11 is 2^-21: 0.5 ulp.
    # The float64 reference p lies just below 2^-11, whose binade reads it as 1 ulp.
    r = analyze(np.zeros((1, 2048)), dtypes=["float16"], methods=["logdomain"], gradients=False)
    c = cell(r, "logdomain", "float16")
    assert c.probabilities is None  # 2048 entries: not a small input; check the metric
    assert c.metrics.error.max_ulp == pytest.approx(0.5, rel=1e-9, abs=0)
    out = torch.exp(-torch.tensor(2048.0).log().half()).item()
    assert out == 2.0**-11 - 2.0**-22


@pytest.mark.parametrize(
    ("row", "col", "power", "upper"),
    [
        ([0.0] * 4, 0, 0.25, True),  # p = 1/4 exactly
        ([0.0] * 4 + [-40.0], 0, 0.25, False),  # 1/(4 + e^-40): just below
        ([0.0] * 4 + [-np.inf], 0, 0.25, True),  # a mask adds nothing
        ([0.0] * 5, 0, 0.25, False),  # c0 > N
        ([0.0] * 3, 0, 0.25, True),  # 1/3 > 1/4
        ([5.0], 0, 1.0, True),  # a single finite entry: p = 1
        ([30.0, 0.0], 0, 1.0, False),  # saturated: p rounds to 1 in float64, but is below
    ],
)
def test_upper_binade_by_counting(row: list[float], col: int, power: float, upper: bool) -> None:
    x = np.array([row])
    got = upper_binade(x, 1.0, np.array([0]), np.array([col]), np.array([power]))
    assert got.tolist() == [upper]


@pytest.mark.parametrize("divisor", [1.0, 0.7])
def test_upper_binade_in_decimal_matches_mpmath(divisor: float) -> None:
    # (0, fl(ln 3) * divisor): p[0] = 1/(1 + 3(1 + d)) lies within float64 rounding of 1/4 on a
    # side only the exact sum can tell; mpmath at 60 digits says which
    mpmath.mp.dps = 60
    x = np.array([[0.0, LN3 * divisor]])
    s = 1 + mpmath.exp(mpmath.mpf(x[0, 1]) / mpmath.mpf(divisor))
    got = upper_binade(x, divisor, np.array([0]), np.array([0]), np.array([0.25]))
    assert got.tolist() == [bool(s <= 4)]
    assert abs(1 / s - mpmath.mpf(0.25)) < 1e-15  # within the float64 reference's error


def test_near_powers_screens_by_the_bits() -> None:
    f = get_format("float16")
    p = torch.tensor([[0.25, 0.25 * (1 - 2**-50), 0.3, 2.0**-20, 0.0, 0.5 * (1 + 2**-46)]])
    near = near_powers(p.double().numpy(), f, FLOAT64_TOLERANCE)
    # 2^-20 is below float16's 2^(emin+1) = 2^-13, where the spacing does not change
    assert near.tolist() == [[True, True, False, False, False, True]]
    assert not near_powers(np.array([[0.3, 0.6]]), f, 2.0**-44).any()
    # the kernels' scalar screen is the same test
    k, low = near_bits(f, FLOAT64_TOLERANCE)
    assert [near_power(v, k, low) for v in p.double().numpy()[0]] == near.tolist()[0]


def test_float64_cell_ulp_at_a_binade_edge_matches_mpmath() -> None:
    # rows whose exact p sit at or just below a power of two; float64 cells (double-double).
    # (0, 0, -36.75): p[0] = 1/(2 + e^-36.75) = 0.5 (1 - 5.4e-17) rounds to 0.5 in float64 but
    # lies in the binade below, where the spacing is 2^-54: torch's error there is 0.4934 ulp,
    # which the float64 value's binade would halve
    x = np.array(
        [
            [0.0, 0.0, -36.75, -np.inf],
            [0.0, 0.0, -40.0, -40.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, LN3, -np.inf, -np.inf],
        ]
    )
    r = analyze(x, dtypes=["float64"], methods=["torch", "logdomain"], gradients=False)
    one = analyze(x[:1, :3], dtypes=["float64"], methods=["torch"], gradients=False)
    assert cell(one, "torch", "float64").metrics.error.max_ulp == pytest.approx(0.4934, abs=1e-4)
    mpmath.mp.dps = 60
    for m in ("torch", "logdomain"):
        c = cell(r, m, "float64")
        worst = mpmath.mpf(0)
        for i, row in enumerate(x):
            fin = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in fin))
            for j, v in enumerate(fin):
                p = mpmath.exp(v - lse)
                _, e = mpmath.frexp(p)  # p in [2^(e-1), 2^e): spacing 2^(e-53)
                err = abs(mpmath.mpf(c.probabilities[i][j]) - p) / mpmath.mpf(2) ** (e - 53)
                worst = max(worst, err)
        # within the double-double reference's 2^-7 ulp (docs/design.md §3)
        assert c.metrics.error.max_ulp == pytest.approx(float(worst), abs=2**-7), m
