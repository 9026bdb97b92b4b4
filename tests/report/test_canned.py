"""The renderers on canned reports: JSON contract, Markdown and the terminal tables."""

from __future__ import annotations

import dataclasses
import io
import json

from rich.console import Console

from smcheck.report import model as rm
from smcheck.report.json import to_json
from smcheck.report.markdown import report_markdown
from smcheck.report.phrases import plural, row_index
from smcheck.report.terminal.tables import build_tables

from .conftest import cell, metrics


def render(report: rm.Report) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    for r in build_tables(report):
        console.print(r)
    return out.getvalue()


def test_json_keeps_the_contract(fail_report: rm.Report) -> None:
    doc = json.loads(to_json(fail_report))
    assert doc["schema_version"] == rm.SCHEMA_VERSION
    assert doc["summary"] == {
        "verdict": "FAIL",
        "cells": {"OK": 1, "WARN": 0, "FAIL": 1},
        "comparisons": {"OK": 0, "WARN": 0, "FAIL": 0},
    }
    naive = doc["sources"][0]["cells"][0]
    assert naive["verdict"] == "FAIL" and naive["metrics"]["nan"]["worst_row"] == [0]


def test_markdown_names_the_failing_cell(fail_report: rm.Report) -> None:
    text = report_markdown(fail_report)
    assert text.startswith("## smcheck: FAIL\n")
    assert "1 source, 2 cells: 1 FAIL, 0 WARN, 1 OK" in text
    # the verdict grid: methods down, formats across
    assert "| method | float16 |" in text
    assert "| naive | **FAIL** |" in text and "| shifted | OK |" in text


def test_terminal_tables_show_verdicts_and_findings(
    ok_report: rm.Report, fail_report: rm.Report
) -> None:
    assert "No findings: every cell is OK." in render(ok_report)
    text = render(fail_report)
    assert "2 rows of length 4" in text and "(row [0])" in text
    assert "FAIL exp-overflow  naive × float16: exp overflows -- use max-shifted" in text


def test_the_faults_overflow_column_counts_the_casts_overflow_as_check_does(
    fail_report: rm.Report,
) -> None:
    # a logit the cast turns into +inf (cast_overflow, its rows not judged) read "0" in the
    # Faults table's overflow column beside the cell's cast-overflow FAIL, while the Formats
    # table's "cast ±inf" and check's overflow condition count it
    (s,) = fail_report.sources
    naive, shifted = s.cells
    cast = rm.Count(3, 1, (1,))
    shifted = dataclasses.replace(
        shifted, metrics=dataclasses.replace(shifted.metrics, cast_overflow=cast)
    )
    assert shifted.metrics.overflow_with_cast == cast
    both = dataclasses.replace(naive.metrics, cast_overflow=cast).overflow_with_cast
    assert both == rm.Count(naive.metrics.overflow.elements + 3, 2, (1,))
    report = rm.Report([dataclasses.replace(s, cells=[naive, shifted])], "0+canned")
    faults = render(report).split("Faults (elements/rows)")[1].splitlines()
    row = next(ln.split() for ln in faults if ln.strip().startswith("shifted"))
    assert row[:4] == ["shifted", "float16", "OK", "3/1r"]


def test_the_formats_tables_overflow_room_is_named_for_the_sum_of_exp(
    fail_report: rm.Report,
) -> None:
    # the room is ln(the first value that rounds to +inf) - the worst row's logsumexp: "overflow
    # room" beside "exp overflows >" read as the room of the largest exp (eight 10s in float16:
    # -0.989 nats, while exp(10) is finite)
    formats = render(fail_report).split("Formats")[1].split("Faults")[0]
    header = next(ln for ln in formats.splitlines() if "room" in ln)
    assert "exp overflows >" in header and "sum overflow room" in header
    assert header.count("overflow room") == 1
    row = next(ln.split() for ln in formats.splitlines() if ln.strip().startswith("float16"))
    assert row[:4] == ["float16", "1", "11.0902", "-1.5"]


def test_a_cell_with_reasons_but_no_findings_is_never_reported_clean(
    fail_report: rm.Report,
) -> None:
    (s,) = fail_report.sources
    bare = [dataclasses.replace(c, findings=()) for c in s.cells]
    text = render(rm.Report([dataclasses.replace(s, cells=bare)], "0+canned"))
    assert "No findings" not in text
    assert "naive float16: exp overflows" in text


def test_under_softmin_every_renderer_says_the_input_figures_are_of_minus_x(
    ok_report: rm.Report,
) -> None:
    # the range, logsumexp and non-finite counts are the analysed values, -x under softmin:
    # "range -3..0" read as the logits' (0..3), and markdown said neither softmin nor -x
    from smcheck.report.html.page import report_html
    from smcheck.report.renderers import plain_text
    from smcheck.report.terminal.concise import build_summary

    (s,) = ok_report.sources
    neg = dataclasses.replace(s.input, min=-3.0, max=-0.0)  # -x of logits 0..3
    report = rm.Report([dataclasses.replace(s, softmin=True, input=neg)], "0+canned")
    assert "input -x  range -3..0;" in plain_text(build_summary(report), width=80)
    details = render(report)
    assert "range of -x           -3 .. 0" in details
    assert "non-finite of -x      0 NaN, 0 +inf, 0 -inf (masks)" in details
    md = report_markdown(report)
    assert "softmin over dim -1 (softmax(-x)): 2 rows" in md
    assert "input of -x: range -3 to 0, max logsumexp" in md  # 0, not -0
    page = report_html(report)
    assert "<td>input range of -x</td><td>-3 … 0</td>" in page
    assert "<td>non-finite input of -x</td>" in page
    # the logits themselves: no -x anywhere
    plain = [render(ok_report), report_markdown(ok_report), report_html(ok_report)]
    assert all(" -x" not in text for text in plain)
    assert "input  range -3..12;" in plain_text(build_summary(ok_report), width=80)


def test_under_softmin_the_shape_row_says_softmin_over_dim(ok_report: rm.Report) -> None:
    # the -v input table's shape row (and the HTML page's) said "softmax over dim" of a softmin
    # source, whose rows line says "softmin: analysing -x"
    from smcheck.report.html.page import report_html

    (s,) = ok_report.sources
    report = rm.Report([dataclasses.replace(s, softmin=True)], "0+canned")
    assert "[2, 4]  (source dtype float32, softmin over dim -1)" in render(report)
    assert "<td>[2, 4], softmin over dim -1: 2 rows of length 4</td>" in report_html(report)
    assert "(source dtype float32, softmax over dim -1)" in render(ok_report)


def test_phrases() -> None:
    assert [plural(1, "row"), plural(2, "row"), plural(2, "entry"), plural(2, "day")] == [
        "1 row",
        "2 rows",
        "2 entries",
        "2 days",
    ]
    assert plural(1234567.0, "element") == "1.23457e+06 elements"
    assert plural(3, "probability", "probabilities") == "3 probabilities"
    assert (row_index(None), row_index(()), row_index((2, 0))) == ("-", "[]", "[2,0]")


def test_a_cell_that_judged_no_row_reads_not_judged_in_every_grid_but_a_finding_keeps_its_verdict(
    fail_report: rm.Report,
) -> None:
    # torch judged no row (every row NaN upstream, kept out of the metrics) and found nothing:
    # every grid read "OK" and the summary "... 1 OK", a claim that the method is fine on an
    # input where nothing was judged. naive's FAIL on no judged row (a cast overflow) stays.
    from smcheck.report.html.page import report_html
    from smcheck.report.renderers import plain_text
    from smcheck.report.terminal.concise import build_summary

    legend = "-: no row judged (every row kept out of the metrics: see the input findings)"
    (s,) = fail_report.sources
    naive = dataclasses.replace(s.cells[0], metrics=metrics(rows=0))
    idle = cell("torch", rm.Verdict.OK, rows=0)
    report = rm.Report([dataclasses.replace(s, cells=[naive, s.cells[1], idle])], "0+canned")
    assert report.summary() == "1 source, 3 cells: 1 FAIL, 0 WARN, 1 OK, 1 not judged"
    concise = plain_text(build_summary(report), width=80).splitlines()
    assert [ln.split() for ln in concise if ln.startswith(("naive", "torch"))] == [
        ["naive", "FAIL"],
        ["torch", "-"],
    ]
    assert legend in concise
    details = render(report)
    assert details.count(legend) == 1
    rows = [ln.split()[:3] for ln in details.splitlines() if ln.strip().startswith("torch")]
    assert rows[0] == ["torch", "-"] and rows[1] == ["torch", "float16", "-"]
    md = report_markdown(report)
    assert "| torch | - |" in md and "| naive | **FAIL** |" in md and "| shifted | OK |" in md
    assert f"_{legend}_" in md
    page = report_html(report)
    assert page.count('<span class="v NA">-</span>') == 1 and legend in page
    # JSON keeps its enum: the cell's verdict is OK, rows_checked 0 says it judged nothing
    doc = json.loads(to_json(report))
    torch = doc["sources"][0]["cells"][2]
    assert (torch["verdict"], torch["metrics"]["rows_checked"]) == ("OK", 0)
    assert doc["summary"]["cells"] == {"OK": 2, "WARN": 0, "FAIL": 1}


def test_without_findings_a_report_of_cells_that_judged_no_row_says_so(
    ok_report: rm.Report,
) -> None:
    # "No findings: every cell is OK." of a source whose one cell judged no row
    (s,) = ok_report.sources
    idle = rm.Report([dataclasses.replace(s, cells=[cell("shifted", rm.Verdict.OK, rows=0)])], "x")
    assert "No findings: 0 cells OK, 1 not judged." in render(idle)
    assert "No findings: every cell is OK." in render(ok_report)
