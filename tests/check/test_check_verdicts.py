"""``check`` and ``analyze`` agree on what users compute (issue 13: cases 1, 2, 3 and 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.check.policy import DEFAULT_FAIL_ON, Policy, parse_policy
from smcheck.cli import cli
from smcheck.findings.remedytexts import MASKED_SATURATION


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, x: np.ndarray, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", x)
    return CliRunner().invoke(cli, [args[0], "x.npy", *args[1:]])


def test_case1_all_nan_logits_fail_check_and_analyze(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan = np.full((3, 4), np.nan, dtype=np.float32)
    fast = ("--dtype", "fp32", "--method", "torch")
    r = _run(tmp_path, monkeypatch, nan, "check", "--isolated", *fast, "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["summary"]["passed"] is False
    # one problem, one violation: `fail` reads the input findings but leaves out the one the
    # met `input` condition reports
    assert [(v["method"], v["condition"]) for v in doc["violations"]] == [("input", "input")]
    for level in ("warn", "input"):
        r = CliRunner().invoke(cli, ["check", "x.npy", "--isolated", *fast, "--fail-on", level])
        assert r.exit_code == 1, (level, r.output)
    r = CliRunner().invoke(cli, ["analyze", "x.npy", *fast, "--fail-on", "fail", "--no-progress"])
    assert r.exit_code == 1 and "No findings" not in r.stdout


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["--fail-on", "fail", "--warn-on", "input"], [("fail", "error"), ("input", "warning")]),
        (["--fail-on", "warn", "--warn-on", "input"], [("warn", "error"), ("input", "warning")]),
        (["--fail-on", "fail,input", "--warn-on", "warn"], [("input", "error")]),
    ],
    ids=["input-as-warning", "level-warn", "input-as-error"],
)
def test_an_input_condition_met_as_a_warning_hides_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], kept: list[tuple[str, str]]
) -> None:
    # the dedupe drops a level's copy of an input finding only where an input condition of the
    # same or a stricter list reports it: never turning an error into a warning (or a pass)
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    fast = ("--dtype", "fp32", "--method", "torch", "--format", "json")
    r = _run(tmp_path, monkeypatch, x, "check", "--isolated", *fast, *args)
    doc = json.loads(r.stdout)
    assert [(v["condition"], v["severity"]) for v in doc["violations"]] == kept
    assert r.exit_code == 1


def test_case2_check_fails_on_the_nan_of_a_row_float16_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.random.default_rng(2).normal(0, 2, (3, 5)).astype(np.float32)
    x[1, 3:] = -1e9
    x[2] = -1e9  # masked entirely: -inf in float16, where torch returns NaN
    args = ("check", "--isolated", "--method", "torch", "--dtype", "fp16", "--fail-on", "nan")
    r = _run(tmp_path, monkeypatch, x, *args)
    assert r.exit_code == 1, r.output
    # of 3 rows: the masked row 2, not in rows_checked (2), is in the count and so in the total
    assert "nan  x.npy  torch × float16: 5 NaN probabilities in 1/3 rows" in r.stdout


def test_a_row_masked_in_the_input_fails_the_default_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.array([[1.0, 2.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    r = _run(tmp_path, monkeypatch, x, "check", "--isolated", "--dtype", "fp32")
    assert r.exit_code == 1, r.output
    assert "fully-masked" in r.stdout and "1 row fully masked in the input" in r.stdout
    # the message names the input, and nothing names a cell at the source's format and T=1
    line = " ".join(r.stdout.split("\n\n")[0].split())
    assert line.startswith("ERROR fully-masked x.npy 1 row fully masked in the input"), line
    assert "T=1" not in line and "float32" not in line
    assert DEFAULT_FAIL_ON == ("fail", "input", "fully-masked")


def test_under_softmin_input_conditions_name_the_logits_minus_inf_and_plus_inf_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # softmin's masks are +inf logits (-inf in -x) and its -inf is upstream (+inf in -x): the
    # input conditions said "NaN or +inf (0 NaN, 1 +inf)" of a -inf logit and "every logit -inf"
    # of a row of +inf masks, as analyze's input findings no longer do
    inf = np.inf
    x = np.array([[1.0, 2.0, 3.0], [inf, inf, inf], [-inf, 0.0, 1.0]])
    args = (
        "check",
        "--isolated",
        "--softmin",
        "--fail-on",
        "input,fully-masked",
        "--format",
        "json",
    )
    r = _run(tmp_path, monkeypatch, x, *args, "--dtype", "fp32", "--method", "torch")
    assert r.exit_code == 1, r.output
    got = {v["condition"]: v["message"] for v in json.loads(r.stdout)["violations"]}
    assert got["input"].startswith(
        "1 row with NaN or -inf in the input before any softmax (0 NaN, 1 -inf, +inf in -x), "
        "row [2] -- "
    )
    assert got["fully-masked"].startswith(
        "1 row fully masked in the input (every logit +inf, -inf in -x), row [1] -- "
    )


def test_under_softmin_a_remedy_no_finding_gives_reads_plus_inf_logits_as_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gradient-error>=0 is met by every cell with gradients; torch float64 has no dead-gradient
    # finding here (-x = [-1, -2, -3, -inf] and [-3, -1, -2, -800] lose no gradient), so its
    # remedy came from the registry as of an unmasked source: "curb over-confident logits"; the
    # +inf logit is softmin's mask, and a saturated row of a masked source is not over-confidence
    # (p = e^-799 rounds to 0 in float64: the exact p underflows, so curbing confidence is
    # offered)
    x = np.array([[1.0, 2.0, 3.0, np.inf], [3.0, 1.0, 2.0, 800.0]])
    args = ("check", "--isolated", "--softmin", "--use", "loss", "--fail-on", "gradient-error>=0")
    fast = ("--dtype", "fp64", "--method", "torch", "--format", "json")
    r = _run(tmp_path, monkeypatch, x, *args, *fast)
    assert r.exit_code == 1, r.output
    (v,) = json.loads(r.stdout)["violations"]
    assert v["message"].endswith(" -- " + MASKED_SATURATION)


def test_a_remedy_no_finding_gives_is_not_over_confidence_where_no_exact_p_saturates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [3, 1, 2, 0] in float64: no p rounds to 1 or to 0, and the gradient error (1.1e-16) is
    # rounding; the registry's dead-gradient remedy was "curb over-confident logits", false here
    x = np.array([[3.0, 1.0, 2.0, 0.0]])
    args = ("check", "--isolated", "--use", "loss", "--fail-on", "gradient-error>=0")
    fast = ("--dtype", "fp64", "--method", "torch", "--format", "json")
    r = _run(tmp_path, monkeypatch, x, *args, *fast)
    assert r.exit_code == 1, r.output
    (v,) = json.loads(r.stdout)["violations"]
    assert v["message"].startswith("gradient error ") and " -- " not in v["message"]
    assert v["remedy"] == ""


def test_case4_hypothetical_cells_never_fail_a_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.array([[1.0, 2.0, 3.0, 12.0]])  # naive float16 overflows; torch does not
    r = _run(tmp_path, monkeypatch, x, "check", "--isolated", "--dtype", "fp16", "--fail-on", "nan")
    assert r.exit_code == 0, r.output
    assert "(1 cell checked)" in r.stdout
    named = CliRunner().invoke(
        cli, ["check", "x.npy", "--isolated", "--dtype", "fp16", "--method", "naive,torch"]
    )
    assert named.exit_code == 1


def test_case3_a_policy_sets_the_use_and_the_gradients() -> None:
    p = parse_policy({"use": "probs", "gradients": False}, "config 'x'", Path("."))
    cfg = p.analysis_config()
    assert (cfg.use, cfg.gradients) == ("probs", False)
    assert p.to_dict(cfg)["use"] == "probs"
    assert Policy().analysis_config().use == "auto"
    with pytest.raises(Exception, match="expected one of probs, logprobs, loss or auto"):
        parse_policy({"use": "weights"}, "config 'x'", Path("."))
