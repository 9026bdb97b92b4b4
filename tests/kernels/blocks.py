"""Adversarial blocks for the differential tests of the gradient and bound kernels: each format,
each temperature, built the way the engine builds them (rounded, scaled, exact reference)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from smcheck.analysis.cells import Block
from smcheck.analysis.methodinput import scale_by_temperature
from smcheck.dtypes import FloatFormat, get_format
from smcheck.reference.cellref import cell_reference
from smcheck.reference.exact import working_dtype

N = 16
TEMPERATURES = (1.0, 0.5, 1e-3, 100.0)
"""T = 1e-3 multiplies the logits by 1000 (overflow to inf in narrow formats, saturated rows);
T = 100 squeezes them (near-uniform rows)."""


def adversarial_rows(seed: int = 0, n: int = N) -> np.ndarray:
    """Random rows and the edge cases: zeros, subnormals, masks, ties, saturation, p at powers
    of two, NaN/+inf/fully masked rows (left out of the metrics), huge and tiny spreads."""
    rng = np.random.default_rng(seed)
    rows = [rng.normal(0, s, n) for s in (0.5, 3, 12, 40)]
    rows.append(np.zeros(n))  # p = 1/n: a power of two for n = 16
    rows.append(np.full(n, 5e-310) * rng.integers(-3, 4, n))  # subnormal logits
    masked = rng.normal(0, 2, n)
    masked[rng.choice(n, n // 3, replace=False)] = -np.inf
    rows.append(masked)
    tie = rng.normal(0, 1, n)
    tie[[1, 5]] = tie.max() + 2  # two equal maxima
    rows.append(tie)
    for a in (9.0, 20.0, 40.0, 120.0, 800.0):  # saturated in more and more formats
        r = np.full(n, -a)
        r[3] = 0.0
        rows.append(r)
    half = np.full(n, -np.inf)
    half[[2, 7]] = 1.5  # p = (1/2, 1/2)
    rows.append(half)
    third = np.full(n, -40.0)
    third[:3] = [math.log(2.0), 0.0, 0.0]  # p close to (1/2, 1/4, 1/4)
    rows.append(third)
    rows.append(np.concatenate([[-999.0, 1, 2, 5, 6], rng.normal(0, 1, n - 5)]))
    rows.append(np.concatenate([[-25.0, 0, 25, 50, 1, 325, 749, 750], rng.normal(0, 1, n - 8)]))
    rows.append(rng.normal(0, 1, n) * 1e-8 + 3.0)  # a tiny spread
    rows.append(rng.normal(60000.0, 3.0, n))  # beyond float16's range: inf once cast
    bad = rng.normal(0, 1, (3, n))
    bad[0, 4], bad[1, 9], bad[2] = np.nan, np.inf, -np.inf  # NaN, +inf, fully masked
    rows.extend(bad)
    return np.stack(rows)


def blocks(
    x: np.ndarray, dtypes: tuple[str, ...], temperatures: tuple[float, ...] = TEMPERATURES
) -> Iterator[tuple[Block, torch.Tensor]]:
    """(Block, scaled tensor in the format) for every format and temperature."""
    for name in dtypes:
        f = get_format(name)
        xd = f.round(x)
        xw = xd if f.t > 24 else xd.astype(working_dtype(f))
        xt = torch.from_numpy(xd).to(f.torch_dtype())
        for t in temperatures:
            xs, xsw, over = scale_by_temperature(xt, xw, f, t)
            ref = cell_reference(xd, xsw, f, t, None)
            yield block(f, xd, np.asarray(xsw, np.float64), ref, over, t), xs


def block(f: FloatFormat, xd: np.ndarray, xs64: np.ndarray, ref, over, t: float) -> Block:  # type: ignore[no-untyped-def]
    """The engine's Block: valid rows are finite, not fully masked, and finite once scaled."""
    with np.errstate(invalid="ignore"):
        finite = ~np.isnan(xs64) & ~np.isposinf(xs64)
    valid = finite.all(-1) & ~np.isneginf(xs64).all(-1) & ~np.isnan(xd).any(-1)
    live = valid[:, None] & ~np.isneginf(xs64)
    dd = f.t > 24
    return Block(0, f, valid, live, ref, over, xd if dd else xs64, t if dd else 1)
