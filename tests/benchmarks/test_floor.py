"""floor.py's cells are smcheck's default framework methods, bit for bit: the floor that
bench_scale.py divides by times the arithmetic the analysis diagnoses, not a cheaper stand-in.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smcheck.methods import DEFAULT_METHODS, get_method
from tests.benchmarks.floor import FORMATS, cells


@pytest.mark.parametrize("dt", FORMATS, ids=str)
def test_the_floor_computes_the_default_methods_bit_for_bit(dt: torch.dtype) -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 4, (5, 300)))
    x[1, :3] = 100.0  # naive's exp overflows in every format but float64
    x[2, 0] = 800.0  # and there too
    x[3, 1:] = -1000.0  # shifted's exps underflow
    x[4, :] = torch.linspace(-20, 20, 300)
    xd = x.to(dt)
    assert len(DEFAULT_METHODS) == 4
    for name, (p, logp) in zip(DEFAULT_METHODS, cells(xd), strict=True):
        want = get_method(name).framework(xd)
        for got, ref in ((p, want.p), (logp, want.logp)):
            assert got.dtype == ref.dtype == dt
            assert torch.equal(got.isnan(), ref.isnan()), name
            zero = torch.zeros((), dtype=dt)  # NaN to 0, infinities kept
            assert torch.equal(got.where(~got.isnan(), zero), ref.where(~ref.isnan(), zero)), name
