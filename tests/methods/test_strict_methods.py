"""The strict-model methods and the lse-direct / online methods in both models (issue 5)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import smcheck
from smcheck.cli import cli
from smcheck.dtypes import get_format
from smcheck.errors import ConfigError, ExitCode
from smcheck.methods import METHODS, STRICT_DEFAULT_METHODS, get_method
from tests.conftest import DTYPES, TOLERANCES, sample_input

STRICT = sorted(name for name, m in METHODS.items() if m.strict is not None)
ROWS = np.array([[-3.5, 0.25, 2.0, 7.0], [1.0, 1.0, 1.0, 1.0], [-25.0, 0, 25, 50]])


def mp_softmax(row: np.ndarray) -> list[float]:
    mpmath.mp.dps = 50
    xs = [mpmath.mpf(float(v)) for v in row]
    s = mpmath.fsum(mpmath.exp(v) for v in xs)
    return [float(mpmath.exp(v) / s) for v in xs]


def strict(name: str, x: np.ndarray, dtype: str, ftz: bool = False):  # type: ignore[no-untyped-def]
    fmt = get_format(dtype)
    return get_method(name).strict(fmt.round(np.asarray(x, dtype=np.float64)), fmt, ftz)


def test_torch_is_the_only_method_without_a_strict_form() -> None:
    assert sorted(set(METHODS) - set(STRICT)) == ["torch"]
    rep = smcheck.analyze([[1.0, 2.0]], dtypes=["float32"], model="strict")
    assert [c.method for c in rep.cells] == list(STRICT_DEFAULT_METHODS)
    assert {c.model for c in rep.cells} == {"strict"}
    # the API names its arguments, not the --method and --model flags it has not
    fix = "leave it out of methods= or use model='framework'$"
    with pytest.raises(ConfigError, match=f"'torch' has no 'strict' form.*; {fix}"):
        smcheck.analyze([[1.0, 2.0]], model="strict", methods=["naive", "torch"])
    with pytest.raises(ConfigError, match="; leave it out of the methods or use the framework"):
        smcheck.AnalysisConfig(model="strict", methods=["torch"])  # spelled by no caller


def test_gradients_asked_for_under_the_strict_model_are_a_usage_error() -> None:
    # autograd runs torch's ops: the strict model has none to differentiate
    fix = "give gradients=False or use model='framework'$"  # no --gradients flag in the API
    with pytest.raises(ConfigError, match=f"gradients need autograd.*; {fix}"):
        smcheck.analyze([[1.0, 2.0]], model="strict", gradients=True)
    r = CliRunner().invoke(cli, ["analyze", "--values", "1,2", "--model", "strict", "--gradients"])
    assert r.exit_code == ExitCode.ERROR and r.stderr.count("Error: ") == 1, r.output
    assert r.stderr.endswith("; give --no-gradients or use --model framework\n"), r.output
    assert smcheck.analyze([[1.0, 2.0]], model="strict").cells[0].gradient is None


def test_cli_strict_with_torch_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli, ["analyze", "--values", "1,2", "--model", "strict", "--method", "torch"]
    )
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "fused kernel" in result.stderr and "Traceback" not in result.output
    assert result.stderr.endswith("; leave it out of --method or use --model framework\n")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", STRICT)
def test_strict_methods_match_mpmath(name: str, dtype: str) -> None:
    fmt = get_format(dtype)
    x = fmt.round(ROWS if name != "naive" else ROWS[:2])  # naive overflows exp(50) in float16
    out = strict(name, x, dtype)
    rtol, atol = TOLERANCES[dtype]
    # a few roundings per element plus |x - m| amplification (the framework tests' allowance)
    np.testing.assert_allclose(out.p, [mp_softmax(r) for r in x], rtol=8 * rtol, atol=atol)
    np.testing.assert_array_equal(out.p, fmt.round(out.p))  # every value is a value of the format
    assert out.p.dtype == np.float64 and out.p.shape == x.shape


@pytest.mark.parametrize("name", STRICT)
def test_strict_ftz_leaves_no_subnormal(name: str) -> None:
    # float16 probabilities of e^-12 .. e^-16 relative to the max are subnormal (< 6.1e-5)
    x = np.array([[0.0, -12.0, -14.0, -16.0, -1.0]])
    fmt = get_format("float16")
    kept, flushed = strict(name, x, "float16"), strict(name, x, "float16", ftz=True)
    assert ((kept.p > 0) & (kept.p < fmt.tiny)).any()
    assert not ((flushed.p > 0) & (flushed.p < fmt.tiny)).any()


def test_no_writeback_strict() -> None:
    x = np.array([[1.0, 2.0, 3.0, 8.0]])
    before = x.copy()
    for name in STRICT:
        get_method(name).strict(x, get_format("float16"), False)
    np.testing.assert_array_equal(x, before)


def test_strict_naive_flags_exp_and_sum_overflow() -> None:
    # float16: exp(12) = 162755 > 65504 overflows; exp(10) = 22026 is finite but three of them
    # sum past 65504 (sequentially: 22032 + 22032 = 44064, + 22032 = 66096 -> inf)
    out = strict("naive", [[12.0, 0.0, 0.0], [10.0, 10.0, 10.0]], "float16")
    assert out.overflow is not None and out.sum_overflow is not None
    assert out.overflow.tolist() == [[True, False, False], [False, False, False]]
    assert out.sum_overflow.tolist() == [False, True]


def float16_naive_by_hand(row: list[float]) -> list[float]:
    """The paper's lse_chop softmax with numpy float16 scalars (each op rounds to float16) and
    exp taken in double and rounded once: independent of StrictArith."""
    e = [np.float16(math.exp(float(np.float16(v)))) for v in row]
    s = np.float16(0)
    for w in e:
        s = np.float16(s + w)
    return [float(np.float16(w / s)) for w in e]


def float16_shifted_by_hand(row: list[float]) -> list[float]:
    """The paper's lse_chopshift softmax g: the max's term (1) is added last, as 1 + s."""
    x = [np.float16(v) for v in row]
    k = int(np.argmax(x))
    e = [np.float16(math.exp(float(np.float16(v - x[k])))) for v in x]
    s = np.float16(0)
    for i, w in enumerate(e):
        if i != k:
            s = np.float16(s + w)
    den = np.float16(np.float16(1) + s)
    return [float(np.float16(w / den)) for w in e]


@pytest.mark.parametrize(
    "name,by_hand", [("naive", float16_naive_by_hand), ("shifted", float16_shifted_by_hand)]
)
def test_strict_float16_equals_the_papers_algorithm_step_by_step(name, by_hand) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    x = get_format("float16").round(rng.normal(0, 4, (60, 12)).clip(-20, 10))
    out = strict(name, x, "float16")
    with np.errstate(over="ignore"):
        expected = [by_hand(r) for r in x.tolist()]
    np.testing.assert_array_equal(out.p, expected)


def test_issue5_4096_zeros_float16_strict_doubles_every_probability() -> None:
    # a float16 running sum of ones reaches 2048 = 2^11 after 2048 terms; 2048 + 1 = 2049 is a
    # tie between 2048 and 2050 and rounds to the even 2048, so the sum stays 2048: each
    # p = 1/2048 = 2/4096 (doubled) and sum p = 2. Shifted: 4095 others stall at 2048 too and
    # fl(1 + 2048) = 2048. The framework sums in float32: 4096, p = 2^-12 exactly.
    x = np.zeros((1, 4096))
    for name in ("naive", "shifted"):
        out = strict(name, x, "float16")
        assert set(out.p.ravel().tolist()) == {2.0**-11}
        assert out.p.sum() == 2.0
        assert out.absorbed is not None and out.absorbed.tolist() == [0.5]
        fw = get_method(name).framework(torch.zeros(1, 4096, dtype=torch.float16)).to_output()
        assert set(fw.p.ravel().tolist()) == {2.0**-12}

    rep = smcheck.analyze(x, dtypes=["float16"], model="strict", methods=["naive", "shifted"])
    for cell in rep.cells:
        assert cell.metrics.sum_error.max == 1.0
        assert cell.accumulation is not None
        assert cell.accumulation.stalled.rows == 1 and cell.accumulation.max_absorbed.max == 0.5
        assert cell.verdict.value == "WARN"
        assert "stalled in 1/1 row:" in cell.reasons[0] and "2048" in cell.reasons[0]
        assert cell.bounds is not None and cell.bounds.vacuous.rows == 1  # n = 4096 >= 1/u
    rep = smcheck.analyze(x, dtypes=["float16"], methods=["naive", "shifted"])
    for cell in rep.cells:
        assert cell.metrics.sum_error.max == 0.0 and cell.verdict.value == "OK"
        assert cell.accumulation is None
    assert any("2048 in float16" in note for note in rep.sources[0].notes)


def test_absorbed_fraction_is_of_the_whole_row_mass_including_the_max_term() -> None:
    # 3000 zeros in float16: the row's mass is sum exp(x - max) = 3000. A running sum of ones
    # stops at 2048, so 951 of the 2999 others are absorbed; shifted then absorbs the max's 1
    # too (fl(1 + 2048) = 2048, a tie to even): 952 of 3000, as naive and online (3000 ones).
    # logdomain and lse-direct add the 1 inside log1p, never to the running sum: 951 of 3000
    # (it was 951/2999, a fraction of the others' mass only)
    x = np.zeros((1, 3000))
    for name, absorbed in [("naive", 952), ("shifted", 952), ("online", 952)]:
        assert strict(name, x, "float16").absorbed.tolist() == [absorbed / 3000]
    for name in ("logdomain", "lse-direct"):
        assert strict(name, x, "float16").absorbed.tolist() == [951 / 3000]
    rep = smcheck.analyze(x, dtypes=["float16"], model="strict", methods=["logdomain"])
    assert rep.cells[0].accumulation.max_absorbed.max == 951 / 3000


@pytest.mark.parametrize("model", ["framework", "strict"])
def test_issue5_lse_direct_large_logits_float32(model: str) -> None:
    # logsumexp(1e8, 1e8) = 1e8 + ln 2, but float32 spacing at 1e8 is 8: y rounds to 1e8, so
    # z = x - y = (0, 0) and p = (1, 1); log-domain subtracts the max first: z = -ln 2, exact
    x = np.array([[1e8, 1e8]])
    rep = smcheck.analyze(x, dtypes=["float32"], model=model, methods=["lse-direct", "logdomain"])
    lse, log = rep.cells
    assert lse.probabilities == [[1.0, 1.0]]
    assert lse.verdict.value == "WARN" and lse.metrics.sum_error.max == 1.0
    assert lse.bounds is not None and lse.bounds.reading == "algorithm"
    assert lse.bounds.worst is not None and lse.bounds.worst.bound_u is None  # |y|u >= 1: vacuous
    assert "logdomain" in lse.reasons[0]
    assert log.probabilities == [[0.5, 0.5]]
    assert log.verdict.value == "OK" and log.metrics.error.normwise_u == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_issue5_online_leading_minus_inf_has_no_nan(dtype: str) -> None:
    # p = (0, 1/(1+e), e/(1+e)); the running max is -inf at the first entry
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]])
    expected = [[0.0, 1 / (1 + math.e), math.e / (1 + math.e)], [0.0, 0.0, 1.0]]
    rtol, atol = TOLERANCES[dtype]
    s = strict("online", x, dtype)
    t = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    res = get_method("online").framework(t)
    res.p[:, -1].sum().backward()  # (log(p) of a masked entry is -inf by design: log route)
    for p in (s.p, res.to_output().p):
        assert not np.isnan(p).any()
        np.testing.assert_allclose(p, expected, rtol=4 * rtol, atol=atol)
    assert t.grad is not None and not torch.isnan(t.grad).any()


def test_online_framework_blocks_agree_with_shifted_float64() -> None:
    # 300 columns: three blocks of the single pass; in float64 every route is accurate to ~1e-15
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(0, 5, (4, 300)))
    a = get_method("online").framework(x).to_output().p
    b = get_method("shifted").framework(x).to_output().p
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_issue5_paper_data_float16_overflow_counts_and_no_violations() -> None:
    # Blanchard, Higham & Higham's test data: their fp16 chop run reports 475 rows whose basic
    # (unshifted) log-sum-exp overflows and none for the shifted one (chop_test_softmax.m,
    # higham/logsumexp-softmax-tests). By hand: 471 rows have a logit above ln(65504) = 11.09,
    # 4 more have finite float16 exps whose sum exceeds 65504 + 16 (the overflow threshold).
    path = sample_input("mnist_cnn_presoftmax_2500x10.npy")
    h = get_format("float16").round(np.load(path).astype(np.float64))
    big = h.max(1) > get_format("float16").exp_overflow_x
    with np.errstate(over="ignore"):
        sums = get_format("float16").round(np.exp(h)).sum(1)
    assert (int(big.sum()), int((~big & (sums >= 65520)).sum())) == (471, 4)

    methods = ["naive", "shifted", "logdomain", "lse-direct", "online"]
    rep = smcheck.analyze(path, dtypes=["float16", "bfloat16"], model="strict", methods=methods)
    cells = {(c.method, c.dtype): c for c in rep.cells}
    assert cells[("naive", "float16")].metrics.overflow.rows == 475
    for name in methods[1:]:
        assert cells[(name, "float16")].metrics.overflow.rows == 0
    for c in rep.cells:
        assert c.bounds is not None and c.bounds.violations.rows == 0
        assert c.dtype == "float16" or c.metrics.overflow.rows == 0  # bfloat16: no overflow


@pytest.mark.parametrize("chunk_rows", [1, 7])
def test_strict_results_do_not_depend_on_chunk_size(chunk_rows: int) -> None:
    x = np.load(sample_input("mnist_cnn_presoftmax_2500x10.npy"))[:40]
    x = np.concatenate([x, np.zeros((2, 10)), np.full((1, 10), -np.inf)])
    kw = {"model": "strict", "methods": STRICT, "dtypes": ["float16", "bfloat16"]}
    whole = smcheck.analyze(x, chunk_rows=10_000, **kw).to_dict()
    assert smcheck.analyze(x, chunk_rows=chunk_rows, **kw).to_dict() == whole
