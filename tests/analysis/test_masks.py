"""Non-finite input (DESIGN §9): upstream NaN/+inf rows, -inf masks, fully masked rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from smcheck import analyze
from smcheck.cli import cli
from smcheck.errors import ExitCode
from smcheck.report.model import Verdict
from tests.conftest import DTYPES

ISSUE_VALUES = "1,2,3;-inf,0,1;-inf,-inf,-inf;nan,1,2;inf,1,2"
METHODS = ["naive", "shifted", "logdomain", "torch"]


@pytest.fixture(scope="module")
def issue_case() -> dict:
    # forward metrics only: the log(softmax) gradient of row 1 is NaN at its -inf mask (0/0), a
    # finding of the gradient check (tests/analysis/test_gradients.py), not of the excluded rows
    args = ["analyze", "--values", ISSUE_VALUES, "--no-gradients", "--format", "json"]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == ExitCode.OK, r.output
    return json.loads(r.stdout)["sources"][0]


def test_issue8_input_counts(issue_case: dict) -> None:
    i = issue_case["input"]
    # by hand: row 3 has one NaN, row 4 one +inf; -inf: 1 in row 1 + 3 in row 2
    assert (i["nan"], i["posinf"], i["neginf"]) == (1, 1, 4)
    assert i["fully_masked_rows"] == 1 and i["fully_masked_first_row"] == [2]
    assert i["upstream_rows"] == 2 and i["upstream_first_row"] == [3]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_issue8_no_method_is_charged_for_upstream_or_masked_rows(
    issue_case: dict, method: str, dtype: str
) -> None:
    (c,) = [c for c in issue_case["cells"] if (c["method"], c["dtype"]) == (method, dtype)]
    m = c["metrics"]
    assert m["rows_checked"] == 2  # rows 0 and 1; rows 2 (all -inf), 3 (NaN), 4 (+inf) are out
    assert m["nan"]["elements"] == 0 and m["overflow"]["elements"] == 0
    assert m["log_nonfinite"]["elements"] == 0  # the -inf mask's log p = -inf is exact
    assert c["verdict"] == "OK", c["reasons"]
    # the masked row (-inf, 0, 1) is analysed normally: p = (0, 1/(1+e), e/(1+e))
    p = c["probabilities"][1]
    assert p[0] == 0.0
    exact = [1 / (1 + np.e), np.e / (1 + np.e)]
    np.testing.assert_allclose(
        p[1:], exact, rtol=2 * 2.0 ** -{"float16": 11, "bfloat16": 8}.get(dtype, 23)
    )
    assert c["fully_masked_output"] == {"rows": 1, "nan": 1, "zeros": 0, "other": 0}


def test_issue8_findings_name_the_rows_and_the_remedy(issue_case: dict) -> None:
    found = {f["kind"]: f for f in issue_case["input"]["findings"]}
    assert list(found) == ["upstream", "fully_masked"]
    up = found["upstream"]
    assert up["severity"] == "FAIL"
    assert up["message"].startswith(
        "2 rows hold NaN or +inf before any softmax runs (1 NaN, 1 +inf"
    )
    assert "first row [3]" in up["message"]
    fm = found["fully_masked"]
    assert fm["severity"] == "WARN"
    assert fm["message"].startswith(
        "1 fully masked row (every logit -inf; row [2]): naive, shifted, logdomain and "
        "torch return NaN for it"
    )
    assert "masked softmax that returns zeros" in fm["message"]


def test_fully_masked_output_is_what_torch_really_returns() -> None:
    # not assumed: torch 2.x CPU returns NaN for an all -inf row from softmax and log_softmax,
    # while scaled_dot_product_attention's internal safe softmax gives zeros
    row = torch.full((1, 3), float("-inf"))
    assert torch.isnan(torch.softmax(row, -1)).all()
    r = analyze(np.array([[0.0, 1, 2], [-np.inf] * 3]), methods=["torch"], dtypes=["float32"])
    out = r.cells[0].fully_masked_output
    expected_nan = int(torch.isnan(torch.softmax(row, -1)).all())
    expected_zero = int((torch.softmax(row, -1) == 0).all())
    assert out is not None and (out.rows, out.nan, out.zeros) == (1, expected_nan, expected_zero)


def test_summary_line_and_verdict_count_input_findings() -> None:
    r = CliRunner().invoke(
        cli,
        ["analyze", "--values", ISSUE_VALUES, "--no-gradients", "--fail-on", "fail", "-v"],
        catch_exceptions=False,
    )
    # every cell is OK, but the upstream NaN/+inf rows are a FAIL of the input
    assert r.exit_code == ExitCode.FINDINGS, r.output
    # torch in 4 formats is counted; naive, shifted, logdomain are comparisons
    assert "4 cells: 0 FAIL, 0 WARN, 4 OK; input: 1 FAIL, 1 WARN" in r.stderr
    assert "Input findings" in r.stdout and "FAIL 2 rows hold NaN or +inf" in r.stdout
    assert "excluded rows   2 with NaN/+inf from upstream (first [3])" in r.stdout


def test_clean_input_has_no_input_findings() -> None:
    src = analyze(np.array([[0.5, 1.0, -2.0]]), dtypes=["float32"]).sources[0]
    assert src.input.findings == [] and src.input.sentinels == []
    assert src.verdict is Verdict.OK


def test_rows_masked_by_the_cast_are_a_finding_and_the_cells_nan() -> None:
    # -7e4 is finite in float32 but beyond float16's max 65504 (and the -65520 midpoint): the
    # row becomes all -inf in float16 only
    x = np.array([[-7e4, -7e4, -7.1e4], [0.0, 1.0, 2.0]])
    src = analyze(x, dtypes=["float16", "float32"]).sources[0]
    became = {
        (b.dtype, b.temperature, b.masks): (b.rows, b.first_row)
        for b in src.input.became_fully_masked
    }
    assert became == {
        ("float16", None, False): (1, (0,)),
        ("float16", None, True): (0, None),  # a row of logits, not of masks
        ("float32", None, False): (0, None),
        ("float32", None, True): (0, None),
    }
    for c in src.cells:
        # in float32 the row is finite and naive's exp(-7e4) underflows: 0/0, its own fault; in
        # float16 the cast masks it and every method returns NaN there: the cell's own NaN too
        naive32 = (c.method, c.dtype) == ("naive", "float32")
        # in float16 every method returns NaN for a row of finite logits: the cell's NaN, FAIL
        fp16 = c.dtype == "float16"
        assert c.metrics.nan.elements == (3 if naive32 or fp16 else 0), c
        if fp16:
            assert c.metrics.nan.causes == {"fully masked row": 3}
            assert c.findings[0].cause == "masked-row-nan" and c.verdict.value == "FAIL"
            assert c.findings[0].message.startswith(
                "every logit of a row rounds to -inf in float16"
            )
        expected = (1, 1) if c.dtype == "float16" else (0, 0)
        assert (c.fully_masked_output.rows, c.fully_masked_output.nan) == expected
        assert c.metrics.rows_checked == (1 if c.dtype == "float16" else 2)
    (f,) = [f for f in src.input.findings if f.kind == "became_fully_masked"]
    assert f.severity == "WARN" and f.dtype == "float16" and f.temperature is None
    # no mask in this input: range, not masking, made the row -inf
    assert f.message.startswith("1 row becomes entirely -inf in float16 (every logit is at or")


def test_rows_masked_by_the_temperature_are_a_finding_and_the_cells_nan() -> None:
    # -4e4 / 0.5 = -8e4 overflows float16 to -inf in both entries: the row dies only at T=0.5
    x = np.array([[-4e4, -4e4], [0.0, 1.0]])
    src = analyze(x, dtypes=["float16"], temperatures=[1, 0.5]).sources[0]
    became = {(b.dtype, b.temperature, b.masks): b.rows for b in src.input.became_fully_masked}
    assert became == {
        ("float16", None, False): 0,
        ("float16", None, True): 0,
        ("float16", 0.5, False): 1,
        ("float16", 0.5, True): 0,
    }
    by_t = {c.temperature: c for c in src.cells if c.method == "shifted"}
    assert by_t[0.5].metrics.nan.elements == 2 and by_t[0.5].metrics.rows_checked == 1
    assert (
        by_t[0.5]
        .findings[0]
        .message.startswith(
            "every logit of a row is -inf in float16 once divided by T=0.5; the output is NaN"
        )
    )
    assert by_t[1.0].metrics.rows_checked == 2
    (f,) = [f for f in src.input.findings if f.kind == "became_fully_masked"]
    assert "float16 at T=0.5" in f.message and f.temperature == 0.5


# the mask findings only: the critical temperatures and the gradients have chunk tests with
# masked rows of their own (tests/analysis/test_temperature.py, test_gradients.py)
MASKED_KW = {"temperatures": [1, 0.5], "gradients": False, "critical": False}


@pytest.fixture(scope="module")
def masked_rows() -> tuple[np.ndarray, dict]:
    """Rows with -inf, NaN, inf and overflowing entries, and their report in one chunk."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(12, 6)) * 4
    x[1] = -np.inf
    x[4, 2] = np.nan
    x[6, :3] = -np.inf
    x[7] = -7e4
    x[9, 0] = np.inf
    x[10] = -np.inf
    return x, analyze(x, chunk_rows=100, **MASKED_KW).to_dict()


@pytest.mark.parametrize("chunk_rows", [1, 2, 5])
def test_mask_findings_do_not_depend_on_chunk_size(
    masked_rows: tuple[np.ndarray, dict], chunk_rows: int
) -> None:
    x, whole = masked_rows
    assert analyze(x, chunk_rows=chunk_rows, **MASKED_KW).to_dict() == whole


def test_issue8_signalling_nan_in_a_file_is_counted_not_raised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # found by the CLI fuzzer: float32 bits 0x7F800001 are a signalling NaN, and casting it to
    # float64 raised numpy's "invalid value encountered in cast" (an error under -W error)
    x = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]], np.float32)
    x.view(np.uint32)[1, 0] = 0x7F800001
    np.save(tmp_path / "snan.npy", x)
    r = CliRunner().invoke(
        cli, ["analyze", str(tmp_path / "snan.npy"), "--format", "json"], catch_exceptions=False
    )
    assert r.exit_code == ExitCode.OK, r.output
    i = json.loads(r.stdout)["sources"][0]["input"]
    assert (i["nan"], i["upstream_rows"], i["upstream_first_row"]) == (1, 1, [1])


def _safe_softmax(x: torch.Tensor):  # type: ignore[no-untyped-def]
    """A masked softmax that returns zeros for fully masked rows (what SDPA does inside)."""
    from smcheck.methods.framework import TorchResult

    dead = torch.isneginf(x).all(-1, keepdim=True)
    p = torch.where(dead, torch.zeros_like(x), torch.softmax(x, -1))
    return TorchResult(p, torch.where(dead, torch.full_like(x, float("-inf")), torch.log(p)))


def test_a_method_returning_zeros_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    from smcheck.methods import METHODS, SoftmaxMethod

    safe = SoftmaxMethod("safe", "zeros for fully masked rows", "log(p)", _safe_softmax)
    monkeypatch.setitem(METHODS, "safe", safe)
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf], [-np.inf, -np.inf]])
    src = analyze(x, methods=["safe", "shifted"], dtypes=["float32", "float16"]).sources[0]
    outs = {(c.method, c.dtype): c.fully_masked_output for c in src.cells}
    assert (outs[("safe", "float32")].zeros, outs[("safe", "float32")].nan) == (2, 0)
    assert (outs[("shifted", "float16")].zeros, outs[("shifted", "float16")].nan) == (0, 2)
    (f,) = src.input.findings
    assert f.severity == "WARN"  # shifted still returns NaN
    assert "safe returns zeros and shifted returns NaN for them" in f.message
    only_safe = analyze(x, methods=["safe"], dtypes=["float32"]).sources[0]
    (f,) = only_safe.input.findings
    assert f.severity == "INFO" and "safe returns zeros for them" in f.message
    assert only_safe.verdict is Verdict.OK


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_the_neginf_mask_is_isneginfs_with_or_without_a_nan(dtype: torch.dtype) -> None:
    # a chunk without -inf skips isneginf on its minimum; a NaN makes the minimum NaN, which
    # must not hide a -inf beside it
    from smcheck.analysis.masks import _neginf

    inf, nan = float("inf"), float("nan")
    for rows in ([[1, 2], [3, 4]], [[1, -inf], [3, 4]], [[nan, -inf], [3, 4]], [[nan, 1], [3, 4]]):
        xs = torch.tensor(rows, dtype=dtype)
        got = _neginf(xs)
        assert got.dtype == bool and np.array_equal(got, torch.isneginf(xs).numpy()), rows
    assert _neginf(torch.empty((2, 0), dtype=dtype)).shape == (2, 0)


def _padded_scores(fill: float) -> np.ndarray:
    """(4, 8, 8) float16 causal-style attention scores whose batch 0 has 4 padded query rows
    filled entirely with ``fill``; the causal entries hold -65504 (finfo(float16).min)."""
    rng = np.random.default_rng(0)
    s = rng.normal(0, 2, (4, 8, 8)).astype(np.float32)
    s[:, np.triu(np.ones((8, 8), bool), 1)] = -65504
    s[0, 4:] = fill
    return s.astype(np.float16)


def test_rows_of_mask_values_only_are_fully_masked_rows(tmp_path: Path) -> None:
    # a padded query row of finfo.min was never reported: fully_masked_rows 0, no finding, and
    # `check` passed, while the same rows as -inf failed `fully-masked`; torch.softmax gives
    # such a row no NaN but its whole weight on the masked keys, 1/8 each
    x = _padded_scores(-65504)
    p = torch.softmax(torch.from_numpy(x[0, 4:]), -1)
    assert torch.equal(p, torch.full_like(p, 1 / 8))
    np.save(tmp_path / "f16min_full.npy", x)
    r = CliRunner().invoke(
        cli,
        ["analyze", str(tmp_path / "f16min_full.npy"), "--format", "json"],
        catch_exceptions=False,
    )
    src = json.loads(r.stdout)["sources"][0]
    i = src["input"]
    assert (i["fully_masked_rows"], i["fully_masked_sentinel_rows"]) == (4, 4)
    assert i["fully_masked_first_row"] == [0, 4]
    (f,) = [f for f in i["findings"] if f["kind"] == "fully_masked"]
    assert f["severity"] == "WARN"
    assert f["message"].startswith(
        "4 fully masked rows (every entry a mask value; first row [0,4]): the softmax gives no "
        "NaN there but spreads each row's weight uniformly over its masked keys (1/8 each): "
    )
    assert "shifted, logdomain and torch return that weight" in f["message"]
    # finite, so still judged: torch's 1/8 is exact, naive's 0/0 NaN its own FAIL
    cells = {(c["method"], c["dtype"]): c for c in src["cells"]}
    assert cells[("torch", "float16")]["metrics"]["rows_checked"] == 32
    assert cells[("torch", "float16")]["verdict"] == "OK"
    assert cells[("naive", "float16")]["metrics"]["nan"]["rows"] == 4
    r = CliRunner().invoke(
        cli, ["check", str(tmp_path / "f16min_full.npy")], catch_exceptions=False
    )
    assert r.exit_code == ExitCode.FINDINGS, r.output
    assert "4 rows fully masked in the input (every entry a mask value), first row [0,4]" in (
        r.stdout.replace("\n  ", " ")
    )


@pytest.mark.parametrize("fill", ["-1e9", "-inf"])
def test_a_row_of_mask_values_warns_as_a_row_of_neginf_does(fill: str) -> None:
    # --values "1,2,3;-1e9,-1e9,-1e9" --dtype fp32 said "No findings"; with -inf a WARN
    args = ["analyze", "--values", f"1,2,3;{fill},{fill},{fill}", "--dtype", "fp32"]
    r = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    i = json.loads(r.stdout)["sources"][0]["input"]
    assert (i["fully_masked_rows"], i["fully_masked_first_row"]) == (1, [1])
    assert i["fully_masked_sentinel_rows"] == (fill != "-inf")
    (f,) = i["findings"]
    assert (f["kind"], f["severity"]) == ("fully_masked", "WARN")
    if fill != "-inf":
        assert "spreads its weight uniformly over its masked keys (1/3 each)" in f["message"]


def test_a_row_of_mask_values_names_the_formats_its_weight_is_returned_in() -> None:
    # review: "naive returns NaN and shifted, logdomain and torch return that weight for it",
    # unqualified, beside "row becomes fully masked in float16 ... return NaN for it": -1e9 is
    # -inf in float16, so the uniform weight holds in bfloat16..float64 only
    values = "1,2,-1e9,-1e9;-1e9,-1e9,-1e9,-1e9;0.5,3,1,-1e9"

    def findings(*dtypes: str) -> list[dict]:
        args = ["analyze", "--values", values, "--no-gradients", "--format", "json"]
        args += [a for d in dtypes for a in ("--dtype", d)]
        r = CliRunner().invoke(cli, args, catch_exceptions=False)
        return json.loads(r.stdout)["sources"][0]["input"]["findings"]

    kinds = [f["kind"] for f in findings()]
    assert kinds.index("fully_masked") < kinds.index("became_fully_masked")  # "below" holds
    (f,) = [f for f in findings() if f["kind"] == "fully_masked"]
    assert (
        "naive returns NaN and shifted, logdomain and torch return that weight for it "
        "in bfloat16..float64 (float16: below) -- "
    ) in f["message"]
    (f,) = [f for f in findings("fp16", "bf16") if f["kind"] == "fully_masked"]
    assert "return that weight for it in bfloat16 (float16: below) -- " in f["message"]
    # every format keeps the row finite: nothing to qualify
    (f,) = [f for f in findings("bf16", "fp32") if f["kind"] == "fully_masked"]
    assert "return that weight for it -- " in f["message"]
    # float16 alone: no format returns that weight; the became finding says what they return
    (f,) = [f for f in findings("fp16") if f["kind"] == "fully_masked"]
    assert f["severity"] == "INFO"
    assert "no method ran on it (it becomes fully masked in float16) -- " in f["message"]


def test_mask_value_rows_are_fully_masked_whatever_the_chunking() -> None:
    # rows of one mask value in several chunks, of different lengths of finite entries (-inf
    # beside), the first of them after an all -inf row; row 3 mixes two mask values: logits
    x = np.zeros((6, 4))
    x[1] = -np.inf
    x[2] = -1e9
    x[3] = [-1e9, -1e4, -np.inf, -1e9]
    x[5] = [-1e9, -1e9, -np.inf, -1e9]
    kw = {"dtypes": ["float32"], "gradients": False}
    whole = analyze(x, chunk_rows=6, **kw).sources[0].input
    assert (whole.fully_masked_rows, whole.fully_masked_sentinel_rows) == (3, 2)
    assert whole.fully_masked_first_row == (1,)
    (f,) = [f for f in whole.findings if "mask value" in f.message]
    assert "(every entry a mask value; first row [2])" in f.message
    assert "spreads each row's weight uniformly over its masked keys: " in f.message  # 4 and 3
    for chunk_rows in (1, 2, 4):
        assert analyze(x, chunk_rows=chunk_rows, **kw).sources[0].input == whole


def test_rows_of_logits_near_a_mask_value_are_logits_not_fully_masked(tmp_path: Path) -> None:
    # review 40j: sequence log-likelihood scores -1e4 + 10 N(0,1), each within 2^-6 of the -1e4
    # mask, read as "3 fully masked rows (every entry a mask value)", a WARN, and left out of the
    # metrics; each row's softmax is sharply peaked and meaningful
    x = -10000 + 10 * np.random.default_rng(0).normal(size=(3, 6))
    p = torch.softmax(torch.from_numpy(x), -1)
    assert (p.max(-1).values > 0.5).all()
    np.save(tmp_path / "B.npy", x)
    args = ["analyze", str(tmp_path / "B.npy"), "--dtype", "float32", "--dtype", "float64"]
    r = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    src = json.loads(r.stdout)["sources"][0]
    i = src["input"]
    assert (i["fully_masked_rows"], i["fully_masked_sentinel_rows"], i["sentinels"]) == (0, 0, [])
    assert i["findings"] == []
    for c in src["cells"]:
        assert c["metrics"]["rows_checked"] == 3
    assert cell_of(src, "torch", "float64")["verdict"] == "OK"
    # the torch cells judge every entry: float64's probabilities are torch's own
    assert "fully masked" not in CliRunner().invoke(cli, args, catch_exceptions=False).stdout


def cell_of(src: dict, method: str, dtype: str) -> dict:
    (c,) = [c for c in src["cells"] if (c["method"], c["dtype"]) == (method, dtype)]
    return c
