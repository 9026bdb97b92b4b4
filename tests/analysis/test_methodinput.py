"""Preparing a chunk for a format: one correct rounding, and knowing when a cast is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smcheck.analysis.methodinput import divisor, exact_in, round_chunk, scale_by_temperature
from smcheck.dtypes import get_format
from smcheck.reference.exact import working_dtype


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_round_chunk_is_one_correct_rounding(name: str) -> None:
    # float32 values incl. ties at the format's half-ulp, subnormals and overflow
    f = get_format(name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(4000).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -30, 30, 4000
    ).astype(np.float32)
    ties = (np.float32(1) + np.float32(2.0) ** (-f.t) * np.arange(1, 9, dtype=np.float32)).astype(
        np.float32
    )
    x = np.concatenate([x, ties, -ties, np.float32([6e-8, 3e-8, 1e-40, 70000, 3e38])])
    x64 = x.astype(np.float64)[None, :]
    got = round_chunk(x64, f, False, np.dtype(np.float32))
    np.testing.assert_array_equal(got, f.round(x64))


def test_exact_in_knows_which_casts_are_exact() -> None:
    f32, bf16, f16 = (get_format(n) for n in ("float32", "bfloat16", "float16"))
    assert exact_in(np.dtype(np.float16), f32) and exact_in(np.dtype(np.float32), f32)
    assert not exact_in(np.dtype(np.float16), bf16)  # 11 significant bits do not fit in 8
    assert not exact_in(np.dtype(np.float32), f16)
    assert not exact_in(np.dtype(np.int64), f32)


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("t", [0.2252, 0.3, 0.7, 1.8004, 1e-3])
def test_the_methods_divide_by_t_as_user_code_and_the_reference_knows_by_what(
    name: str, t: float
) -> None:
    # user code writes x / T with T a Python float; torch takes it in the op's compute type
    # (float32 for 16-bit formats, not T rounded to bfloat16: 0.2252 is 0.2255859375 there, and
    # x = 20 gives 89 where the rounded T gives 88.5). The reference's exact quotient divides by
    # the same divisor, so the quotient the methods see is it rounded to float32, then the format
    f = get_format(name)
    x = f.round(np.random.default_rng(7).normal(0, 6, (3, 50)))
    x[0, :3] = f.round([20.0, 19.96875, -17.5])
    xt = torch.from_numpy(x).to(f.torch_dtype())
    xs, xsw, _ = scale_by_temperature(xt, x.astype(working_dtype(f)), f, t)
    user = (xt / t).to(torch.float64).numpy()
    np.testing.assert_array_equal(xs.to(torch.float64).numpy(), user)
    assert divisor(f, t) == (float(np.float32(t)) if f.t <= 24 else t)
    once = xsw if f.t > 24 else f.round(np.float32(xsw).astype(np.float64))
    np.testing.assert_array_equal(once.astype(np.float64), user)


def test_a_quotient_below_the_range_keeps_its_exact_value_in_the_reference() -> None:
    import smcheck

    # -60000 / 0.5 is -inf in float16 (below -65520): p = 0 is its correct rounding, but its
    # exact log p (-120000.13) is finite and the element live, so the headroom stays finite
    r = smcheck.analyze(
        [[0.0, -60000.0, -1.0]], temperatures=[0.5], dtypes=["float16"], methods=["torch"]
    )
    c = r.cells[0]
    assert c.metrics.headroom.underflow_nats == pytest.approx(
        -120000.127 - np.log(2.0**-25), abs=1e-2
    )
    assert c.metrics.exact_zero.elements == 1 and c.metrics.log_of_zero.elements == 0
    (div,) = r.sources[0].input_rounding[0].division
    assert div.changed_elements == 0  # kept exact, the element is no change of the division
