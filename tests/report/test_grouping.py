"""Findings grouped by cause across cells, as the concise reports show them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.cli import cli
from smcheck.report import model as rm
from smcheck.report.grouping import group_findings
from smcheck.report.html.page import check_html, report_html
from smcheck.report.markdown import check_markdown, report_markdown
from smcheck.report.renderers import plain_text
from smcheck.report.terminal.check import violation_rows
from smcheck.report.terminal.concise import build_summary
from smcheck.report.violations import INPUT, CheckResult, Severity, Violation
from tests.clirun import invoke
from tests.report.conftest import cell, source

OVERFLOW = rm.Finding("exp-overflow", "FAIL", "exp overflows in 1/2 rows", "use shifted")
MILD = rm.Finding("exp-overflow", "WARN", "exp overflows in 1/1000 rows", "use shifted")
NOTE = rm.Finding("saturation", "NOTE", "top probability rounds to 1", "")


def with_findings(
    method: str, dtype: str, t: float, *found: rm.Finding, hypothetical: bool = False
) -> rm.Cell:
    c = cell(method, rm.Verdict.FAIL if found else rm.Verdict.OK)
    return dataclasses.replace(
        c, dtype=dtype, temperature=t, findings=found, hypothetical=hypothetical
    )


def test_one_group_per_cause_and_severity_with_its_worst_message_and_remedy() -> None:
    worse = rm.Finding("exp-overflow", "FAIL", "exp overflows in 2/2 rows", "use shifted")
    s = source(
        [
            with_findings("naive", "float16", 1.0, MILD, NOTE),
            with_findings("naive", "bfloat16", 1.0, OVERFLOW),
            with_findings("shifted", "bfloat16", 1.0, worse),
            with_findings("shifted", "float16", 1.0),
        ]
    )
    groups = group_findings(s)
    # FAIL, WARN, NOTE: a cell's WARN is not listed under another cell's FAIL of the cause
    assert [(g.cause, g.severity) for g in groups] == [
        ("exp-overflow", "FAIL"),
        ("exp-overflow", "WARN"),
        ("saturation", "NOTE"),
    ]
    g = groups[0]
    assert (g.message, g.remedy) == (worse.message, "use shifted")  # the worst figure, not first
    assert g.cells == (("naive", "bfloat16", 1.0), ("shifted", "bfloat16", 1.0))
    assert g.where == "naive, shifted × bfloat16"  # the whole method × format product
    assert groups[1].where == groups[2].where == "naive × float16"


def test_findings_of_one_cause_from_different_origins_are_separate_groups() -> None:
    # the group's message states its worst finding's origin: naive's NaN gradients (a NaN
    # loss) and shifted's (log(p) at p = 0) on one entry made it false for one of them
    loss = rm.Finding("gradient-nan", "FAIL", "8 NaN in 2/2 rows (the loss is NaN)", "fix", {})
    zero = rm.Finding("gradient-nan", "FAIL", "5 NaN in 1/2 rows (log(p) at p = 0)", "fix", {})
    s = source(
        [
            with_findings(
                "naive", "float16", 1.0, dataclasses.replace(loss, why="the loss is NaN")
            ),
            with_findings(
                "shifted", "float16", 1.0, dataclasses.replace(zero, why="log(p) at p = 0")
            ),
            with_findings(
                "naive", "bfloat16", 1.0, dataclasses.replace(loss, why="the loss is NaN")
            ),
        ]
    )
    groups = group_findings(s)
    assert [(g.where, g.message) for g in groups] == [
        ("naive × float16, bfloat16", loss.message),
        ("shifted × float16", zero.message),
    ]


def test_a_note_of_a_judged_cell_is_not_listed_under_a_comparisons_warning() -> None:
    s = source(
        [
            with_findings("naive", "float16", 1.0, MILD, hypothetical=True),
            with_findings("torch", "float16", 1.0, dataclasses.replace(MILD, severity="NOTE")),
        ]
    )
    groups = group_findings(s)
    assert [(g.severity, g.hypothetical, g.cells[0][0]) for g in groups] == [
        ("NOTE", False, "torch"),
        ("WARN", True, "naive"),
    ]


def test_where_lists_cells_when_not_a_product_and_names_temperatures_of_a_sweep() -> None:
    s = source(
        [
            with_findings("naive", "float16", 0.5, OVERFLOW),
            with_findings("naive", "float16", 1.0, OVERFLOW),
            with_findings("shifted", "float16", 0.5, OVERFLOW),
        ]
    )
    (g,) = group_findings(s)
    assert g.where == "naive float16 T=0.5, 1, shifted float16 T=0.5"
    many = source([with_findings("naive", "float16", t, OVERFLOW) for t in (1, 2, 3, 4, 5, 6, 7)])
    (g,) = group_findings(many)
    assert g.where == "naive × float16 × T=1…7 (7 values)"
    many.cells.append(with_findings("torch", "float32", 1.0, OVERFLOW))
    (g,) = group_findings(many)
    assert g.where == "naive float16 T=1…7 (7 values), torch float32 T=1"
    # a cause at T = 1 only, in a sweep, is not at every T: its T is named
    (g,) = group_findings(source([many.cells[0], with_findings("naive", "float16", 2.0)]))
    assert g.where == "naive × float16 × T=1"
    pairs = [with_findings(m, d, 1.0, OVERFLOW) for m in "abcd" for d in ("f16", "f32")]
    (g,) = group_findings(source(pairs[:-1]))  # 7 of the 8 pairs: not a product
    assert g.where == "a f16, a f32, b f16, b f32, c f16, and 2 more method × format pairs"


def test_causes_of_unselected_cells_only_come_last() -> None:
    s = source(
        [
            with_findings("naive", "float16", 1.0, OVERFLOW, hypothetical=True),
            with_findings("torch", "float16", 1.0, NOTE),
        ]
    )
    groups = group_findings(s)
    assert [(g.cause, g.hypothetical) for g in groups] == [
        ("saturation", False),
        ("exp-overflow", True),
    ]


def test_a_groups_figure_names_the_cell_its_figures_are_for_where_the_cells_messages_differ() -> (
    None
):
    # 11.09 is float16's limit, not bfloat16's: a line spanning both formats names the cell
    # its figure is for, as the terminal's grouped lines do
    f16 = rm.Finding("exp-overflow", "FAIL", "exp overflows for logits above 11.09 in 2/2 rows")
    bf16 = rm.Finding("exp-overflow", "FAIL", "exp overflows for logits above 88.72 in 1/2 rows")
    (g,) = group_findings(
        source(
            [
                with_findings("naive", "bfloat16", 1.0, bf16),
                with_findings("naive", "float16", 0.5, f16),
            ]
        )
    )
    assert g.figure == f"{f16.message} (figures for naive float16 T=0.5)"
    same = source([with_findings("naive", d, 1.0, OVERFLOW) for d in ("float16", "bfloat16")])
    (g,) = group_findings(same)
    assert g.figure == OVERFLOW.message  # true of every cell as it is


def test_markdown_html_and_terminal_tag_whose_figures_a_group_shows_claiming_no_worst() -> None:
    # the tag said "(worst: naive float16)", yet the cell is ranked by its first "up to" only:
    # bfloat16's 900 ulp exceeds the 100 ulp on the line, so nothing on it is called worst
    f16 = rm.Finding("log-error", "WARN", "off by up to 0.9 nats in 2/2 rows (up to 100 ulp)")
    bf16 = rm.Finding("log-error", "WARN", "off by up to 0.5 nats in 2/2 rows (up to 900 ulp)")
    cells = [
        with_findings("naive", "bfloat16", 1.0, bf16),
        with_findings("naive", "float16", 1.0, f16),
    ]
    report = rm.Report([source(cells)], "0+canned")
    figure = f"{f16.message} (figures for naive float16)"
    markdown = report_markdown(report)
    assert f"`log-error` in naive × bfloat16, float16: {figure}." in markdown
    html = report_html(report)
    assert f"<td>{figure}</td>" in html
    terminal = plain_text(build_summary(report), width=200)
    assert f"naive × bfloat16, float16: {figure}" in terminal
    lines = [ln for text in (markdown, html, terminal) for ln in text.splitlines() if figure in ln]
    assert len(lines) == 3 and not any("worst" in ln for ln in lines)


def test_over_a_sweep_every_format_tags_figures_at_t_1_with_their_t() -> None:
    # "(figures for naive float16)" stood for T = 1 in a sweep of T = 1, 1.05: at T = 1, 11.5
    # and 12 overflow float16 (> ln(65504) = 11.09), at T = 1.05 only 12 (11.5/1.05 = 10.95)
    args = ["--values", "1,2,11.5,12", "--dtype", "float16", "--temperature", "1,1.05"]
    for fmt in ("table", "markdown", "html"):
        r = invoke("analyze", *args, "--method", "naive", "--format", fmt)
        assert r.exit_code == 0, r.output
        text = r.stdout.replace("\n  ", " ")
        assert "row (2 elements)" in text and "(figures for naive float16 T=1)" in text, fmt
        assert "(figures for naive float16)" not in text, fmt


def test_a_check_groups_figures_at_t_1_of_a_sweep_name_their_t() -> None:
    f16 = _dead("float16", 63.0, "63 dead gradient elements in 63/64 rows")
    bf16 = _dead("bfloat16", 64.0, "64 dead gradient elements in 60/64 rows")
    swept = source(
        [dataclasses.replace(cell("torch", rm.Verdict.OK), temperature=t) for t in (1, 2)]
    )
    result = CheckResult(rm.Report([swept], "0+canned"), {}, [f16, bf16])
    figure = "64 dead gradient elements in 60/64 rows (figures for torch bfloat16 T=1)"
    ((_, text),) = violation_rows(result, details=False)
    assert text.plain.endswith(f": {figure}")
    assert check_markdown(result).split("| worst |")[1].split("\n\n")[0].endswith(f" {figure} |")


def _dead(dtype: str, value: float, message: str) -> Violation:
    """A ``dead-gradient>=1`` error of torch ``dtype`` in canned.npy."""
    return Violation(
        source="canned.npy",
        path="canned.npy",
        key=None,
        method="torch",
        dtype=dtype,
        temperature=1.0,
        model="torch",
        condition="dead-gradient>=1",
        severity=Severity.ERROR,
        value=value,
        rows=None,
        worst_row=None,
        message=message,
    )


def _check(*violations: Violation) -> tuple[str, str]:
    """check's Markdown and HTML violation tables."""
    result = CheckResult(rm.Report([source([])], "0+canned"), {}, list(violations))
    html = check_html(result).split("Violations by source and condition")[1].split("</table>")[0]
    return check_markdown(result).split("| worst |")[1].split("\n\n")[0], html


def test_check_markdown_and_html_tag_the_largest_values_figures_as_that_cells() -> None:
    # the "worst" column read "torch bfloat16 T=1: 64 dead gradient elements in 60/64 rows":
    # 64 is the largest count, but float16's 63 elements lie in more rows (63/64)
    f16 = _dead("float16", 63.0, "63 dead gradient elements in 63/64 rows")
    bf16 = _dead("bfloat16", 64.0, "64 dead gradient elements in 60/64 rows")
    markdown, html = _check(f16, bf16)
    figure = "64 dead gradient elements in 60/64 rows (figures for torch bfloat16)"
    assert markdown.endswith(f"| torch float16 T=1, torch bfloat16 T=1 | {figure} |")
    assert f"<td>{figure}</td></tr>" in html
    assert "T=1: 64" not in markdown + html
    markdown, html = _check(f16, dataclasses.replace(bf16, message=f16.message))
    assert markdown.endswith(f"| {f16.message} |")  # true of every cell as it is
    assert f"<td>{f16.message}</td></tr>" in html


def test_check_text_shows_the_markdowns_figure_and_the_input_is_tagged_as_such() -> None:
    # the text ranked by its rows ("63/64 rows": float16) where Markdown ranked by the value
    # (bfloat16's 64), and an input violation was tagged "(figures for input float64)"
    f16 = _dead("float16", 63.0, "63 dead gradient elements in 63/64 rows")
    bf16 = _dead("bfloat16", 64.0, "64 dead gradient elements in 60/64 rows")
    result = CheckResult(rm.Report([source([])], "0+canned"), {}, [f16, bf16])
    ((_, text),) = violation_rows(result, details=False)
    assert text.plain.endswith(
        ": 64 dead gradient elements in 60/64 rows (figures for torch bfloat16)"
    )
    upstream = dataclasses.replace(bf16, method=INPUT, dtype="float64", value=99.0, message="x")
    markdown, _ = _check(f16, upstream)
    assert markdown.endswith("| x (figures for the input) |")


def test_check_html_names_no_cell_before_the_message_of_one_cell_as_markdown() -> None:
    # HTML read "torch float16 T=1: 63 dead ..." where the cells column names the one cell
    markdown, html = _check(_dead("float16", 63.0, "63 dead gradient elements in 63/64 rows"))
    assert markdown.endswith("| torch float16 T=1 | 63 dead gradient elements in 63/64 rows |")
    assert "<td>torch float16 T=1</td><td>63 dead gradient elements in 63/64 rows</td>" in html


# [1000, 0, -1] / 0.01: x/T = 1e5 overflows float16 (65504) but not bfloat16..float64. naive
# float16 NaNs from the cast and takes its shift in float32; naive bfloat16..float64 NaN from
# exp(1e5) and take the shift alone; shifted, logdomain and torch float16 compute in float32
HOT = ["--values", "1000,0,-1", "--temperature", "0.01", "--no-progress"]


def _run(*args: str) -> str:
    """``smcheck ARGS`` piped 80 columns wide (as the README's and the goldens' runs): stdout."""
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "80"})
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def test_a_grouped_line_names_the_cells_its_remedy_is_for_where_the_cells_remedies_differ() -> None:
    # the line told naive bfloat16..float64 to compute "in float32", float16's remedy alone
    text = _run("analyze", *HOT)
    assert (
        "[FAIL] probability-nan  naive × float16..float64 at T=0.01: 1 probability NaN in\n"
        "  1/1 row (inf/inf: 1) -- for naive × float16: use max-shifted softmax or\n"
        "  torch.softmax, in float32 (-v: 1 more fix)\n"
    ) in text
    # the T the line names is not named again; the count counts every remedy left out
    assert (
        "[FAIL] gradient-nan  naive × float16..float64; shifted, logdomain × float16 at\n"
        "  T=0.01: 3 gradient elements are NaN in 1/1 row (the loss is NaN there) -- for\n"
        "  naive, shifted × float16: use log_softmax / cross_entropy on the logits\n"
        "  instead of log(softmax), in float32 (-v: 2 more fixes)\n"
    ) in text
    # where every cell takes the one remedy the line is as it was
    assert (
        "[FAIL] probability-nan  shifted, logdomain × float16 at T=0.01: 3 probabilities\n"
        "  NaN in 1/1 row (inf-inf: 3) -- compute the softmax in float32\n"
    ) in text
    # the fix left out is -v's: each remedy on a line of its own cells
    details = _run("analyze", *HOT, "-v").replace("\n  ", " ")
    assert (
        "[FAIL] probability-nan  naive × bfloat16..float64 at T=0.01: 1 probability NaN in "
        "1/1 row (inf/inf: 1) -- use max-shifted softmax or torch.softmax\n"
    ) in details


def test_causes_whose_remedy_is_for_other_cells_do_not_share_a_line() -> None:
    # loss-nan and gradient-nan hit the same cells with naive float16's remedy first, but
    # shifted float16 takes it for its gradient only ("compute the softmax and loss in
    # float32" for its loss): one line "for naive × float16" was false of one of them
    text = _run("analyze", *HOT).replace("\n  ", " ")
    assert "[FAIL] loss-nan, gradient-nan  naive" not in text
    assert (
        "[FAIL] loss-nan  naive × float16..float64; shifted, logdomain × float16 at T=0.01: "
        "the cross-entropy loss is NaN in 1/1 row -- for naive × float16: use log_softmax / "
        "cross_entropy on the logits instead of log(softmax), in float32 (-v: 2 more fixes)\n"
    ) in text


def test_a_line_states_no_remedy_for_a_cell_that_has_none() -> None:
    fixed = rm.Finding("exp-overflow", "FAIL", "exp overflows in 1/2 rows", "use shifted")
    bare = dataclasses.replace(fixed, remedy="")
    cells = [with_findings("naive", "float16", 1.0, fixed), with_findings("naive", "x", 1.0, bare)]
    text = plain_text(build_summary(rm.Report([source(cells)], "0+canned")), width=200)
    assert "exp overflows in 1/2 rows -- for naive × float16: use shifted\n" in text
    (g,) = group_findings(source(cells))
    assert g.remedies == [("naive × float16", "use shifted")]


def test_markdown_and_html_give_each_remedy_with_the_cells_it_is_for() -> None:
    markdown = _run("analyze", *HOT, "--format", "markdown")
    assert (
        "- **FAIL** `probability-nan` in naive × float16, bfloat16, float32, float64 × T=0.01 "
        "(not selected): 1 probability NaN in 1/1 row (inf/inf: 1). Fix for naive × float16: "
        "use max-shifted softmax or torch.softmax, in float32. Fix for naive × bfloat16, "
        "float32, float64: use max-shifted softmax or torch.softmax\n"
    ) in markdown
    assert (  # one remedy for every cell: as it was
        "(not selected): 3 probabilities NaN in 1/1 row (inf-inf: 3). "
        "Fix: compute the softmax in float32\n"
    ) in markdown
    html = _run("analyze", *HOT, "--format", "html")
    assert (
        "<td>1 probability NaN in 1/1 row (inf/inf: 1)</td><td>for naive × float16: use "
        "max-shifted softmax or torch.softmax, in float32<br>for naive × bfloat16, float32, "
        "float64: use max-shifted softmax or torch.softmax</td>"
    ) in html
    assert "<td>3 probabilities NaN in 1/1 row (inf-inf: 3)</td><td>compute the softmax in " in html


def test_check_names_the_cells_a_grouped_violations_remedy_is_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.array([[1000.0, 0.0, -1.0]]))
    args = ["check", "x.npy", "--isolated", "--temperature", "0.01", "--fail-on", "nan,fail"]
    args += ["--method", "naive,shifted,logdomain,torch"]
    text = _run(*args)
    # shifted float16's "compute the softmax in float32" stood for naive float16 and the
    # naive bfloat16..float64 cells too (they take the shift, float16 in float32)
    assert (
        "ERROR nan  x.npy  7 cells of every method × float16..float64 at T=0.01: 3 NaN\n"
        "  probabilities in 1/1 row, row [0] (figures for shifted float16 T=0.01) -- for\n"
        "  shifted, logdomain, torch × float16: compute the softmax in float32\n"
        "  (-v: 2 more fixes)\n"
    ) in text
    # a verdict level states its cell's fixes among its findings: the tag claims them too
    assert (
        text.replace("\n  ", " ")
        .split("ERROR fail  x.npy")[1]
        .split("\n")[0]
        .endswith("in float32 (figures and fixes for naive float16 T=0.01; -v: each cell's)")
    )
    markdown = _run(*args, "--format", "markdown")
    assert (
        "| 3 NaN probabilities in 1/1 row, row \\[0\\] (figures for shifted float16 T=0.01) -- "
        "for shifted, logdomain, torch × float16: compute the softmax in float32 "
        "(--format json: 2 more fixes) |"
    ) in markdown
    html = _run(*args, "--format", "html")
    assert "torch × float16: compute the softmax in float32 (--format json: 2 more fixes)" in html
    doc = json.loads(_run(*args, "--format", "json"))
    fixes = {(v["method"], v["dtype"], v["condition"]): v["remedy"] for v in doc["violations"]}
    assert fixes["naive", "float16", "nan"] == (
        "use max-shifted softmax or torch.softmax, in float32"
    )
    assert fixes["naive", "bfloat16", "nan"] == "use max-shifted softmax or torch.softmax"
    assert fixes["naive", "bfloat16", "fail"] == (
        "use max-shifted softmax or torch.softmax; "
        "use log_softmax / cross_entropy on the logits instead of log(softmax)"
    )


def test_a_check_group_whose_figures_agree_and_remedies_differ_tags_no_figures() -> None:
    f16 = dataclasses.replace(
        _dead("float16", 3.0, "3 dead -- in float32"), remedy="in float32", method="naive"
    )
    bf16 = dataclasses.replace(f16, dtype="bfloat16", message="3 dead -- in float64")
    bf16 = dataclasses.replace(bf16, remedy="in float64")
    markdown, html = _check(f16, bf16)
    figure = "3 dead -- for naive × float16: in float32 (--format json: 1 more fix)"
    assert markdown.endswith(f"| {figure} |") and f"<td>{figure}</td></tr>" in html
    result = CheckResult(rm.Report([source([])], "0+canned"), {}, [f16, bf16])
    ((_, text),) = violation_rows(result, details=False)
    # the count is one word to the terminal's wrapping (NBSP), printed as spaces
    tail = "(-v: 1 more fix)".replace(" ", "\xa0")
    assert text.plain.endswith(f": 3 dead -- for naive × float16: in float32 {tail}")


def test_a_check_group_whose_worst_cell_has_no_fix_claims_none_and_counts_the_others() -> None:
    # "(figures and fixes for torch float64; -v: each cell's)" claimed fixes of a cell with
    # none and did not count the others' (normwise-error>0.5 on LLM logits, torch float64)
    f64 = dataclasses.replace(_dead("float64", 9.0, "9 dead"), remedy="")
    f16 = dataclasses.replace(_dead("float16", 3.0, "3 dead -- in float32"), remedy="in float32")
    result = CheckResult(rm.Report([source([])], "0+canned"), {}, [f64, f16])
    ((_, text),) = violation_rows(result, details=False)
    tail = "(-v: 1 more fix)".replace(" ", "\xa0")
    assert text.plain.endswith(f": 9 dead (figures for torch float64) {tail}")
    assert "fixes for" not in text.plain
