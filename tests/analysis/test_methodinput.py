"""Preparing a chunk for a format: one correct rounding, and knowing when a cast is exact."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck.analysis.methodinput import exact_in, round_chunk
from smcheck.dtypes import get_format


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
