"""Test oracle: the rounding and entropy statistics as numpy code, as they were before
smcheck.kernels.inputs fused them (tests/kernels/test_inputs.py compares the two).

The rounding KL here is the old one, sum p (log p - log q): its terms can be negative and a
near-exact row's sum cancels to noise, even below zero -- the kernel's terms are p (e^δ - 1 - δ)
>= 0, so the tests compare the KL with mpmath instead.
"""

from __future__ import annotations

import numpy as np


def cast_rows(x: np.ndarray, xd: np.ndarray, base_valid: np.ndarray):  # type: ignore[no-untyped-def]
    """Per row: cast overflow, changed values, rows still analysable."""
    fin = np.isfinite(x)
    over = (fin & ~np.isfinite(xd) & base_valid[:, None]).sum(-1)
    changed = (fin & (xd != x)).sum(-1)
    valid = base_valid & ~(np.isposinf(xd).any(-1) | np.isneginf(xd).all(-1))
    return over, changed, valid


def rounding_dlogp(logp: np.ndarray, logq: np.ndarray, xd: np.ndarray, valid: np.ndarray):  # type: ignore[no-untyped-def]
    """Per row: max |log q - log p| over the entries finite in xd (NaN outside ``valid``)."""
    live = valid[:, None] & np.isfinite(xd)
    with np.errstate(invalid="ignore"):
        d = np.where(live, np.abs(logq - logp), -np.inf).max(-1, initial=-np.inf)
    return np.where(valid, d, np.nan)


def entropy_and_max(x: np.ndarray, t: float):  # type: ignore[no-untyped-def]
    """Entropy and largest probability of softmax(x / t) per row (rows with a finite max)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        m = x.max(-1, keepdims=True)
        z = (x - m) / t
        e = np.exp(z)
        np.put_along_axis(e, np.argmax(x, -1)[:, None], 0.0, -1)  # one maximal entry: exp(0) = 1
        s = e.sum(-1)
        p = e / (1.0 + s)[:, None]
        h = np.log1p(s) + np.where(e > 0, p * -z, 0.0).sum(-1)
    return h, 1.0 / (1.0 + s)
