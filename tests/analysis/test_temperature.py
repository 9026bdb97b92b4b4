"""Temperature effects (issue 4): entropy sweep, critical temperatures, their hand derivations."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from smcheck import analyze
from smcheck.analysis.critical import REL_TOL, T_MIN, scan_grid
from smcheck.analysis.temperature import entropy_and_max
from smcheck.dtypes import get_format
from smcheck.report.model import Cell, CriticalTemperature, Report
from tests.conftest import DTYPES, cell

VLLM_ROW = [[11.0625, 2.875, 2.955, -2.45]]
"""The shape of a real vLLM report: one dominant logit near float16's exp limit of 11.09."""

# Hand derivation, float16 (t = 11, max 65504; a value rounds to inf from 65520 = max + ulp/2 up):
# the row rounds to (11.0625, 2.875, 2.955078125, -2.44921875). User code divides by T as a
# Python float: torch takes it in float32 and divides in float32, then rounds the quotient to
# float16 (T itself is not rounded to float16). fl32 below is rounding to float32.
#
# naive: unsafe iff exp(fl16(fl32(11.0625 / fl32(T)))) rounds to inf. Near 11.09 float16 is
#   spaced 2^-7: exp(11.0859375) = 65247 is finite, exp(11.09375) = 65759 >= 65520 is inf. The
#   quotient rounds to 11.09375 iff fl32(q) >= the midpoint 11.08984375 = 2839/256 (a tie goes
#   to 11.09375, significand 1420, even). float32 is spaced 2^-20 there and 2839/256 is even in
#   it, so fl32(q) >= 2839/256 iff q >= 2839/256 - 2^-21, iff fl32(T) <= 11.0625 / (2839/256 -
#   2^-21) = 0.99753438597.... The largest such float32 is 0x1.febcd2p-1 (odd significand), and
#   fl32(T) is at most it iff T is below its midpoint with the next float32 (a tie goes to the
#   even next one).
_T32 = float.fromhex("0x1.febcd2p-1")
NAIVE_F16 = float(np.nextafter(_T32 + 2.0**-25, 0.0))  # float32 is spaced 2^-24 in [1/2, 1)
# shifted: x - max x <= 0 cannot overflow; the only failure is the division itself,
#   fl16(fl32(11.0625 / fl32(T))) = inf iff fl32(q) >= 65520, iff q >= 65520 - 2^-9 (float32 is
#   spaced 2^-8 there, 65520 even in it), iff fl32(T) <= 11.0625 / (65520 - 2^-9) =
#   1.68841581e-4; the largest such float32 is 0x1.621622p-13 (odd), so unsafe iff T is below
#   its midpoint with the next float32.
_S32 = float.fromhex("0x1.621622p-13")
SHIFTED_F16 = float(np.nextafter(_S32 + 2.0**-37, 0.0))  # spaced 2^-36 in [2^-13, 2^-12)


def critical(report: Report, method: str, dtype: str) -> CriticalTemperature:
    ta = report.sources[0].temperature
    assert ta is not None and ta.critical is not None
    (c,) = [c for c in ta.critical if (c.method, c.dtype) == (method, dtype)]
    return c


def unsafe(c: Cell) -> bool:
    """The cells' definition: any overflow (incl. of x/T) or NaN on a judged row."""
    return c.metrics.overflow.elements + c.metrics.nan.elements > 0


def one_hot(c: Cell) -> bool:
    assert c.probabilities is not None
    return all(sorted(r) == [0.0] * (len(r) - 1) + [1.0] for r in c.probabilities)


@pytest.fixture(scope="module")
def vllm() -> Report:
    return analyze(VLLM_ROW, dtypes=["float16"], critical=True)


@pytest.mark.parametrize(
    ("method", "boundary", "cause"),
    [("naive", NAIVE_F16, "exp_overflow"), ("shifted", SHIFTED_F16, "temperature_overflow")],
)
def test_issue4_vllm_row_critical_temperatures_match_hand_derivation(
    vllm: Report, method: str, boundary: float, cause: str
) -> None:
    c = critical(vllm, method, "float16")
    # bisection reports its safe end: above the boundary by at most the relative tolerance
    assert c.min_safe is not None
    assert boundary < c.min_safe <= boundary * (1 + REL_TOL)
    assert c.causes[0] == cause and c.min_safe_row == (0,)
    # the engine's own cells agree: unsafe exactly at the boundary, safe just above it
    above = float(np.nextafter(boundary, 1.0))
    r = analyze(VLLM_ROW, dtypes=["float16"], methods=[method], temperatures=[boundary, above])
    assert unsafe(cell(r, method, "float16", boundary))
    assert not unsafe(cell(r, method, "float16", above))


def test_issue4_vllm_row_naive_and_shifted_differ_by_orders_of_magnitude(vllm: Report) -> None:
    naive, shifted = critical(vllm, "naive", "float16"), critical(vllm, "shifted", "float16")
    assert naive.min_safe is not None and shifted.min_safe is not None
    assert naive.min_safe / shifted.min_safe > 1000  # 0.9975 / 1.688e-4 = 5908
    # the remedies: naive needs the shift; the shifted forms need the division fixed
    assert naive.advice is not None and "max-shifted" in naive.advice
    assert shifted.advice is not None and "centre the logits before dividing" in shifted.advice


def test_issue4_vllm_row_collapses_to_one_hot_below_the_reported_temperature(vllm: Report) -> None:
    c = critical(vllm, "shifted", "float16")
    assert c.one_hot_below is not None and c.min_safe is not None
    # a float16 probability rounds to 0 iff it is <= 2^-25 (half the smallest subnormal); the
    # runner-up is exp(-(11.0625 - 2.955078125) / T) of the top: collapse near T = 8.1074/(25 ln 2)
    assert c.one_hot_below == pytest.approx(8.107421875 / (25 * math.log(2)), rel=2e-3)
    below = [c.one_hot_below, c.one_hot_below / 2, 0.01, c.min_safe]
    above = c.one_hot_below * (1 + REL_TOL)
    r = analyze(VLLM_ROW, dtypes=["float16"], methods=["shifted"], temperatures=[*below, above])
    for t in below:
        assert one_hot(cell(r, "shifted", "float16", t)), t
    assert not one_hot(cell(r, "shifted", "float16", above))
    # naive overflows before it could collapse: it is never one-hot
    assert critical(vllm, "naive", "float16").one_hot_below is None


def test_sum_overflow_sets_naive_critical_temperature() -> None:
    # (10, 10, 10) in float16: exp(10) alone is finite, three of them overflow the sum. Near 10
    # float16 is spaced 2^-7: 3 * fl16(exp(9.9921875)) = 3 * 21856 = 65568 >= 65520 (inf), while
    # 3 * fl16(exp(9.984375)) = 3 * 21680 = 65040. The quotient 10 / fl16(T) rounds to 9.9921875
    # iff it exceeds the midpoint 9.98828125 (a tie goes to the even 9.984375), i.e. iff
    # fl16(T) < 1.0011734, i.e. fl16(T) <= 1 + 2^-10; T rounds there iff T < 1 + 1.5 * 2^-10
    # (the tie goes to the even 1 + 2^-9). Unsafe iff T < 1.00146484375.
    boundary = 1 + 1.5 * 2.0**-10
    r = analyze([[10.0, 10, 10]], dtypes=["float16"], methods=["naive"], critical=True)
    c = critical(r, "naive", "float16")
    assert c.min_safe is not None and boundary < c.min_safe <= boundary * (1 + REL_TOL)
    assert c.causes == ["sum_overflow"]
    assert c.advice is not None and "the sum of exp(x/T) overflows" in c.advice


def test_a_sum_overflow_at_every_t_sets_every_summing_methods_critical_temperature() -> None:
    # 70000 zeros in float16: x/T = 0 at every T, and the sum of 70000 exp(0) = 1 overflows for
    # every method that takes it; logdomain and lse-direct read "never" where shifted read
    # "every T" (their outputs carried no sum-overflow mask)
    methods = ["shifted", "logdomain", "lse-direct", "online"]
    r = analyze(np.zeros((1, 70000)), dtypes=["float16"], methods=methods, critical=True)
    for method in methods:
        c = critical(r, method, "float16")
        assert (c.min_safe, c.causes) == (math.inf, ["sum_overflow"]), method


def test_rows_the_cast_masks_are_unsafe_at_every_t_as_the_cells_say() -> None:
    # -1e9 is -inf in float16: row [1] is entirely -inf there at every T and every method
    # returns NaN for it (the cells' masked-row-nan FAIL); the search judged it out and read
    # 4.59e-05 ("no NaN probability on any row"). In bfloat16 -1e9 is finite: searched as before
    x = [[1.0, 2, 3, -1e9], [-1e9] * 4]
    r = analyze(x, dtypes=["float16", "bfloat16"], temperatures=[0.1, 1, 10])
    for m in ("naive", "shifted", "logdomain", "torch"):
        c = critical(r, m, "float16")
        assert (c.min_safe, c.causes, c.min_safe_row, c.one_hot_below) == (
            math.inf,
            ["cast_masked"],
            (1,),
            None,
        )
        # naive's exp of finfo.min, and of -1e9 in float32, is 0 too: it needs the shift
        fix = (
            ", and use max-shifted softmax, or handle fully masked rows"
            if m == "naive"
            else ", or handle fully masked rows, or compute the softmax in float32"
        )
        assert c.advice == (
            f"{m} float16: at every T the cast to float16 turns every mask of a row into -inf -- "
            "mask with torch.finfo(torch.float16).min, a value float16 holds, after dividing by "
            "T" + fix
        )
        assert all(unsafe(cell(r, m, "float16", t)) for t in (0.1, 1, 10))
    assert critical(r, "torch", "bfloat16").min_safe is None


def test_a_row_of_logits_the_cast_masks_is_unsafe_at_every_t() -> None:
    x = [[-100000.0, -100001, -100002], [1, 2, 3]]
    r = analyze(x, dtypes=["float16"], methods=["torch"], temperatures=[0.5, 1, 2])
    c = critical(r, "torch", "float16")
    assert (c.min_safe, c.causes, c.min_safe_row) == (math.inf, ["cast_masked"], (0,))
    assert c.advice == (
        "torch float16: at every T the cast to float16 turns every logit of a row into -inf -- "
        "compute the softmax in float32"
    )


def test_entropy_matches_mpmath() -> None:
    rows = np.array(
        [[1000.0, 0, -1, 3.5, -np.inf], [0.0, -40, -np.inf, -np.inf, -np.inf], [1, 1, 1, 1, 1.0]]
    )
    for t in (0.5, 1.0, 7.0):
        h, pmax = entropy_and_max(rows, t)
        for i, row in enumerate(rows):
            # 120 digits: 1 + exp(-142.9) must not round to 1, or the top term of H is lost
            mpmath.mp.dps = 120
            z = [mpmath.mpf(float(v)) / t for v in row if np.isfinite(v)]
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
            ps = [mpmath.exp(v - lse) for v in z]
            exact_h = -mpmath.fsum(p * mpmath.log(p) for p in ps)
            # full relative precision even for nearly one-hot rows (H ~ 1e-866 underflows to 0)
            assert h[i] == pytest.approx(float(exact_h), rel=1e-13, abs=1e-300), (i, t)
            assert pmax[i] == pytest.approx(float(max(ps)), rel=1e-15)


def test_entropy_grows_monotonically_with_temperature() -> None:
    temps = [float(t) for t in np.geomspace(0.01, 100, 25)]
    # the sweep is exact and method-independent: one cheap cell per T is enough to run it
    r = analyze(
        "gen:llm:shape=8x1000,seed=3",
        temperatures=temps,
        critical=False,
        dtypes=["float32"],
        methods=["torch"],
    )
    sweep = r.sources[0].temperature.sweep  # type: ignore[union-attr]
    assert [p.temperature for p in sweep] == temps and all(p.rows == 8 for p in sweep)
    h = [p.entropy_mean for p in sweep]
    assert all(a < b for a, b in zip(h, h[1:], strict=False))  # dH/dT = Var(x)/T^3 > 0
    pmax = [p.max_prob_mean for p in sweep]
    assert all(a > b for a, b in zip(pmax, pmax[1:], strict=False))
    assert h[-1] < math.log(1000) and h[-1] == pytest.approx(math.log(1000), rel=1e-3)
    assert sweep[-1].effective_support_mean == pytest.approx(1000, rel=2e-3)


def test_sweep_and_critical_do_not_depend_on_chunk_size() -> None:
    x = random_rows("float16", np.random.default_rng(7), rows=12, n=8)
    # rows the search must skip or mask: fully masked, partly masked, upstream NaN and +inf
    x[1] = -np.inf
    x[4, 2] = np.nan
    x[6, :3] = -np.inf
    x[9, 0] = np.inf
    kw = {"dtypes": ["float16"], "methods": ["naive", "torch"], "temperatures": [0.1, 1, 3]}
    whole = analyze(x, chunk_rows=100, **kw).to_dict()["sources"][0]["temperature"]
    assert analyze(x, chunk_rows=1, **kw).to_dict()["sources"][0]["temperature"] == whole
    assert analyze(x, chunk_rows=5, **kw).to_dict()["sources"][0]["temperature"] == whole


def test_critical_temperatures_only_when_asked() -> None:
    one = analyze(VLLM_ROW, dtypes=["float16"]).sources[0].temperature
    assert one is not None and one.critical is None and one.scan is None
    assert [p.temperature for p in one.sweep] == [1.0]
    several = analyze(VLLM_ROW, dtypes=["float16"], temperatures=[0.5, 1]).sources[0].temperature
    assert several is not None and several.critical is not None and len(several.critical) == 4
    off = analyze(VLLM_ROW, dtypes=["f16"], temperatures=[0.5, 1], critical=False).sources[0]
    assert off.temperature is not None and off.temperature.critical is None


def test_scan_grid_is_decades_down_to_the_minimum() -> None:
    assert scan_grid((1.0,)) == [1e3, 1e2, 10, 1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6]
    assert scan_grid((0.5, 2e4))[:2] == [1e5, 1e4] and scan_grid((0.5,))[-1] == T_MIN


def test_scan_grid_goes_on_to_each_swept_t_below_the_decades() -> None:
    # the scan stopped at T_MIN whatever the sweep: a T = 1e-306 cell FAILed while the critical
    # figure beside it read "never"; below T_MIN only the swept T are grid points (not 300 decades)
    decades = scan_grid((1.0,))
    assert scan_grid((1.0, 1e-306, 1e-20)) == [*decades, 1e-20, 1e-306]
    assert scan_grid((1.0, T_MIN)) == decades  # no swept T below T_MIN: the usual grid


def test_a_t_that_rounds_to_0_where_torch_divides_is_the_cause_below_its_edge() -> None:
    # torch takes T in float32 for float16 and float32 tensors: T <= 2^-150 (half the smallest
    # subnormal, a tie to even) is 0 there, and (-3, 0, -1) / T is (-inf, nan, -inf). The causes
    # read "a whole row divides to -inf" and naive's "every exp(x/T) underflows to 0 (0/0)"
    r = analyze([[-3.0, 0, -1]], dtypes=["float16", "float32"], temperatures=[1e-50], critical=True)
    edge = 2.0**-150
    for dtype in ("float16", "float32"):
        for m in ("naive", "shifted", "logdomain", "torch"):
            c = critical(r, m, dtype)
            assert c.min_safe is not None and edge < c.min_safe <= edge * (1 + REL_TOL)
            assert (c.causes, c.min_safe_row) == (["temperature_zero"], (0,))
            assert c.advice == (
                f"{m} {dtype}: below T≈7.011e-46 T rounds to 0 in float32, the type torch divides "
                f"{dtype} in: x/T is inf or NaN -- divide by T and take the softmax in float64, "
                "or clamp T to >= 7.011e-46"
            )
            assert unsafe(cell(r, m, dtype, 1e-50))


def test_critical_temperatures_reach_the_lowest_swept_t() -> None:
    # [1, 2, 3, 400] in float32 swept to T = 1e-306: 400 / T overflows float32 (from max + ulp/2
    # = 2^128 - 2^103 up) below T = 1.1755e-36, and the cells there FAIL, but the scan stopped at
    # 1e-6 and read min_safe None, "safe down to the scan's bottom"; likewise a row of -1e5 masks
    # at T = 1e-36 (-inf below 1e5 / (2^128 - 2^103) = 2.9387e-34: inf - inf, NaN)
    kw = {"dtypes": ["float32"], "methods": ["shifted"], "gradients": False}
    r = analyze([[1.0, 2, 3, 400]], temperatures=[1, 1e-306], **kw)
    c, scan = critical(r, "shifted", "float32"), r.sources[0].temperature.scan
    edge = 400 / (2.0**128 - 2.0**103)
    assert edge <= c.min_safe <= edge * (1 + REL_TOL) and c.causes == [
        "temperature_overflow",
        "nan",
    ]
    assert (scan.lo, scan.grid[-2:]) == (1e-306, [T_MIN, 1e-306])
    masked = analyze([[1.0, 2, 3], [-1e5] * 3], temperatures=[1, 1e-36], mask_value=-1e5, **kw)
    c = critical(masked, "shifted", "float32")
    edge = 1e5 / (2.0**128 - 2.0**103)
    assert edge <= c.min_safe <= edge * (1 + REL_TOL) and c.min_safe_row == (1,)


def test_a_subnormal_swept_t_is_bisected_to_without_underflow() -> None:
    # T = 5e-324: the log midpoint sqrt(a b) of 1e-6 and 5e-324 underflows to 0 (a T of 0)
    r = analyze(
        [[1.0, 2, 3, 400]], dtypes=["float64"], methods=["shifted"], temperatures=[1, 5e-324]
    )
    c = critical(r, "shifted", "float64")
    edge = 400 / 1.7976931348623157e308  # 400 / max; the quotient is +inf from max + ulp/2 up
    assert edge * (1 - 1e-15) <= c.min_safe <= edge * (1 + REL_TOL)


def random_rows(
    dtype: str, rng: np.random.Generator, rows: int = 8, n: int = 8, wide: bool = False
) -> np.ndarray:
    """Random rows, a third of them all-negative (naive's exps all underflow, 0/0, at small T).

    Moderate scales (0.1 to 1e4) put naive's overflow limit x_max / ln(max) inside the scan;
    wide ones (up to max / 100) put the overflow of x / T there too, in every format.
    """
    fmt = get_format(dtype)
    top = math.log10(fmt.max) - 2 if wide else 4
    scale = 10.0 ** rng.uniform(-1, top, size=(rows, 1))
    x = rng.standard_normal((rows, n)) * scale
    x[::3] -= 4 * scale[::3]  # all-negative rows: naive's exps all underflow (0/0) at small T
    return np.clip(x, -fmt.max / 8, fmt.max / 8)


@pytest.mark.parametrize("wide", [False, True], ids=["moderate", "wide"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bisection_agrees_with_brute_force(dtype: str, wide: bool) -> None:
    x = random_rows(dtype, np.random.default_rng(DTYPES.index(dtype)), wide=wide)
    # the critical search and these cells' flags never look at the gradients: off in both runs
    bis = analyze(x, dtypes=[dtype], critical=True, gradients=False)
    # brute force: the engine's own cells on a grid of 8 temperatures per decade over the scan
    grid = [float(t) for t in np.geomspace(T_MIN, 1e3, 73)]
    brute = analyze(x, dtypes=[dtype], temperatures=grid, critical=False, gradients=False)
    for method in ("naive", "shifted", "logdomain", "torch"):
        c = critical(bis, method, dtype)
        bad = [t for t in grid if unsafe(cell(brute, method, dtype, t))]
        if c.min_safe is None:
            assert not bad, (method, bad)
        elif math.isinf(c.min_safe):  # unsafe already at the top of the scan
            assert grid[-1] in bad, (method, bad)
        else:
            assert bad and max(bad) < c.min_safe, (method, c.min_safe, bad)
            next_safe = min(t for t in grid if t > max(bad))
            assert c.min_safe <= next_safe * (1 + REL_TOL), (method, c.min_safe)
        hot = [t for t in grid if one_hot(cell(brute, method, dtype, t))]
        if c.one_hot_below is None:
            assert not hot, (method, hot)
        elif math.isinf(c.one_hot_below):  # every row one-hot already at the top of the scan
            assert grid[-1] in hot, (method, hot)
        else:
            next_not = min(t for t in grid if t > max(hot))
            assert max(hot) <= c.one_hot_below * (1 + REL_TOL), (method, c.one_hot_below, hot)
            assert c.one_hot_below < next_not, (method, c.one_hot_below, hot)
            # and collapsed at every grid T from min_safe up to one_hot_below
            floor = c.min_safe or 0.0
            assert all(t in hot for t in grid if floor <= t <= c.one_hot_below), method


def test_row_flags_read_strict_outputs_like_framework_ones() -> None:
    # the strict model's methods return numpy MethodOutputs; a stand-in that wraps the
    # framework kernels must be classified exactly as the framework path classifies them
    import types

    import torch

    from smcheck.analysis.critical import CAUSES, row_flags
    from smcheck.methods import get_method
    from smcheck.methods.base import SoftmaxMethod

    f = get_format("float16")
    rows = [[11.0625, 2.875], [12.0, 0.0], [-20.0, -30.0], [1.0, 1.0], [5.0, -20.0]]
    x = torch.tensor(rows, dtype=f.torch_dtype())
    no_scale_overflow = np.zeros((5, 2), dtype=bool)

    def flags(m: SoftmaxMethod, model: str):  # type: ignore[no-untyped-def]
        cfg = types.SimpleNamespace(model=model, ftz=False)
        return row_flags(m, x, no_scale_overflow, f, cfg)  # type: ignore[arg-type]

    for name in ("naive", "shifted"):
        m = get_method(name)

        def strict(a, g, _ftz, m=m):  # type: ignore[no-untyped-def]
            return m.framework(torch.from_numpy(a).to(g.torch_dtype())).to_output()

        fw, st = (
            flags(m, "framework"),
            flags(SoftmaxMethod(name, "", "", m.framework, strict), "strict"),
        )
        assert fw.causes.tolist() == st.causes.tolist()
        assert fw.one_hot.tolist() == st.one_hot.tolist()
    naive = flags(get_method("naive"), "framework")
    exp_over, nan = 1 << CAUSES.index("exp_overflow"), 1 << CAUSES.index("nan")
    # float16 exp overflows above ln(65520) = 11.09 (exp(12) = inf: inf/inf) and rounds to 0 at or
    # below ln(2^-25) = -17.33, so exp(-20) = exp(-30) = 0 and that row is 0/0
    assert naive.causes.tolist() == [0, exp_over | nan, nan, 0, 0]
    # one-hot only where every other probability rounds to 0: (5, -20) gives (1, 0) exactly
    assert naive.one_hot.tolist() == [False, False, False, False, True]


def test_bisection_moves_on_to_the_row_that_binds() -> None:
    # float64 naive overflows where x/T > ln(max) = 709.78: row 0 (max 100) from T < 0.1409,
    # row 1 (max 500) from T < 0.7044. Both fail at the grid point 0.1, so the search starts on
    # row 0 (lowest index), bisects it alone, finds row 1 failing when it checks every row, and
    # must end on row 1's limit.
    ln_max = get_format("float64").exp_overflow_x
    r = analyze([[100.0, 0.0], [500.0, 0.0]], dtypes=["float64"], methods=["naive"], critical=True)
    c = critical(r, "naive", "float64")
    assert c.min_safe is not None and 500 / ln_max < c.min_safe <= 500 / ln_max * (1 + REL_TOL)
    assert c.min_safe_row == (1,) and c.causes[0] == "exp_overflow"


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_flags_nan_and_one_hot_match_the_elementwise_definition(dtype: str) -> None:
    # row_flags reads NaN from the row maximum and one-hot from the nonzero count; the
    # definitions: any element NaN; exactly one element 1 and every other exactly 0 (±0)
    import types

    import torch

    from smcheck.analysis.critical import row_flags
    from smcheck.methods.base import SoftmaxMethod
    from smcheck.methods.framework import TorchResult

    f = get_format(dtype)
    n = 4000  # long rows: torch's vectorised reductions
    rows = np.zeros((9, n))
    rows[0, 0] = 1.0  # one-hot
    rows[1, n - 1] = 1.0
    rows[1, 7] = -0.0  # one-hot with a negative zero
    rows[2, 3] = np.nan  # NaN among zeros
    rows[3, n - 1], rows[3, 0] = np.nan, 1.0  # NaN at the end of a one-hot row
    rows[4, :2] = 0.5  # two halves
    rows[5, 9] = 1.0
    rows[5, 10] = 2.0**-24  # one subnormal beside the 1: not one-hot
    rows[6] = 1.0 / n
    rows[7, 100] = 1.0
    rows[7, 200] = -1.0  # a negative value: not one-hot
    p = torch.from_numpy(rows).to(f.torch_dtype())

    def given(x: torch.Tensor) -> TorchResult:  # a "method" whose p is its input
        return TorchResult(x, torch.log(x))

    cfg = types.SimpleNamespace(model="framework", ftz=False)
    m = SoftmaxMethod("given", "", "", given)
    flags = row_flags(m, p, np.zeros(p.shape, bool), f, cfg)  # type: ignore[arg-type]
    nan = torch.isnan(p).any(-1)
    one_hot = ((p == 1).sum(-1) == 1) & ((p == 0).sum(-1) == n - 1)
    assert (flags.causes != 0).tolist() == nan.tolist()
    assert flags.one_hot.tolist() == one_hot.tolist()
    assert one_hot.tolist() == [True, True, False, False, False, False, False, False, False]
    # rows without a maximum of 1 (the nonzero count is skipped): none one-hot, NaN still read
    rest = p[[2, 4, 6, 8]]
    flags = row_flags(m, rest, np.zeros(rest.shape, bool), f, cfg)  # type: ignore[arg-type]
    assert flags.one_hot.tolist() == [False] * 4
    assert (flags.causes != 0).tolist() == [True, False, False, False]


def test_the_search_keeps_the_leading_chunks_that_fit_and_reads_the_rest_again() -> None:
    import torch

    from smcheck.analysis.critical import Prober
    from smcheck.config import AnalysisConfig
    from smcheck.sources.rows import RowView

    # 2-row chunks of 60000 float64 (960 KB) with their float16 cast (240 KB): the first two fit
    # in half of a 6.5 MiB budget, the third not, the last (one row) would but must not (the
    # kept chunks are the leading ones); at 1 MiB none fits. float32 casts (480 KB) fit only
    # beside the x already kept.
    x = np.random.default_rng(3).standard_normal((7, 60000)) * 4
    x[2, 5] = x[3, 0] = np.inf  # upstream rows: the second chunk, kept, is never yielded
    view = RowView(x, -1, "x")
    reads: list[int] = []
    block = view.block
    view.block = lambda a, b: reads.append(a) or block(a, b)  # type: ignore[method-assign]
    kept = Prober(view, AnalysisConfig(memory_budget=13 << 19), 2)
    none = Prober(RowView(x, -1, "x"), AnalysisConfig(memory_budget=1 << 20), 2)
    f16, f32 = get_format("float16"), get_format("float32")
    first = list(kept._blocks(f16))
    assert reads == [0, 2, 4, 6] and [b.start for b in first] == [0, 4, 6]
    reads.clear()
    assert next(kept._blocks(f16)) is first[0] and reads == []  # stopped early, from memory
    for f, read in ((f32, [0, 2, 4, 6]), (f16, [4, 6]), (f32, [4, 6])):
        reads.clear()
        got, want = list(kept._blocks(f)), list(none._blocks(f))
        assert reads == read
        assert [b.start for b in got] == [b.start for b in want] == [0, 4, 6]
        for b, c in zip(got, want, strict=True):
            assert np.array_equal(b.x, c.x) and np.array_equal(b.valid, c.valid)
            assert b.xt.dtype == c.xt.dtype == f.torch_dtype() and torch.equal(b.xt, c.xt)


def test_critical_temperatures_do_not_depend_on_what_the_search_keeps() -> None:
    # 24 rows of 4000 in 2-row chunks: at a 1 MiB budget about half of them fit the search's
    # room, at the default budget all do
    x = random_rows("float16", np.random.default_rng(11), rows=24, n=4000)
    kw = {"dtypes": ["float16"], "methods": ["naive", "torch"], "temperatures": [0.1, 1, 3]}
    small = analyze(x, chunk_rows=2, memory_budget=2**20, gradients=False, **kw)
    whole = analyze(x, chunk_rows=2, gradients=False, **kw)
    t = [r.to_dict()["sources"][0]["temperature"] for r in (small, whole)]
    assert t[0] == t[1] and t[0]["critical"]
