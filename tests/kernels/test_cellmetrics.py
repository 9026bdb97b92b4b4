"""The fused cell-metrics kernel against the torch-op oracle it replaced (tests/analysis/oracle_*).

Counts, flags and judged sets are identical; floating figures agree within the tolerances of
docs/design.md §4 ("The cell kernel"): the kernel sums each row sequentially where torch
reduced in its own order, takes log/log1p from libm, and sums the KL series per element with all
four terms where the oracle truncated per row.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smcheck.analysis.blockshared import block_shared, format_ulp
from smcheck.analysis.cellkernel import cell_chunk
from smcheck.analysis.cells import Block
from smcheck.analysis.methodinput import run_method, scale_by_temperature
from smcheck.analysis.stats import EXACT_MEDIAN_LIMIT, Histogram
from smcheck.dtypes import get_format
from smcheck.kernels import cellmetrics as km
from smcheck.kernels import cellterms
from smcheck.methods import METHODS
from smcheck.reference.cellref import cell_reference
from smcheck.reference.doubledouble import DDReference
from tests.analysis import oracle_cellkernel as oracle

FORMATS = ["float16", "bfloat16", "float32", "float64"]
REL = 2.0**-20
"""Relative tolerance of errors that go through a sum of the row (rest, lost mass, KL)."""


def make_block(x: np.ndarray, fmt: str, t: float = 1.0) -> tuple[Block, torch.Tensor]:
    """A block as the engine builds it: the rounded input, scaled by T, and its reference."""
    f = get_format(fmt)
    xd = f.round(x)
    xt = torch.from_numpy(xd).to(f.torch_dtype())
    xs, xsw, so = scale_by_temperature(xt, xd, f, t)
    ref = cell_reference(xd, xsw, f, t, None)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(xsw).any(1) & ~np.isnan(xsw).any(1) & ~np.isposinf(xd).any(1)
    live = valid[:, None] & ~np.isneginf(xsw)
    dd = f.t > 24
    b = Block(0, f, valid, live, ref, so, xd if dd else xsw, t if dd else 1.0)
    return b, xs


def adversarial(rng: np.random.Generator, n: int = 64) -> np.ndarray:
    """Random rows and every hard case at once: ties, masks, saturation, zeros, overflow."""
    x = rng.normal(0, 4, (17, n))
    x[1] = 0.0  # constant row: p = 1/n exactly, a power of two (the exact binade)
    x[2, :2] = 5.0  # a tie at the top
    x[3, 5:] = -np.inf  # -inf masks
    x[4] = -np.inf  # fully masked: not judged
    x[5, 3] = np.nan  # NaN in the source: not judged
    x[6, 0] += 45  # saturated: p_max ~ 1, others vanish in float16
    x[7] *= 60  # wide: subnormal and zero outputs
    x[8] = rng.normal(11, 0.3, n)  # naive exp overflows in float16
    x[9] = rng.normal(-30, 0.3, n)  # naive: every exp underflows in float16 (0/0)
    x[10, :] = -700.0
    x[10, 0] = 0.0  # float64 p near the bottom of the range (long double frac)
    x[11, 0] = 38.0  # p_top within float64 rounding of 1
    x[12] = np.round(x[12])  # many ties below the top
    x[13, 1:] = -1e30  # huge logits
    x[14] = 10.0  # naive float16: every exp finite (22026), their sum overflows
    x[15, :3] = 709.0  # naive float64 (double-double): e^709 is finite, three of them are not
    x[16, 0], x[16, 1:] = 60000.0, -60000.0  # float16: log p = -1.2e5 rounds to -inf, correctly
    return x


def assert_same(out, b: Block) -> None:  # type: ignore[no-untyped-def]
    old = oracle.cell_chunk(out, b)
    new = cell_chunk(out, b, (1 << 30, 1 << 30))
    fin = old.kl_rows.numpy()
    n = b.live.shape[1]
    assert new.rows_checked == old.rows_checked
    assert np.array_equal(new.kl_rows.numpy(), fin)
    names = ("overflow", "sum_overflow", "temperature_overflow", "underflow", "exact_zero")
    for name in (*names, "log_nonfinite", "log_of_zero"):
        o, c = getattr(old, name), getattr(new, name)
        want = np.zeros(len(fin), np.int64) if o is None else o.numpy()
        got = np.zeros(len(fin), np.int64) if c is None else c.numpy()
        assert np.array_equal(got, want), name
    assert (new.nan is None) == (old.nan is None)
    if old.nan is not None:
        assert np.array_equal(new.nan.numpy(), old.nan.numpy())
        assert sorted(new.nan_codes.tolist()) == sorted(old.nan_codes.tolist())
    fan = old.log.finite_at_neginf
    want = np.zeros(len(fin), np.int64) if fan is None else fan.numpy()
    assert np.array_equal(new.log.finite_at_neginf.numpy(), want)
    assert np.array_equal(new.flips.numpy(), old.flips.numpy())
    if old.underflow is not None:
        rows = old.underflow.numpy() > 0
        np.testing.assert_allclose(new.lost_mass.numpy()[rows], old.lost_mass.numpy()[rows], REL)
    close = {"rtol": REL, "atol": 0}
    np.testing.assert_allclose(new.max_ulp.numpy(), old.max_ulp.numpy(), **close)
    np.testing.assert_allclose(new.normwise.numpy()[fin], old.normwise.numpy()[fin], **close)
    # a row sum in another order: off by at most n rounding errors of the terms (<= 2)
    sum_tol = n * 2.0**-52
    np.testing.assert_allclose(new.sum_error.numpy()[fin], old.sum_error.numpy()[fin], 0, sum_tol)
    np.testing.assert_allclose(new.kl.numpy()[fin], old.kl.numpy()[fin], rtol=1e-6, atol=0)
    # the top class's log p is log1p(-rest): the oracle summed rest plainly, off by up to
    # n 2^-53 relative; the kernel compensates. Float64 cells see that in their ulps.
    lt = block_shared(b).rows[4]
    top_abs = np.where(np.isnan(lt), 0.0, n * 2.0**-52 * np.abs(lt))
    top_ulp = top_abs / format_ulp(np.nan_to_num(lt), b.fmt)
    for got, want, atol in (
        (new.log.max_ulp, old.log.max_ulp, top_ulp),
        (new.log.max_abs, old.log.max_abs, top_abs),
    ):
        g, w = got.numpy(), want.numpy()
        assert np.array_equal(np.isinf(g), np.isinf(w))
        with np.errstate(invalid="ignore"):
            ok = np.isinf(w) | (np.abs(g - w) <= REL * np.abs(w) + atol)
        assert ok.all(), (g[~ok], w[~ok])
    for bins, values, atol in (
        (new.ulp_bins, old.ulp_values, 0.0),
        (new.log.ulp_bins, old.log.ulp_values, top_ulp.max(initial=0.0)),
    ):
        want = np.sort(np.abs(values.numpy()))
        assert bins.values is not None and bins.counts.sum() == want.size
        np.testing.assert_allclose(np.sort(bins.values), want, rtol=REL, atol=atol)
        h = Histogram()
        h.add(bins.values)
        assert np.array_equal(h.counts[bins.first : bins.first + bins.counts.size], bins.counts)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("t", [1.0, 0.004, 30.0])
def test_kernel_matches_the_oracle_on_random_and_adversarial_rows(fmt: str, t: float) -> None:
    x = adversarial(np.random.default_rng(7))
    with np.errstate(invalid="ignore", over="ignore"):
        b, xs = make_block(x, fmt, t)
    for name, m in METHODS.items():
        assert_same(run_method(m, "framework", xs, b.fmt, False), b)
        if "strict" in m.models and name in ("naive", "logdomain"):
            assert_same(run_method(m, "strict", xs, b.fmt, False), b)


@pytest.mark.parametrize("fmt", ["float16", "float64"])
def test_kernel_matches_the_oracle_at_exact_binades(fmt: str) -> None:
    # p = 2^-11 exactly (2048 equal logits) and p just below 1/4 with an element just above
    x = np.zeros((3, 2048))
    x[1, 4:] = -np.inf
    x[2, 4:] = -np.inf
    x[2, 0] = 1e-12
    b, xs = make_block(x, fmt)
    assert block_shared(b).ov[1].size > 0  # the exact binades were used
    for m in ("naive", "shifted", "torch"):
        assert_same(run_method(METHODS[m], "framework", xs, b.fmt, False), b)


def test_format_ulp_scalar_and_vector_agree() -> None:
    v = np.array([0.0, 2.0**-1074, 2.0**-1022, 2.0**-149, 2.0**-126, 3e-9, 0.25, 0.75, 1.0])
    for name in FORMATS:
        f = get_format(name)
        want = format_ulp(v, f)
        got = [cellterms.format_ulp(a, f.t, f.emin) for a in v]
        assert got == want.tolist(), name
        assert want[-1] == 2.0 ** (1 - f.t)  # the spacing at 1 is eps


def test_histogram_bins_of_the_kernel_are_histogram_add() -> None:
    v = np.abs(np.random.default_rng(1).standard_cauchy(1000)) * 2.0 ** np.arange(-500, 500)
    v = np.concatenate([v, [0.0, 2.0**-80, 2.0**-81, np.ldexp(1.0, 1023), np.inf]])
    for x in v:
        one = Histogram()
        one.add([x])
        assert one.counts[km.hist_bin(x)] == 1


def test_exact_median_values_are_kept_only_while_they_fit() -> None:
    x = np.random.default_rng(2).normal(0, 3, (8, 100))
    b, xs = make_block(x, "float32")
    out = run_method(METHODS["naive"], "framework", xs, b.fmt, False)
    kept = cell_chunk(out, b, (800, 799))
    assert kept.ulp_bins.values is not None and kept.ulp_bins.values.size == 800
    assert kept.log.ulp_bins.values is None  # 800 log errors do not fit in 799
    h = Histogram()
    h.n = EXACT_MEDIAN_LIMIT - 800
    h.add_bins(kept.ulp_bins)
    assert h.exact is not None and h.n == EXACT_MEDIAN_LIMIT
    again = cell_chunk(out, b, (-1, -1))  # the workspace was left zeroed: same counts again
    assert np.array_equal(again.ulp_bins.counts, kept.ulp_bins.counts)
    assert again.ulp_bins.values is None


def test_values_kept_by_the_first_pass_are_the_second_pass_ones() -> None:
    # room for every element: the binning pass keeps the values; room only for the judged ones
    # (masked elements are not): a second pass does. The same values in the same order.
    x = np.random.default_rng(4).normal(0, 3, (6, 50))
    x[:, ::7] = -np.inf
    b, xs = make_block(x, "bfloat16")
    out = run_method(METHODS["shifted"], "framework", xs, b.fmt, False)
    room = x.size
    folded, second = cell_chunk(out, b, (room, room)), cell_chunk(out, b, (room - 1, room - 1))
    pairs = ((second.ulp_bins, folded.ulp_bins), (second.log.ulp_bins, folded.log.ulp_bins))
    for got, want in pairs:
        assert want.values is not None and 0 < want.values.size < room
        assert np.array_equal(got.values, want.values)
        assert np.array_equal(got.counts, want.counts) and want.counts.sum() == want.values.size


def test_chunking_does_not_change_any_row() -> None:
    x = adversarial(np.random.default_rng(5))
    b, xs = make_block(x, "bfloat16")
    out = run_method(METHODS["shifted"], "framework", xs, b.fmt, False)
    whole = cell_chunk(out, b)
    for lo, hi in ((0, 5), (5, 14)):
        bp, xp = make_block(x[lo:hi], "bfloat16")
        part = cell_chunk(run_method(METHODS["shifted"], "framework", xp, bp.fmt, False), bp)
        for name in ("max_ulp", "normwise", "kl", "sum_error", "overflow", "underflow"):
            a, c = getattr(whole, name).numpy()[lo:hi], getattr(part, name).numpy()
            assert np.array_equal(a, c, equal_nan=True), name


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_row_blocks_do_not_change_any_result(dtype: str) -> None:
    # the kernel splits rows into blocks, one histogram each: 1 block or 5, the same results
    from smcheck.analysis.cellkernel import _outputs

    x = adversarial(np.random.default_rng(6))
    b, xs = make_block(x, dtype)
    sh = block_shared(b)
    out = run_method(METHODS["naive"], "framework", xs, b.fmt, False)
    p, lq, ovf, sovf, _ = _outputs(out, dtype)
    raw = (p.view(np.uint8), lq.view(np.uint8), ovf, sovf, sh.scale_over)
    got = []
    for blocks in (1, 5):
        work = np.zeros((blocks, 2, km.HIST_BINS), np.int64)
        vals, offs = (np.empty(0), np.empty(0)), np.full((p.shape[0], 2), -1)
        got.append(km.cell_metrics(raw, sh.blk, sh.rows, sh.ov, sh.fmt, work, vals, offs))
        assert not work.any()  # left zeroed for the next call
    for a, c in zip(*got, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(c), equal_nan=True)


def test_an_interrupted_call_leaves_no_counts_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # ^C between the row blocks filling this thread's histogram slabs and _gather_bins emptying
    # them: the next call must not count the interrupted call's bins again
    x = np.random.default_rng(3).normal(0, 3, (8, 100))
    b, xs = make_block(x, "float32")
    out = run_method(METHODS["naive"], "framework", xs, b.fmt, False)
    want = cell_chunk(out, b)
    real = km._gather_bins

    def interrupted(work: np.ndarray, rng: np.ndarray) -> None:
        monkeypatch.setattr(km, "_gather_bins", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(km, "_gather_bins", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cell_chunk(out, b)
    got = cell_chunk(out, b)
    assert got.ulp_bins.first == want.ulp_bins.first
    assert np.array_equal(got.ulp_bins.counts, want.ulp_bins.counts)
    assert np.array_equal(got.log.ulp_bins.counts, want.log.ulp_bins.counts)


def test_a_tie_is_a_flip_only_where_correct_rounding_breaks_it() -> None:
    from smcheck.kernels.cellmetrics import _rounded_tie

    half = np.array([0.5, 0.5], np.float32).view(np.uint8)
    # exact (0.499975, 0.500025) rounds to (0.5, 0.5) in float16: the tie is the format's
    assert _rounded_tie(half, 2, 1, 0, np.array([0.499975, 0.500025]), 11, -14)
    # (0.49, 0.51) rounds to distinct float16 values: a tied p̂ lost the order
    assert not _rounded_tie(half, 2, 1, 0, np.array([0.49, 0.51]), 11, -14)
    # and no tie in p̂ is no tie, whatever the exact values
    apart = np.array([0.5, 0.25], np.float64).view(np.uint8)
    assert not _rounded_tie(apart, 2, 1, 0, np.array([0.499975, 0.500025]), 11, -14)
    # float64 is its own rounding: 0.49999999999999994 and 0.5 stay two values
    near = np.array([0.5, 0.5], np.float64).view(np.uint8)
    assert not _rounded_tie(near, 2, 1, 0, np.array([0.49999999999999994, 0.5]), 53, -1022)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("t", [1.0, 0.004, 30.0])
def test_block_rows_count_and_sum_what_rounds_to_zero_as_the_cells_judge_it(
    fmt: str, t: float
) -> None:
    # the live entries whose exact p rounds to 0 in the format: log p <= ln(s/2), the cells'
    # exact_zero test (the kernel's own, as exact_zero counts the p̂ = 0 among them)
    x = adversarial(np.random.default_rng(7))
    with np.errstate(invalid="ignore", over="ignore"):
        b, _ = make_block(x, fmt, t)
    count, mass = block_shared(b).zeros
    dd = isinstance(b.ref, DDReference)  # float64 cells: the reference's float64 parts
    p = np.asarray(b.ref.p_hi if dd else b.ref.p)
    logp = np.asarray(b.ref.logp_hi if dd else b.ref.logp)
    zero = b.live & (logp <= b.fmt.log_zero)
    assert np.array_equal(count, zero.sum(1))
    np.testing.assert_allclose(mass, np.where(zero, p, 0.0).sum(1), rtol=REL)
    if (fmt, t) == ("float16", 1.0):  # the saturated row: its 63 others are below 2^-25
        assert count[6] == 63 and 0 < mass[6] < 63 * 2.0**-25


def test_block_rows_round_the_tie_at_half_the_smallest_subnormal_to_zero() -> None:
    # p = s/2 exactly (float16: 2^-25, a uniform row of 2^25 entries) is a tie between 0 and
    # s, and round-to-nearest-even gives 0 (s's significand is odd); log p is libm's
    # ln(2^-25). Just above the tie (1 + 2^-30 of it) p rounds to s. 20000 of them hold
    # 20000 2^-25 = 5.96e-4 > u = 2^-11 of the mass; row 1's none.
    from smcheck.kernels.blockrows import block_rows

    f = get_format("float16")
    half_s = f.smallest_subnormal / 2
    p = np.array([[half_s] * 20000, [half_s * (1 + 2.0**-30)] * 20000])
    logp = np.log(p)
    assert logp[0, 0] <= f.log_zero < logp[1, 0]
    live, valid, none = np.ones(p.shape, np.uint8), np.ones(2, np.uint8), np.empty((0, 0))
    out = block_rows(p, logp, live, valid, none, none, (f.t, f.emin, f.log_zero), (1, 0, 0.0), 0.5)
    count, mass = out[9], out[10]
    assert count.tolist() == [20000, 0]
    assert mass.tolist() == [20000 * 2.0**-25, 0.0]  # exact: a sum of equal powers of two
