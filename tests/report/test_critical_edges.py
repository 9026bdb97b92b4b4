"""The critical temperatures' edges as every report states them: a safe range below a failing
top (not "every T"), and a safe end rounded up that is not where failure starts."""

from __future__ import annotations

import html
import json
import re

import pytest

from smcheck.errors import ExitCode
from tests.report.test_temperature_report import VLLM, gfm_tables, html_tables, run

NORMAL = ("gen:normal:shape=2x70000", "--dtype", "fp16", "--method", "shifted", "--use", "probs")
NORMAL_T = ("--temperature", "0.5:50:5")
NORMAL_REMEDY = (
    "shifted float16: below T≈7.222e-05 dividing the logits by T overflows float16 -- centre the "
    "logits before dividing ((x - max x) / T), or divide and take the softmax in float32, or "
    "clamp T to >= 7.222e-05; above T≈64.37 the sum of exponentials overflows float16 (a long row "
    "of similar logits) -- accumulate the sum in float32 or use torch.softmax, or clamp T to <= "
    "64.37"
)
NORMAL_ROW = [
    "shifted",
    "float16",
    "7.222e-05, <= 64.37",
    "x/T overflow, nan; sum overflow above",
    "[0]; [1] above",
    "0.007041",
    "[1]",
]


def grid_row(stdout: str, method: str) -> list[str]:
    """The concise verdict grid's row of ``method``: method, dtype, strip, overflow/NaN below T."""
    (row,) = [ln.split(None, 3) for ln in stdout.splitlines() if ln.startswith(f"{method} ")]
    return row


def test_a_failing_top_reads_as_the_safe_range_in_the_verdict_grid() -> None:
    # shifted float16 is OK at all five T and "No findings", but the column read "every T":
    # the sum overflows at the scan's top (1e3) only, x/T below 7.222e-05
    r = run("analyze", *NORMAL, *NORMAL_T)
    assert r.exit_code == ExitCode.OK, r.output
    assert grid_row(r.stdout, "shifted") == [
        "shifted",
        "float16",
        ".....",
        "≈7.222e-05 and above ≈64.37",
    ]
    assert "every T" not in r.stdout
    # naive on 70000 logits of -1: 0/0 below T = 0.0577, the sum overflows above T = 15.07
    const = ("gen:constant:shape=1x70000,value=-1", "--dtype", "fp16", "--method", "naive")
    r = run("analyze", *const, "--use", "probs", "--temperature", "0.5,20,1e-3")
    assert grid_row(r.stdout, "naive") == ["naive", "float16", "F.F", "≈0.05771 and above ≈15.06"]


def test_a_failing_top_reads_as_the_safe_range_in_every_critical_table_and_remedy() -> None:
    # -v said "safe for T >= none (<= 1e+03)" and "at every scanned T the sum of exponentials
    # overflows float16"; JSON min_safe "inf"
    text = " ".join(run("analyze", *NORMAL, *NORMAL_T, "-v").stdout.split())
    assert " ".join(NORMAL_ROW[:5]) in text and f"remedy {NORMAL_REMEDY}" in text
    assert "rounded into the safe range and down where one-hot" in text
    assert "none (<= 1e+03)" not in text and "every scanned T" not in text
    md = run("analyze", *NORMAL, *NORMAL_T, "--format", "markdown").stdout
    critical = gfm_tables(md)[-1]
    assert [html.unescape(re.sub(r"\\(.)", r"\1", c)) for c in critical[-1]] == NORMAL_ROW
    assert f"- **remedy** {NORMAL_REMEDY}" in html.unescape(md.replace("\\", ""))
    page = run("analyze", *NORMAL, *NORMAL_T, "--format", "html").stdout
    assert html_tables(page)[-1][-1] == NORMAL_ROW
    assert html.escape(NORMAL_REMEDY) in page
    # the figure marks the ceiling where the sweep reaches it
    wide = run("analyze", *NORMAL, "--temperature", "0.5:100:5", "--format", "html").stdout
    assert "float16 shifted: unsafe above T≈64.37" in html.unescape(wide)
    (c,) = json.loads(run("analyze", *NORMAL, *NORMAL_T, "--format", "json").stdout)["sources"][0][
        "temperature"
    ]["critical"]
    assert 7.22e-5 < c["min_safe"] < 7.23e-5 and 64.3 < c["max_safe"] < 64.4
    assert (c["causes"], c["min_safe_row"]) == (["temperature_overflow", "nan"], [0])
    assert (c["max_safe_causes"], c["max_safe_row"]) == (["sum_overflow"], [1])
    assert c["advice"] == NORMAL_REMEDY


def test_a_safe_end_rounded_up_is_not_said_to_be_where_failure_starts() -> None:
    # naive float16 on the vLLM row fails below 11.0625 / 11.08984375 = 0.997535 (the hand
    # derivation in tests/analysis/test_temperature.py); the safe end rounded up is 0.9978, but
    # "below T=0.9978 exp(x/T) overflows" was false at T = 0.9976, whose cell is OK
    args = ("analyze", "--values", VLLM, "--dtype", "fp16")
    r = run(*args, "--critical", "--format", "json")
    advice = json.loads(r.stdout)["sources"][0]["temperature"]["critical"][0]["advice"]
    assert advice.startswith(
        "naive float16: below T≈0.9978 exp(x/T) overflows float16 -- use max-shifted softmax or "
        "torch.softmax, or clamp T to >= 0.9978; below T≈0.0001689 they fail too"
    )
    assert grid_row(run(*args, "--critical").stdout, "naive") == [
        "naive",
        "float16",
        "[.]",
        "≈0.9978",
    ]
    cell = run(*args, "--temperature", "0.9976", "--method", "naive", "--use", "probs")
    assert grid_row(cell.stdout, "naive") == ["naive", "OK"]  # no overflow there: safe


def test_the_grid_header_and_the_figure_caption_are_true_of_a_ceiling() -> None:
    # the grid's header read "overflow/NaN below T" over "≈0.05771 and above ≈15.06", and the
    # HTML caption "Solid lines: below this T the method overflows" beside a solid line whose
    # legend reads "unsafe above T≈64.37"
    const = ("gen:constant:shape=1x70000,value=-1", "--dtype", "fp16", "--method", "naive")
    r = run("analyze", *const, "--use", "probs", "--temperature", "0.5,20,1e-3")
    (header,) = [ln for ln in r.stdout.splitlines() if ln.startswith("method ")]
    assert header.endswith("overflow/NaN below T, or above")
    page = html.unescape(
        run("analyze", *NORMAL, "--temperature", "0.5:100:5", "--format", "html").stdout
    )
    assert "float16 shifted: unsafe above T≈64.37" in page
    assert "Solid lines: below this T" not in page
    assert (
        "Solid lines: where the method starts to overflow or give NaN in that format, on the "
        "side its legend entry names (unsafe below or above that T)"
    ) in " ".join(page.split())


NOTHING_JUDGED = {
    "NaN/+inf rows": ("--values", "nan,1;2,inf"),
    "fully masked rows": ("--values", "-inf,-inf;-inf,-inf"),
}


@pytest.mark.parametrize("values", NOTHING_JUDGED.values(), ids=NOTHING_JUDGED.keys())
def test_a_scan_that_judged_no_row_says_so_in_every_report_not_never(
    values: tuple[str, ...],
) -> None:
    # every row kept out: the scan found nothing because it looked at nothing, yet the grid
    # read "never (>= 1e-06)", -v "safe for T >= all (>= 1e-06)" and "one-hot below T all
    # (<= 1e+03)", and JSON min_safe null (safe down to the scan's bottom), one_hot_below "inf"
    args = ("analyze", *values, "--dtype", "fp16", "--method", "naive", "--critical")
    assert grid_row(run(*args).stdout, "naive") == ["naive", "float16", "-", "no row judged"]
    row = ["naive", "float16", "no row judged", "-", "-", "no row judged", "-"]
    text = run(*args, "-v").stdout
    assert " ".join(row) in " ".join(text.split())
    md = run(*args, "--format", "markdown").stdout
    assert gfm_tables(md)[-1][-1] == row
    assert html_tables(run(*args, "--format", "html").stdout)[-1][-1] == row
    for out in (text, md):
        assert "never (>=" not in out and "all (>=" not in out and "all (<=" not in out
    (c,) = json.loads(run(*args, "--format", "json").stdout)["sources"][0]["temperature"][
        "critical"
    ]
    assert c["judged"] is False
    assert (c["min_safe"], c["max_safe"], c["one_hot_below"]) == ("nan", "nan", "nan")
    assert c["advice"] is None and c["causes"] == []


def test_a_scan_with_one_row_to_judge_is_judged() -> None:
    # the NaN row is kept out, the other judged: naive float16 overflows below T ≈ 0.9978
    args = ("--values", f"nan,1,2,3;{VLLM}", "--dtype", "fp16", "--critical")
    r = run("analyze", *args, "--format", "json")
    critical = json.loads(r.stdout)["sources"][0]["temperature"]["critical"]
    assert all(c["judged"] for c in critical)
    assert 0.997 < critical[0]["min_safe"] < 0.998
