"""The fused gradient kernels against the torch/numpy oracle they replaced, over adversarial
blocks in every format and temperature, with the methods' real autograd gradients and with
gradients made to fail (zeros, NaN, inf, off by ulps).

Tolerances (docs/design.md §5): counts identical; the exact loss, the normwise gradient error,
the loss errors and the dead elements' largest |g| within tol_abs·scale + TOL_REL·value, as
``1 - p[t]`` is now a compensated sum (the oracle's pairwise sum was off by up to (log2 n)/2 ulps
of its working precision) and the float64 cells' differences are taken in double-double
instead of long double (more accurate: the oracle kept ~12 bits of a 1-ulp float64 error).
The row of a maximum may differ only on a near tie within that tolerance.
"""

from __future__ import annotations

import math
from dataclasses import replace

import mpmath
import numpy as np
import pytest
import torch

from smcheck.analysis.cells import Block
from smcheck.analysis.gradients import GradientAccumulator, backprop, exact_gradient
from smcheck.analysis.stats import CountStat, MaxStat
from smcheck.dtypes import get_format
from smcheck.methods import METHODS
from smcheck.reference.exact import working_dtype
from tests.analysis.oracle_gradients import OracleGradientAccumulator
from tests.analysis.oracle_gradients import exact_gradient as oracle_exact_gradient
from tests.conftest import DTYPES
from tests.kernels.blocks import adversarial_rows, blocks

TOL_REL = 2.0**-48
"""Relative, for the float64 cells (double-double here, long double in the oracle)."""


def tol_abs(dtype: str, n: int) -> float:
    """The oracle's own error in 1 - p[t] (a pairwise sum: (log2 n + 2) half-ulps of its
    working precision), in units of the statistic's scale (norm or loss)."""
    eps = float(np.finfo(working_dtype(get_format(dtype))).eps)
    return (math.log2(n) + 2) * eps / 2


COUNTS = ("loss_inf", "loss_nan", "nan", "dead", "vanished", "saturated")
MAXES = ("rel_error", "dead_lost", "loss_abs", "loss_rel", "saturated_lost")


def _targets(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    with np.errstate(invalid="ignore"):
        masked = np.isneginf(x)
        argmin = np.argmin(np.where(masked, np.inf, x), -1)
    return [np.argmax(x, -1), argmin, rng.integers(0, x.shape[1], x.shape[0])]


def _broken(g: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A gradient with the failures the statistics count: zeros, a NaN, an inf, ulp noise."""
    h = g.detach().clone()
    rows, n = h.shape
    h[0] = 0  # vanished (when the exact one is representable)
    h[1, rng.integers(0, n)] = float("nan")
    h[2, rng.integers(0, n)] = float("inf")
    h[3, : n // 2] = 0  # dead elements
    h[4] = torch.nextafter(h[4], torch.full_like(h[4], 1.0))
    return h


def _assert_same(
    new: GradientAccumulator, old: OracleGradientAccumulator, where: str, atol: float
) -> None:
    assert new.rows_checked == old.rows_checked, where
    assert new.masked_target == old.masked_target, where
    assert (new.saturated_nan_rows, new.saturated_lossy_rows) == (
        old.saturated_nan_rows,
        old.saturated_lossy_rows,
    ), where
    assert (new.nan_loss_rows, new.nan_zero_rows) == (old.nan_loss_rows, old.nan_zero_rows), where
    for name in COUNTS:
        a, b = getattr(new, name), getattr(old, name)
        assert isinstance(a, CountStat)
        assert a == b, (where, name)
    for name in MAXES:
        a, b = getattr(new, name), getattr(old, name)
        assert isinstance(a, MaxStat)
        if a.row is not None and b.row is not None and math.isfinite(b.value):
            # a near tie (within the tolerance) between two rows may name either
            scale = 1.0 if name in ("rel_error", "loss_rel") else max(abs(b.value), 1.0)
            assert abs(a.value - b.value) <= atol * scale + TOL_REL * abs(b.value), (where, name)
        else:
            assert (a.row, a.value) == (b.row, b.value), (where, name)


def _in_float64_range(blk: Block) -> Block:
    """For float64 cells, rows whose live logits span at most 700 nats: the oracle's long double
    kept exact probabilities below 2^-1074 that the kernels (in float64's range, as for every
    other format) flush; test_tiny_probabilities_beyond_float64_range covers those rows."""
    if blk.fmt.t <= 24:
        return blk
    with np.errstate(invalid="ignore"):
        x = np.where(blk.live, blk.logits, np.nan) / blk.divisor
        span = np.nanmax(x, -1, initial=-np.inf) - np.nanmin(x, -1, initial=np.inf)
    return replace(blk, valid=blk.valid & (span <= 700))


def _check_block(blk, xs, targets, rng) -> None:  # type: ignore[no-untyped-def]
    blk = _in_float64_range(blk)
    for tgt in targets:
        e_new, e_old = exact_gradient(blk, tgt), oracle_exact_gradient(blk, tgt)
        where = f"{blk.fmt.name} T={blk.divisor}"
        assert np.array_equal(e_new.rows, e_old.rows)
        assert np.array_equal(e_new.saturated, e_old.saturated), where
        r = e_new.rows
        assert np.array_equal(e_new.nonzero[r], e_old.nonzero[r]), where
        scale = np.abs(e_old.loss[r]).astype(np.float64)
        diff = np.abs((e_new.loss[r] - e_old.loss[r]).astype(np.float64))
        atol = tol_abs(blk.fmt.name, blk.live.shape[1])
        assert (diff <= (atol + TOL_REL) * scale).all(), where
        g_new = e_new.values()[r].astype(np.float64)
        g_old = e_old.g[r].astype(np.float64)
        assert (np.abs(g_new - g_old) <= atol + TOL_REL * np.abs(g_old)).all(), where
        for name in ("naive", "logdomain", "torch"):
            res, g = backprop(METHODS[name].framework, xs, tgt)
            logp = res.logp.detach()
            for grad in (g, None if g is None else _broken(g, rng)):
                new = GradientAccumulator(blk.fmt, keep=True)
                old = OracleGradientAccumulator(blk.fmt, keep=True)
                new.add(grad, logp, e_new)
                old.add(grad, logp, e_old)
                _assert_same(new, old, f"{where} {name}", atol)
                np.testing.assert_array_equal(new.shown.gradients, old.shown.gradients)
                np.testing.assert_array_equal(new.shown.losses, old.shown.losses)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_kernels_agree_with_the_oracle_on_adversarial_blocks(dtype: str) -> None:
    rng = np.random.default_rng(7)
    x = adversarial_rows(1)
    for blk, xs in blocks(x, (dtype,)):
        _check_block(blk, xs, _targets(x, rng), rng)


def test_gradient_kernels_agree_on_long_rows() -> None:
    # long rows: the sums' order matters most (pairwise in the oracle, compensated here)
    rng = np.random.default_rng(8)
    x = rng.normal(0, 4, (6, 5000))
    x[1, ::7] = -np.inf
    x[2, 0] = 60.0  # p[0] within e^-40 of 1
    for blk, xs in blocks(x, ("bfloat16", "float32", "float64")):
        _check_block(blk, xs, _targets(x, rng), rng)


def test_one_minus_p_keeps_the_references_accuracy_where_p_is_close_to_one() -> None:
    # [0, -a x 15]: 1 - p[0] = 15 e^-a / (1 + 15 e^-a) (mpmath); each p_j carries the
    # reference's error, (|log p| + 8)·2^-52 in float64 and 2^-60 in double-double, and the sum
    # of positive terms adds none of its own at this precision
    mpmath.mp.dps = 40
    for a in (20.0, 40.0, 700.0):
        x = np.full((1, 16), -a)
        x[0, 0] = 0.0
        e_a = mpmath.exp(-mpmath.mpf(a))
        want = 15 * e_a / (1 + 15 * e_a)
        for name, tol in (("float32", (a + 8) * 2.0**-52), ("float64", 2.0**-59)):
            blk, _ = next(blocks(x, (name,)))  # T = 1 first
            e = exact_gradient(blk, np.array([0]))
            got = mpmath.mpf(float(e.rest[0, 0])) + mpmath.mpf(float(e.rest[0, 1]))
            assert abs(got - want) <= tol * want, (a, name)
            loss = mpmath.mpf(np.format_float_scientific(e.loss[0], unique=True))
            assert abs(loss + mpmath.log1p(-want)) <= tol * want


def test_tiny_probabilities_beyond_float64_range() -> None:
    # [0, -800 x 15]: every p but the first is e^-800 < 2^-1074, 0 in float64. The float64 cell
    # judges it as the float32 cell does: the exactly rounded gradient (all 0) has no error (the
    # long-double oracle, on x86 only, called that gradient 100 % wrong). The row is saturated
    # in both: the exact p_max = 1 - 15 e^-800 rounds to 1 (it was not, the rest being 0)
    x = np.full((1, 16), -800.0)
    x[0, 0] = 0.0
    for name in ("float32", "float64"):
        blk, xs = next(blocks(x, (name,)))
        e = exact_gradient(blk, np.array([0]))
        assert e.saturated[0] and e.rest[0, 0] == 0
        acc = GradientAccumulator(blk.fmt)
        res, g = backprop(METHODS["torch"].framework, xs, np.array([0]))
        acc.add(g, res.logp.detach(), e)
        assert (acc.rel_error.value, acc.saturated.rows, acc.dead.rows) == (0.0, 1, 0), name


def test_exact_kernel_breaks_ties_with_the_low_parts() -> None:
    # double-double log p: an lh exactly at log_zero is nonzero iff its ll is positive, in
    # rows longer than a tile and not a multiple of the lanes (one tie in each tile); the
    # others' largest p is found past equal lh
    from smcheck.kernels.gradients import LANES, TILE, exact_gradient_rows

    n = TILE + LANES + 3
    lz = -745.0
    lh = np.full((1, n), -800.0)
    ll = np.zeros((1, n))
    lh[0, 0] = -0.5
    lh[0, [TILE + 1, TILE + 2, TILE + 5]] = -0.25  # three equal lh, the second with the largest ll
    ll[0, [TILE + 1, TILE + 2, TILE + 5]] = [1e-18, 2e-18, 2e-18]
    lh[0, [7, TILE + 9]] = lz
    ll[0, [7, TILE + 9]] = [1e-20, -1e-20]
    ph = np.exp(lh)
    ph[0, [TILE + 1, TILE + 2, TILE + 5]] = [0.1, 0.2, 0.3]  # not exp(lh): tells them apart
    pl = np.zeros((1, n))
    live = np.ones((1, n), np.bool_)
    nz, rest, others, logp_t = exact_gradient_rows(ph, pl, lh, ll, True, live, np.array([0]), lz)
    assert nz[0, 7] and not nz[0, TILE + 9] and not nz[0, 8]
    assert rest[0, 0] == pytest.approx(ph[0].sum() - ph[0, 0], rel=1e-15)
    assert others[0] == 0.3 and tuple(logp_t[0]) == (-0.5, 0.0)
