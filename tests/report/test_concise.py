"""The concise default report: findings grouped by cause, compact cell names, selection marks."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console
from rich.text import Text

import smcheck
from smcheck.report import model as rm
from smcheck.report.phrases import num, unbroken
from smcheck.report.renderers import plain_text
from smcheck.report.terminal.cellspan import Axes, span
from smcheck.report.terminal.concise import build_summary, input_line
from smcheck.report.terminal.findinglines import Lines, group_findings, weight
from smcheck.report.terminal.tables import build_tables
from tests.clirun import invoke
from tests.conftest import sample_input

from .conftest import cell, source

AXES = Axes(["naive", "shifted", "logdomain", "torch"], ["float16", "bfloat16", "float32"], [1.0])


def test_span_names_methods_sharing_formats_together() -> None:
    keys = [(m, d, 1.0) for m in ("naive", "shifted") for d in AXES.dtypes]
    assert span(keys, AXES) == "naive, shifted × float16..float32"
    keys += [("torch", "float16", 1.0)]
    assert span(keys, AXES) == "naive, shifted × float16..float32; torch × float16"


def test_span_names_temperature_runs_and_falls_back_to_a_counted_envelope() -> None:
    temps = [0.1, 0.2, 0.5, 1.0, 2.0]
    axes = Axes(["naive", "torch"], ["float16"], temps)
    assert span([("naive", "float16", t) for t in (0.1, 0.2, 2.0)], axes) == (
        "naive × float16 at T=0.1..0.2, 2"
    )
    scattered = [
        (m, d, t) for m in AXES.methods for d in AXES.dtypes for t in (0.1, 0.5, 2.0) if d != "x"
    ]
    axes = Axes(AXES.methods, AXES.dtypes, temps)
    assert span(scattered, axes) == "36 cells of every method × float16..float32 at T=0.1..2"
    # cells at every T of the sweep are not at one of them: the envelope still names T
    every = [(m, d, t) for m in AXES.methods for d in AXES.dtypes[:2] for t in temps][1:]
    assert span(every, axes) == "39 cells of every method × float16, bfloat16 at T=0.1..2"


def test_a_grouped_line_over_a_sweep_names_the_temperatures_its_cells_span() -> None:
    # "FAIL exp-overflow, probability-nan  4 cells of naive × float16..float32:" left T out,
    # yet its cells lie at both T: at T=1 only float16 overflows (12 > ln(65504) = 11.09), at
    # T=0.05 x/T = 20, 40, 60, 240 does in float16 (4 elements) and 240 > 88.72 in the others
    r = invoke("analyze", "--values", "1,2,3,12", "--temperature", "0.05,1", "--method", "naive")
    assert r.exit_code == 0, r.output
    text = r.stdout.replace("\n  ", " ")
    assert (
        "FAIL exp-overflow, probability-nan  4 cells of naive × float16..float32 at T=0.05..1: "
        "exp overflows for x/T above 11.0902 in 1/1 row (4 elements); "
    ) in text


def test_a_run_of_temperatures_is_a_numeric_range_whatever_order_they_were_given_in() -> None:
    # "at T=0.5..0.001" (the order typed: 0.5, 2, 1e-3) read as leaving T=2 out, which fails
    # too: 70000 equal logits overflow float16's row sum at every T
    args = ["gen:constant:shape=1x70000,value=3", "--dtype", "fp16", "--method", "torch"]
    r = invoke("analyze", *args, "--temperature", "0.5,2,1e-3")
    assert r.exit_code == 0, r.output
    text = r.stdout.replace("\n  ", " ")
    assert "torch × float16 at T=0.001..2:" in text and "T=0.5..0.001" not in text


def test_the_worst_hit_is_the_one_with_most_rows_then_the_largest_count() -> None:
    assert weight("exp overflows above 11.09 in 4/4 rows (8449 elements)") > weight(
        "exp overflows above 88.72 in 4/4 rows (786 elements)"
    )
    assert weight("1 element in 3/4 rows") > weight("900 elements in 2/4 rows")
    assert weight("normwise error 32.6u exceeds 16u") > weight("on row [40] error 17.5u")


def test_of_equal_rows_the_worst_figure_outweighs_a_larger_constant() -> None:
    def stall(fmt: str, pct: float, stops: int) -> str:
        return (
            f"the running {fmt} sum stalled in 1/1 row: up to {pct}% of a row's mass was added "
            f"(a sequential {fmt} sum of equal terms stops at {stops})"
        )

    assert weight(stall("bfloat16", 94.9, 256)) > weight(stall("float16", 59.0, 2048))


def finding(cause: str, severity: str, message: str, remedy: str = "fix it") -> rm.Finding:
    return rm.Finding(cause, severity, message, remedy)


def with_findings(c: rm.Cell, *found: rm.Finding, hypothetical: bool = False) -> rm.Cell:
    return dataclasses.replace(
        c,
        findings=found,
        reasons=tuple(f.sentence(c.method) for f in found),
        hypothetical=hypothetical,
    )


def report(*cells: rm.Cell) -> rm.Report:
    return rm.Report([source(list(cells))], "0+canned")


def test_one_line_per_cause_naming_every_cell_and_the_worst() -> None:
    nan = [
        finding("gradient-nan", "FAIL", "5 gradient elements NaN in 1/2 rows"),
        finding("gradient-nan", "FAIL", "8 gradient elements NaN in 2/2 rows"),
    ]
    cells = [
        with_findings(cell("naive", rm.Verdict.FAIL), nan[0]),
        with_findings(cell("shifted", rm.Verdict.FAIL), nan[1]),
    ]
    text = plain_text(build_summary(report(*cells)), width=80)
    line = next(ln for ln in text.splitlines() if ln.startswith("FAIL"))
    assert line.startswith("FAIL gradient-nan  naive, shifted × float16: 8 gradient elements")
    assert "(figures for shifted float16) -- fix it" in text.replace("\n  ", " ")
    assert text.count("gradient-nan") == 1


def test_a_line_of_several_causes_tags_their_shared_cell_once_else_each_cause() -> None:
    # over a sweep "exp overflows ... (worst: naive float16 T=0.1); 209 probabilities NaN ...
    # (worst: naive float16 T=0.1)" repeated one tag: it now stands once, at the line's end
    def at(t: float, over: int, nan: int) -> rm.Cell:
        c = dataclasses.replace(cell("naive", rm.Verdict.FAIL), temperature=t)
        return with_findings(
            c,
            finding("exp-overflow", "FAIL", f"exp overflows in 2/2 rows ({over} elements)"),
            finding("probability-nan", "FAIL", f"{nan} probabilities NaN in 2/2 rows"),
        )

    def fail_line(*cells: rm.Cell) -> str:
        text = plain_text(build_summary(report(*cells)), width=300)
        return next(ln for ln in text.splitlines() if ln.startswith("FAIL"))

    assert fail_line(at(0.1, 9, 7), at(1.0, 3, 2)).endswith(
        "exp overflows in 2/2 rows (9 elements); 7 probabilities NaN in 2/2 rows "
        "(figures for naive float16 T=0.1) -- fix it"
    )
    # the causes' most severe cells differ: each cause names its own
    assert fail_line(at(0.1, 9, 2), at(1.0, 3, 7)).endswith(
        "exp overflows in 2/2 rows (9 elements) (figures for naive float16 T=0.1); "
        "7 probabilities NaN in 2/2 rows (figures for naive float16 T=1) -- fix it"
    )


def test_a_grouped_line_never_states_an_origin_false_for_some_of_its_cells() -> None:
    # naive's NaN gradients come from a NaN loss, shifted's from log(p) at p = 0: one line
    # "naive, shifted × float16: ... (the loss is NaN there)" was false for shifted
    loss = dataclasses.replace(
        finding("gradient-nan", "FAIL", "8 gradient elements NaN in 2/2 rows (the loss is NaN)"),
        why="the loss is NaN",
    )
    zero = dataclasses.replace(
        finding("gradient-nan", "FAIL", "5 gradient elements NaN in 1/2 rows (log(p) at p = 0)"),
        why="log(p) at p = 0",
    )
    cells = [
        with_findings(cell("naive", rm.Verdict.FAIL), loss),
        with_findings(cell("shifted", rm.Verdict.FAIL), zero),
    ]
    text = plain_text(build_summary(report(*cells)), width=120)
    lines = [ln for ln in text.splitlines() if ln.startswith("FAIL")]
    assert lines == [
        "FAIL gradient-nan  naive × float16: 8 gradient elements NaN in 2/2 rows "
        "(the loss is NaN) -- fix it",
        "FAIL gradient-nan  shifted × float16: 5 gradient elements NaN in 1/2 rows "
        "(log(p) at p = 0) -- fix it",
    ]


def test_notes_are_counted_not_listed_and_other_fixes_are_counted() -> None:
    cells = [
        with_findings(
            cell("naive", rm.Verdict.WARN),
            finding("dead-gradient", "WARN", "1 dead in 1/2 rows", "use log_softmax"),
            finding("underflow", "NOTE", "lost mass 1e-40"),
        ),
        with_findings(
            cell("torch", rm.Verdict.WARN),
            finding(
                "dead-gradient",
                "WARN",
                "1 dead in 1/2 rows",
                "compute the softmax and loss in float32",
            ),
        ),
    ]
    text = plain_text(build_summary(report(*cells)), width=80)
    assert "lost mass" not in text and "underflow" not in text
    assert "-v/--details shows 1 note, 1 more fix, every table" in text


def test_the_notes_counted_are_the_note_lines_details_prints() -> None:
    # "-v/--details shows 23 notes" counted cell × finding pairs, where -v printed 8 lines
    lost = finding("underflow", "NOTE", "lost mass 1e-40")
    cells = [
        with_findings(cell("naive", rm.Verdict.OK), lost),
        with_findings(cell("shifted", rm.Verdict.OK), lost),
        with_findings(cell("torch", rm.Verdict.OK), lost, finding("saturation", "NOTE", "p = 1")),
    ]
    summary = plain_text(build_summary(report(*cells)), width=100)
    details = plain_text(build_tables(report(*cells)), width=100)
    assert [ln for ln in details.splitlines() if ln.startswith("NOTE")] == [
        "NOTE underflow  naive, shifted, torch × float16: lost mass 1e-40 -- fix it",
        "NOTE saturation  torch × float16: p = 1 -- fix it",
    ]
    assert "-v/--details shows 2 notes, every table" in summary


def test_a_hypothetical_cell_is_shown_bracketed_and_never_counted() -> None:
    cells = [
        with_findings(
            cell("naive", rm.Verdict.FAIL),
            finding("exp-overflow", "FAIL", "exp overflows in 1/2 rows"),
            hypothetical=True,
        ),
        cell("torch", rm.Verdict.OK),
    ]
    r = report(*cells)
    assert r.verdict is rm.Verdict.OK
    lines = plain_text(build_summary(r), width=80).splitlines()
    assert next(ln for ln in lines if ln.startswith("naive")).split() == ["naive", "[FAIL]"]
    assert any(ln.startswith("[FAIL] exp-overflow  naive × float16") for ln in lines)
    (g,) = group_findings(cells, {"FAIL"}, by_remedy=False)
    assert g.hypothetical


def test_the_header_says_what_is_judged_and_why() -> None:
    s = dataclasses.replace(
        source([cell("torch", rm.Verdict.OK)]), use="probs", use_reason="-inf masks: attention"
    )
    text = plain_text(build_summary(rm.Report([s], "0+canned")), width=80)
    assert "use probs (-inf masks: attention): judges probabilities" in text
    assert "No findings: every cell is OK." in text


def test_the_source_line_moves_its_shape_to_a_line_of_its_own_rather_than_cut_it() -> None:
    from rich.console import Console

    from smcheck.report.terminal.concise import SourceLine

    line = SourceLine("logits/segmentation.npy", "[2, 5, 16, 16] float32, dim 1: 512 rows of 5")
    whole = "logits/segmentation.npy  [2, 5, 16, 16] float32, dim 1: 512 rows of 5"

    def shown(width: int) -> list[str]:
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(line)
        return console.export_text().splitlines()

    assert shown(len(whole)) == [whole]
    assert shown(len(whole) - 1) == [
        "logits/segmentation.npy",
        "  [2, 5, 16, 16] float32, dim 1: 512 rows of 5",
    ]


def test_a_source_name_wider_than_the_line_breaks_after_a_slash_never_mid_name() -> None:
    # at 80 columns the default report and -v cut ".../and_another_level/atten" + "tion_..."
    folder = "data/a_very_long_directory_name_for_testing_wrapping/and_another_level/"
    name = folder + "attention_scores_of_layer_twelve_head_three.npy"
    r = rm.Report([source([cell("torch", rm.Verdict.OK)], name=name)], "0+canned")
    for build in (build_summary, build_tables):
        lines = plain_text(build(r), width=80).splitlines()
        assert lines[:2] == [folder, "attention_scores_of_layer_twelve_head_three.npy"], build
    site = "encoder.layers.0.self_attn:scaled_dot_product_attention in float32 (models.py:25)"
    r = rm.Report([source([cell("torch", rm.Verdict.OK)], name=site)], "0+canned")
    assert plain_text(build_summary(r), width=40).splitlines()[:3] == [
        "encoder.layers.0.self_attn:",
        "scaled_dot_product_attention in float32",
        "(models.py:25)",
    ]


@pytest.mark.parametrize("width", [24, 30, 41, 80])
@pytest.mark.parametrize(
    "body",
    [
        "exp overflows for logits above 11.09 in 471/2500 rows (472 elements)",
        "key\tname and a tab, then words enough to wrap",
        "first line\nsecond line, long enough to wrap at the narrow widths",
        "averyveryverylongwordthatmustfoldacrossthelinesbecausenothingbreaksit then words",
        "double  spaces  kept   between   words  that  wrap",
    ],
)
def test_wrapped_lines_keep_every_character_within_the_width(body: str, width: int) -> None:
    console = Console(width=width, record=True, color_system=None)
    console.print(Lines([(Text("FAIL"), Text(body))]))
    lines = console.export_text().splitlines()
    assert all(len(ln.rstrip()) <= width for ln in lines)
    assert all(ln.startswith("  ") and ln[2] != " " for ln in lines[1:])  # indented, no blank
    got = "".join("".join(ln.split()) for ln in lines)  # every character but white space
    assert got == "".join(("FAIL " + body.expandtabs()).split())


def test_a_table_number_has_no_negative_zero() -> None:
    # a loss -log(1) is -0.0: printed as 0, as every other zero
    assert (num(-0.0), num(0.0), num(-1e-30), num(2.5, ".2f")) == ("0", "0", "-1e-30", "2.50")


def test_a_wrapped_line_keeps_words_joined_by_nbsp_together_and_prints_a_space() -> None:
    body = f"57 -inf; {unbroken('1 fully masked')} ({unbroken('row [0,0]')})"
    console = Console(width=20, record=True, color_system=None)
    console.print(Lines([(Text("input "), Text(body))]))
    assert [ln.rstrip() for ln in console.export_text().splitlines()] == [
        "input  57 -inf;",
        "  1 fully masked",
        "  (row [0,0])",
    ]


def test_the_input_line_keeps_a_count_with_its_noun_and_names_one_fully_masked_row() -> None:
    # at 80 columns it wrapped "57 -inf; 1" / "fully masked (first [0,0])"
    s = smcheck.analyze(sample_input("masked_rows.npy"), dtypes=["float32"]).sources[0]
    console = Console(width=80, record=True, color_system=None)
    console.print(input_line(s))
    assert [ln.rstrip() for ln in console.export_text().splitlines()] == [
        "input  range -7.37961..4.95379; max logsumexp 4.97137 (row [0,2]); 57 -inf;",
        "  1 fully masked (row [0,0])",
    ]


def test_the_details_input_table_names_one_fully_masked_row_row_not_first() -> None:
    from smcheck.report.terminal.tables import input_summary

    s = smcheck.analyze(sample_input("masked_rows.npy"), dtypes=["float32"]).sources[0]
    console = Console(width=100, record=True, color_system=None)
    console.print(input_summary(s))
    assert "0 with NaN/+inf from upstream, 1 fully masked (row [0,0])" in console.export_text()


@pytest.mark.parametrize(
    ("values", "inputs"),
    [("nan,nan,nan;nan,1,2", "input: 1 FAIL"), ("-inf,-inf;-inf,-inf", "input: 1 WARN")],
)
def test_cells_of_an_input_whose_every_row_is_kept_out_read_not_judged(
    values: str, inputs: str
) -> None:
    # every row NaN upstream (or fully masked) is kept out of the method metrics, yet the grid
    # read OK in every cell and the summary "4 cells: 0 FAIL, 0 WARN, 4 OK": nothing was judged
    r = invoke("analyze", "--values", values)
    assert r.exit_code == 0, r.output
    grid = [ln.split()[1:] for ln in r.stdout.splitlines() if ln.startswith(("naive", "torch"))]
    assert grid == [["[-]"] * 4, ["-"] * 4]
    assert "-: no row judged (every row kept out of the metrics: see the input findings)" in (
        r.stdout
    )
    assert f"4 cells: 0 FAIL, 0 WARN, 0 OK, 4 not judged; {inputs}" in r.stderr
    assert "max logsumexp -;" in r.stdout  # no row to name: not "(row -)"
    swept = invoke("analyze", "--values", values, "--temperature", "0.5,1", "--method", "torch")
    strips = [ln.split()[2] for ln in swept.stdout.splitlines() if ln.startswith("torch")]
    assert strips == ["--"] * 4, swept.stdout


def test_a_cast_overflow_fail_on_no_judged_row_keeps_its_verdict() -> None:
    # every row holds a logit float16 turns into +inf: no row is judged there, but the cell has
    # its cast-overflow FAIL, which is a finding, not "not judged"
    r = invoke("analyze", "--values", "1e5,1;1e5,2", "--method", "torch", "--dtype", "fp16")
    assert r.exit_code == 0, r.output
    assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith("torch")] == [
        ["torch", "FAIL"]
    ]
    assert "no row judged" not in r.stdout
    assert "1 cell: 1 FAIL, 0 WARN, 0 OK" in r.stderr and "not judged" not in r.stderr


def test_the_details_of_an_input_whose_every_row_is_kept_out_agree_with_the_summary() -> None:
    # -v said "0 cells OK, 16 not judged" (the comparisons counted too) beside the summary's
    # "4 cells: ... 4 not judged", and its input table "max logsumexp - (row -)"
    r = invoke("analyze", "--values", "nan,nan;nan,1", "-v")
    assert r.exit_code == 0, r.output
    assert "0 cells OK, 4 not judged." in r.stdout
    assert "4 cells: 0 FAIL, 0 WARN, 0 OK, 4 not judged" in r.stderr
    assert "(row -)" not in r.stdout
