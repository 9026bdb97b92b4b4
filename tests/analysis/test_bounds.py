"""Rounding-error bounds and condition numbers: values, validity, and what they blame."""

from __future__ import annotations

import math
from dataclasses import replace

import mpmath
import numpy as np
import pytest

import smcheck
from smcheck.analysis.boundcheck import BoundsAccumulator
from smcheck.analysis.bounds import first_order, row_bounds, row_features
from smcheck.config import Thresholds
from smcheck.dtypes import get_format
from smcheck.methods import METHODS
from smcheck.methods.base import MethodOutput
from smcheck.methods.strictops import fn_error
from smcheck.reference.exact import exact_softmax
from tests.conftest import DTYPES

ANALYSED = ["naive", "shifted", "logdomain", "lse-direct", "online"]


def features(x: np.ndarray, dtype: str = "float32"):  # type: ignore[no-untyped-def]
    fmt = get_format(dtype)
    xd = fmt.round(np.asarray(x, dtype=np.float64))
    return row_features(xd, exact_softmax(xd), ~np.isneginf(xd), fmt), fmt


def test_first_order_bounds_are_the_papers_at_c_equal_one() -> None:
    # x = (0, -1, -3): n = 3, x_max - x_min = 3. Thm 3.3: (n + 3)u = 6u; Thm 4.3:
    # (n + 2 + 2(x_max - x_min))u = 11u; c = 1 + 8·2^(24-53) in float32 (the float64 exp)
    f, fmt = features([[0.0, -1.0, -3.0]])
    c = fn_error(fmt)
    assert c == pytest.approx(1.0, abs=1e-7)
    assert first_order("naive", "strict", f, fmt)[0] == pytest.approx(3 + 1 + 2 * c)
    assert first_order("shifted", "strict", f, fmt)[0] == pytest.approx(3 + 2 * c + 6)
    assert first_order("torch", "framework", f, fmt) is None


def test_lse_direct_bound_carries_the_final_additions_rounding() -> None:
    # y = logsumexp(x) enters as |y|u: shifting the row by 1000 adds 1000 to the first-order
    # bound of lse-direct (the term the paper's Thm 4.4 omits) but not to logdomain's
    f0, fmt = features([[0.0, -1.0, -3.0]], "float64")
    f1, _ = features([[1000.0, 999.0, 997.0]], "float64")
    d_lse = first_order("lse-direct", "strict", f1, fmt) - first_order(
        "lse-direct", "strict", f0, fmt
    )
    d_log = first_order("logdomain", "strict", f1, fmt) - first_order(
        "logdomain", "strict", f0, fmt
    )
    assert d_lse[0] == pytest.approx(1000.0)
    assert d_log[0] == pytest.approx(0.0, abs=1e-9)


def test_vacuous_exactly_where_the_bound_reaches_one_over_u() -> None:
    # float16, u = 2^-11: n zeros give T = n + 2c for shifted, B = T / (1 - Tu) (no underflow,
    # a reference allowance far below 1u), which reaches 1/u = 2048 from T = 1/(2u) = 1024
    fmt = get_format("float16")
    for n, vacuous in [(1000, False), (1015, False), (1030, True), (2048, True)]:
        f, _ = features(np.zeros((1, n)), "float16")
        rb = row_bounds("shifted", "strict", f, fmt, False)
        assert rb is not None and bool(rb.vacuous[0]) is vacuous, n
    # the log-domain routes keep a 4x second-order margin: vacuous from T >= 2048/4
    f, _ = features(np.zeros((1, 600)), "float16")
    assert row_bounds("logdomain", "strict", f, fmt, False).vacuous[0]  # type: ignore[union-attr]


def mp_normwise_change(x: list[float], dx: list[float]) -> float:
    mpmath.mp.dps = 60

    def sm(v: list[mpmath.mpf]) -> list[mpmath.mpf]:
        e = [mpmath.exp(t) for t in v]
        s = mpmath.fsum(e)
        return [t / s for t in e]

    a = sm([mpmath.mpf(t) for t in x])
    b = sm([mpmath.mpf(t) + mpmath.mpf(d) for t, d in zip(x, dx, strict=True)])
    return float(max(abs(p - q) for p, q in zip(a, b, strict=True)) / max(a))


def test_condition_number_is_attained_by_relative_perturbations_of_the_shifted_logits() -> None:
    # cond = max_j (g_j/g_max)[d_j(1-g_j) + sum_{i!=j} g_i d_i], d = x_max - x: perturbing each
    # x_i - x_max by a relative eps with the signs that push g_j hardest moves ||g||_inf-relative
    # by cond·eps to first order, and no perturbation of that size moves it more
    x = [0.0, -0.5, -1.0, -2.5, -4.0]
    ref = exact_softmax(np.array([x]))
    cond = row_features(np.array([x]), ref, np.ones((1, 5), bool), get_format("float64")).cond[0]
    eps = 1e-12
    g = ref.p[0]
    best = 0.0
    for j in range(5):
        sign = [(-1.0 if i == j else 1.0) for i in range(5)]  # d_j grows, every other d_i shrinks
        dx = [-s * eps * (-xi) for s, xi in zip(sign, x, strict=True)]
        best = max(best, mp_normwise_change(x, dx) / eps)
    assert best == pytest.approx(cond, rel=1e-6)
    assert g.max() > 0


@pytest.mark.parametrize("seed", range(5))
def test_condition_number_is_at_most_log_n(seed: int) -> None:
    # cond <= 1/e + sum_i g_i d_i = 1/e + H(g) - (lse - x_max) <= ln n + 1/e
    rng = np.random.default_rng(seed)
    x = rng.normal(0, rng.uniform(0.1, 20), (50, int(rng.integers(2, 3000))))
    ref = exact_softmax(x)
    cond = row_features(x, ref, np.ones(x.shape, bool), get_format("float64")).cond
    assert (cond <= math.log(x.shape[1]) + 1 / math.e + 1e-9).all()


SOURCES = [
    "gen:normal:shape=48x40,seed=1",
    "gen:extreme:shape=48x30,seed=2",
    "gen:spike:shape=32x64,seed=3",
    "gen:llm:shape=2x1000,seed=4",
    "sample_inputs/masked_rows.npy",
]


@pytest.mark.parametrize("ftz", [False, True], ids=["gradual", "ftz"])
@pytest.mark.parametrize("model", ["framework", "strict"])
@pytest.mark.parametrize("source", SOURCES)
def test_no_method_violates_its_bound(source: str, model: str, ftz: bool) -> None:
    if source.startswith("sample_inputs"):
        from tests.conftest import sample_input

        source = str(sample_input(source.split("/")[1]))
    # the bounds only: the critical-temperature search and the gradients are not checked here
    rep = smcheck.analyze(
        source,
        model=model,
        methods=ANALYSED,
        ftz=ftz,
        temperatures=[1, 0.3],
        critical=False,
        gradients=False,
    )
    for c in rep.cells:
        assert c.bounds is not None
        assert c.bounds.violations.rows == 0, (c.method, c.dtype, c.temperature, c.bounds)
        assert c.bounds.reading != "implementation"


def test_a_broken_implementation_violates_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # a "shifted" whose results are 64 ulps high: its error, 64u·p/p_max, exceeds the
    # row's bound (n + 2 + 2D)u = 4 + 2 + 2·3 = 12u on the row where the max is hit
    good = METHODS["shifted"]
    fmt = get_format("float32")

    def broken(x: np.ndarray, f, ftz):  # type: ignore[no-untyped-def]
        out = good.strict(x, f, ftz)  # type: ignore[misc]
        return MethodOutput(p=out.p * (1 + 64 * fmt.u * 2), logp=out.logp)

    monkeypatch.setitem(METHODS, "shifted", replace(good, strict=broken))
    rep = smcheck.analyze(
        np.array([[0.0, -1.0, -2.0, -3.0]]), dtypes=["float32"], model="strict", methods=["shifted"]
    )
    (cell,) = rep.cells
    assert cell.bounds is not None and cell.bounds.violations.rows == 1
    assert cell.bounds.reading == "implementation" and cell.verdict.value == "WARN"
    assert "the implementation, not the input, is at fault" in cell.reasons[0]


def test_reading_blames_the_input_only_within_the_condition_number() -> None:
    fmt = get_format("bfloat16")
    acc = BoundsAccumulator("shifted", "strict", fmt, False)
    th = Thresholds(normwise_bits=0.1)  # errors above 2^(0.8)u = 1.74u count as large
    acc.worst.error, acc.worst.row, acc.worst.bound, acc.worst.cond = 3.0, 7, 40.0, 3.5
    assert acc.reading(th) == "input"
    acc.worst.cond = 2.0
    assert acc.reading(th) == "algorithm"
    acc.worst.error = 1.0
    assert acc.reading(th) == "none"
    check = acc.result(lambda i: None if i is None else (i,), th)
    assert check is not None and check.worst is not None and check.worst.row == (7,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bounds_json_is_strict_and_complete(dtype: str) -> None:
    rep = smcheck.analyze([[1.0, 2.0, 3.0]], dtypes=[dtype], methods=["shifted", "torch"])
    cells = rep.to_dict()["sources"][0]["cells"]
    shifted, torch_cell = cells
    assert torch_cell["bounds"] is None and torch_cell["accumulation"] is None
    b = shifted["bounds"]
    assert set(b) == {
        "bound", "c", "rows_tested", "violations", "vacuous", "max_ratio", "cond_max", "worst",
        "reading",
    }  # fmt: skip
    assert b["violations"] == {"rows": 0, "worst_row": None} and b["rows_tested"] == 1
    assert set(b["worst"]) == {"row", "error_u", "bound_u", "first_order_u", "cond"}
