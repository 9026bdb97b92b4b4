"""Random and adversarial rows for the kernels' differential tests."""

from __future__ import annotations

import numpy as np

from smcheck.dtypes import get_format


def adversarial_rows(dtype: str, n: int = 40) -> np.ndarray:
    """Random and adversarial rows, rounded to ``dtype`` (float64 values of the format)."""
    f = get_format(dtype)
    rng = np.random.default_rng(3)
    tiny = 5e-324
    rows = [
        rng.normal(0, 4, n),
        rng.uniform(-1500, 300, n),  # probabilities below the float64 range
        np.zeros(n),  # ties: p = 1/n
        np.r_[np.zeros(4), np.full(n - 4, -np.inf)],  # p = 1/4 exactly, -inf masks
        np.r_[0.0, 0.0, np.full(n - 2, -800.0)],  # p near 1/2, the rest below float64's range
        np.r_[1e4, rng.normal(0, 1, n - 1)],  # saturated: p_max rounds to 1
        np.r_[tiny, -tiny, 2.2e-308, np.zeros(n - 3)],  # subnormal logits
        np.r_[1e-30, 2e-30, 1e10, rng.normal(0, 1, n - 3)],  # x - m inexact
        np.r_[np.full(n - 1, -np.inf), 3.0],  # one live entry: p = 1
        np.full(n, -np.inf),  # fully masked: NaN, excluded by callers
        np.r_[np.nan, rng.normal(0, 1, n - 1)],  # upstream NaN
        np.r_[np.inf, rng.normal(0, 1, n - 1)],  # upstream +inf
        np.r_[-1e9, -1e9, rng.normal(0, 1, n - 2)],  # sentinels
        rng.standard_t(2, n) * 300,
    ]
    with np.errstate(over="ignore"):
        return f.round(np.array(rows))
