"""Format limits derived from the bit layout, against torch.finfo and the rounding of torch."""

from __future__ import annotations

import math

import pytest
import torch

from smcheck.dtypes import format_limits, get_format
from tests.conftest import DTYPES


@pytest.mark.parametrize("dtype", DTYPES)
def test_limits_match_finfo(dtype: str) -> None:
    f, fi = get_format(dtype), torch.finfo(getattr(torch, dtype))
    assert (f.max, f.tiny, f.eps, f.smallest_subnormal) == (
        fi.max,
        fi.smallest_normal,
        fi.eps,
        fi.smallest_normal * fi.eps,
    )
    (row,) = format_limits([dtype])
    assert row["exp_overflow_above"] == f.exp_overflow_x


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_overflow_and_subnormal_limits_are_the_rounding_boundaries(dtype: str) -> None:
    # the first value that rounds to inf is max + ulp(max)/2 (the tie goes to inf); the first
    # that rounds up to the smallest normal is tiny - s/2. torch's own casts from float64 agree
    # (a quarter spacing below: torch casts float64 to 16-bit formats through float32)
    f, td = get_format(dtype), getattr(torch, dtype)
    fi = torch.finfo(td)
    ulp_max = fi.max * fi.eps / (2 - fi.eps)  # spacing in the top binade: 2^(emax + 1 - t)
    edge = fi.max + ulp_max / 2
    assert math.exp(f.exp_overflow_x) == pytest.approx(edge, rel=1e-13)
    below = edge - ulp_max / 4
    cast = torch.tensor([below, edge], dtype=torch.float64).to(td).double().tolist()
    assert cast == [fi.max, math.inf]
    s = fi.smallest_normal * fi.eps
    low = fi.smallest_normal - s / 2
    assert math.exp(f.exp_subnormal_x) == pytest.approx(low, rel=1e-13)
    cast = torch.tensor([low - s / 4, low], dtype=torch.float64).to(td).double()
    assert cast.tolist() == [fi.smallest_normal - s, fi.smallest_normal]


def test_float16_overflow_threshold_is_ln_65520() -> None:
    assert get_format("float16").exp_overflow_x == pytest.approx(math.log(65520), rel=1e-15)
    assert get_format("float16").exp_overflow_x > math.log(65504) + 2e-4
