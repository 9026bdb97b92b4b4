"""The temperature section: rendering within 100 columns, Markdown tables, JSON fields, CLI
options, progress."""

from __future__ import annotations

import html
import io
import json
import math
import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from rich.console import Console

from smcheck import analyze
from smcheck.analysis.engine import analyze_array
from smcheck.cli import cli
from smcheck.config import AnalysisConfig
from smcheck.errors import ExitCode
from smcheck.report.html.page import report_html
from smcheck.report.markdown import report_markdown
from smcheck.report.model import Report
from smcheck.report.phrases import bisected_t, swept_digits, swept_t
from smcheck.report.renderers import plain_text
from smcheck.report.temperaturetables import sweep_rows
from smcheck.report.terminal.concise import build_summary
from smcheck.report.terminal.tables import build_tables
from smcheck.report.terminal.temperature import bar
from smcheck.sources.loaders import array_source

VLLM = "11.0625,2.875,2.955,-2.45"


def render(report: Report) -> str:
    console = Console(
        width=100, file=io.StringIO(), color_system=None, legacy_windows=False, _environ={}
    )
    for r in build_tables(report):
        console.print(r)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_bar_draws_eighths() -> None:
    assert bar(0.0, 4) == "    "
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██  "
    assert bar(1 / 32, 4) == "▏   "  # 1/32 of 4 cells = one eighth of a cell
    assert bar(2.0, 4) == "████"  # clipped


def test_temperature_section_fits_100_columns_and_names_the_remedies() -> None:
    temps = [0.0001, 0.01, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 5, 10]
    report = analyze([[11.0625, 2.875, 2.955, -2.45]], temperatures=temps)
    raw = render(report)
    for line in raw.splitlines():
        assert len(line) <= 100, line
    text = "\n".join(line.rstrip() for line in raw.splitlines())
    # the verdict table holds all 11 temperatures (split in parts, keys repeated, where narrower)
    assert "Verdicts by temperature T" in text
    parts = text.split("Verdicts by temperature T (2/2)")
    naive16 = [
        line.split()[2:]
        for part in parts
        for line in part.split("Entropy vs")[0].splitlines()
        if line.split()[:2] == ["naive", "float16"]
    ]
    # naive float16 overflows below T = 0.9973 and is safe from T = 1 up (1, 1.5, 2 here); at T = 1
    # its log(softmax) gradient loses the target's -5.8e-4 (computed 0: a dead gradient, but
    # within 4u = 1.95e-3 of the gradient's scale 1, so a NOTE and the cell is OK)
    assert sum(naive16, [])[:9] == ["[FAIL]"] * 6 + ["[OK]"] * 3  # a comparison: bracketed
    assert "Entropy vs temperature" in text and "ln(4) = 1.39 nats" in text
    assert "Critical temperatures" in text
    # shifted, logdomain and torch share one float16 remedy line
    assert "remedy shifted, logdomain, torch float16: below T≈0.0001689" in text.replace("\n", " ")
    assert "centre the" in text and "max-shifted softmax" in text


def test_a_split_critical_table_states_its_legend_once_and_a_blank_line_ends_the_remedies() -> None:
    # at 70 columns the table parts in two: "safe: no overflow ..." stood under each part, and
    # the last "remedy ..." line ran into the "Gradients of -log p[target]" title below it
    report = analyze([[11.0625, 2.875, 2.955, -2.45]], temperatures=[0.05, 1])
    text = plain_text(build_tables(report), width=70)
    section = text.split("Critical temperatures (1/2)")[1]
    assert "Critical temperatures (2/2)" in section
    assert text.count("safe: no overflow") == 1
    assert section.index("safe: no overflow") > section.index("Critical temperatures (2/2)")
    lines = section.splitlines()
    title = next(k for k, ln in enumerate(lines) if ln.startswith("Gradients of"))
    assert lines[title - 1] == "" and "clamp T to >=" in lines[title - 2]


def test_single_temperature_table_has_no_temperature_section() -> None:
    text = "\n".join(line.rstrip() for line in render(analyze([[1.0, 2, 3]])).splitlines())
    assert "Entropy vs temperature" not in text and "Critical temperatures" not in text
    assert "Verdicts\n" in text


def test_critical_flag_adds_the_section_for_one_temperature() -> None:
    text = render(analyze([[1.0, 2.0, 30.0]], dtypes=["float16"], critical=True))
    assert "Critical temperatures" in text and "Entropy vs temperature" in text


def gfm_tables(text: str) -> list[list[list[str]]]:
    """Every table of a Markdown text as rows of cells, split on its unescaped pipes."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        previous = line
    return tables


def two_class_entropy(z: float) -> float:
    """Entropy of softmax([z, 0]) in nats: log(1 + e^-z) + z p1, with p1 = 1 / (1 + e^z)."""
    return math.log1p(math.exp(-z)) + z / (1 + math.exp(z))


def test_markdown_has_the_temperature_tables_with_the_critical_temperatures() -> None:
    # [22, 0] in float16. naive: exp(22/T) overflows once 22/T passes ln(65504) = 11.0898, so
    # below T = 22 / 11.0898 = 1.9838. shifted: exp(x - max) <= 1 never overflows, but 22/T
    # itself rounds to +inf from 65520 (halfway from 65504 to 2^16) up, so below T = 22 / 65520
    # = 3.3578e-4. The bisection reports the safe end of a bracket 0.1% wide, which the table
    # gives to 3 significant digits, rounded up (safe) or down (one-hot).
    args = ("--values", "22,0", "--dtype", "fp16", "--method", "naive,shifted")
    r = run("analyze", *args, "--temperature", "1,22", "--format", "markdown")
    assert r.exit_code == ExitCode.OK, r.output
    lines = r.stdout.splitlines()
    sweep, critical = gfm_tables(r.stdout)[1:]  # after the verdict grid
    assert "#### Entropy vs temperature (exact, from the source values)" in lines
    h1, h22 = two_class_entropy(22), two_class_entropy(1)  # 22/T at T = 1 and T = 22
    assert sweep == [
        ["T", "entropy", "max p", "support"],
        ["---"] * 4,
        ["1", f"{h1:.3g}", "1", "1"],
        ["22", f"{h22:.3g}", f"{math.e / (1 + math.e):.3g}", f"{math.exp(h22):.3g}"],
    ]
    assert (f"{h1:.3g}", f"{h22:.3g}") == ("6.42e-09", "0.582")
    assert "#### Critical temperatures" in lines
    header = ["method", "dtype", "safe for T &gt;=", "fails by", "in row", "one-hot below T"]
    assert critical == [
        [*header, "last row"],
        ["---"] * 7,
        ["naive", "float16", "1.985", "exp overflow, nan", r"\[0\]", "never (&gt;= 1e-06)", "-"],
        ["shifted", "float16", "0.0003359", "x/T overflow, nan", r"\[0\]", "1.268", r"\[0\]"],
    ]
    naive, shifted = (float(row[2]) for row in critical[2:])
    assert 22 / math.log(65504) <= naive <= 22 / math.log(65504) * 1.001  # a 4th digit's step
    assert 22 / 65520 <= shifted <= 22 / 65520 * 1.001
    assert "- **remedy** naive float16: below T≈1.985 exp(x/T) overflows float16 -- " in r.stdout
    assert "- **remedy** shifted float16: below T≈0.0003359 dividing the logits by T" in r.stdout


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cell texts (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag: str) -> None:
        self.in_cell = self.in_cell and tag not in ("td", "th")

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.tables[-1][-1][-1] += data


def html_tables(page: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_html_has_the_markdowns_temperature_tables_and_remedies() -> None:
    # the hand-derived [22, 0] float16 case above: the HTML drew its own four-column table
    # ("unsafe below T", "safe throughout") with no sweep table and no remedies
    report = analyze(
        [[22.0, 0.0]], dtypes=["float16"], methods=["naive", "shifted"], temperatures=[1, 22]
    )
    page, markdown = report_html(report), report_markdown(report)
    unescape = [
        [[html.unescape(re.sub(r"\\(.)", r"\1", c)) for c in row] for row in t if row[0] != "---"]
        for t in gfm_tables(markdown)[1:]
    ]
    sweep, critical = unescape
    never = "never (>= 1e-06)"
    assert critical[1] == ["naive", "float16", "1.985", "exp overflow, nan", "[0]", never, "-"]
    assert html_tables(page)[-2:] == [sweep, critical]
    assert "unsafe below T" not in html.unescape(re.sub(r"<svg.*?</svg>", "", page, flags=re.S))
    # the captions and the remedies, as the Markdown words them
    for line in markdown.splitlines():
        if line.startswith("_Means over") or line.startswith("_safe: "):
            assert html.escape(html.unescape(line.strip("_").replace("\\", ""))) in page
        if line.startswith("- **remedy** "):
            text = html.unescape(line.removeprefix("- **remedy** ").replace("\\", ""))
            assert f"<li><strong>remedy</strong> {html.escape(text)}</li>" in page


def test_critical_temperatures_show_digits_within_the_bisections_tolerance() -> None:
    # the [22, 0] float16 case above: every renderer once printed 4 significant digits rounded
    # to nearest ("clamp T to >= 1.984", below the checked safe end 1.9843), then 3 rounded up,
    # a 1 % step where the leading digit is 1. Now 4 digits, rounded up where safe and down
    # where one-hot (within 0.1 % of the bisection's end), in the tables, the verdict grid, the
    # remedies and the figure; JSON keeps the value.
    args = ("analyze", "--values", "22,0", "--dtype", "fp16", "--method", "naive,shifted")
    args += ("--temperature", "1,22")
    page = html.unescape(run(*args, "--format", "html").stdout)
    assert "float16 naive: unsafe below T≈1.985" in page  # the figure's legend
    outs = {
        "html": re.sub(r"<svg.*?</svg>", "", page, flags=re.S),
        "markdown": run(*args, "--format", "markdown").stdout.replace("\\", ""),
        "text": run(*args, "-v").stdout,
    }
    for name, out in outs.items():
        flat = " ".join(html.unescape(out).split())
        assert not re.search(r"1\.984|1\.99\b|0\.000336\b|1\.26\b", flat), name
        assert "clamp T to >= 1.985" in flat and "clamp T to >= 0.0003359" in flat, name
        assert "so T to 4 significant digits, rounded up where safe and down where one-hot" in flat
    grid = run(*args).stdout.splitlines()  # the concise report's overflow/NaN column
    below = [ln.split()[-1] for ln in grid if ln.startswith(("naive ", "shifted "))]
    assert below == ["≈1.985", "≈0.0003359"]
    report = json.loads(run(*args, "--format", "json").stdout)
    naive, shifted = report["sources"][0]["temperature"]["critical"]
    assert naive["min_safe"] <= 1.985 <= naive["min_safe"] * 1.001  # JSON: unrounded
    assert shifted["min_safe"] <= 0.0003359 <= shifted["min_safe"] * 1.001


def test_comparisons_are_bracketed_in_the_sweep_grids_in_plain_text() -> None:
    # the one-T grid reads "naive [FAIL]", but with --critical (or a sweep) the strip read
    # "naive float16 F ≈1.083" and the -v per-T table "FAIL": a comparison marked only by
    # dimming, lost when piped
    args = ("analyze", "--values", "1,2,3,12", "--dtype", "fp16")
    rows = [ln.split() for ln in run(*args, "--critical").stdout.splitlines()]
    strips = {row[0]: row[2] for row in rows if row[1:2] == ["float16"]}
    assert strips == {"naive": "[F]", "shifted": "[.]", "logdomain": "[.]", "torch": "."}
    swept = run(*args, "--temperature", "0.5,1,2", "-v").stdout.split("Verdicts by temperature T")
    lines = swept[1].split("\n\n")[1].splitlines()  # the table: header, rule, rows
    table = {row[0]: row[2:] for row in map(str.split, lines) if row[1:2] == ["float16"]}
    assert table["naive"] == ["[FAIL]", "[FAIL]", "[OK]"]
    assert table["torch"] == ["OK", "OK", "OK"]
    rows = [ln.split() for ln in run(*args, "--temperature", "0.5,1,2").stdout.splitlines()]
    strips = {row[0]: row[2] for row in rows if row[1:2] == ["float16"]}
    assert strips == {"naive": "[FF.]", "shifted": "[F..]", "logdomain": "[...]", "torch": "..."}


def test_a_safe_end_near_1_is_not_shown_past_safe_swept_temperatures() -> None:
    # naive float16 on [11.1, 2, 3] overflows below T = 11.1 / 11.0898 = 1.00092 (bisection's
    # end 1.00112); 3 digits rounded up showed "≈1.01", above T = 1.005 and 1.009, both OK
    args = ("analyze", "--values", "11.1,2,3", "--dtype", "fp16", "--method", "naive")
    r = run(*args, "--temperature", "1,1.005,1.009")
    (row,) = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("naive ")]
    assert row == ["naive", "float16", "F..", "≈1.002"]
    text = " ".join(run(*args, "--temperature", "1,1.005,1.009", "-v").stdout.split())
    assert "naive float16 1.002 exp overflow, nan [0]" in text
    assert "clamp T to >= 1.002" in text


def test_what_the_critical_scan_did_not_find_names_the_range_it_scanned() -> None:
    # [1, 2, 3, 400] in float32 swept to T = 1e-306: the scan stopped at 1e-6, so the verdict
    # grid read "never" beside FAILing T = 1e-306 cells; now it reaches the lowest swept T, and
    # what it did not find ("never", "all") names the bottom it reached
    args = ("analyze", "--values", "1,2,3,400", "--dtype", "fp32", "--method", "naive,shifted")
    low = run(*args, "--temperature", "1,1e-306")
    rows = [ln.split() for ln in low.stdout.splitlines() if ln.startswith(("naive ", "shifted "))]
    below = {row[0]: row[-1] for row in rows}
    assert below == {"naive": "≈4.509", "shifted": "≈1.176e-36"}
    text = " ".join(run(*args, "--temperature", "1,1e-306", "-v").stdout.split())
    assert "naive float32 4.509 exp overflow, nan [0] never (>= 1e-306) -" in text
    assert (
        "scanned 1e-306..1e+03, one T per decade down to 1e-06 and each swept T below it, then "
        "bisection on log T to 0.1%"
    ) in text
    usual = run("analyze", "--values", "1,2,3", "--dtype", "fp64", "--temperature", "1,2")
    grid = [ln.split() for ln in usual.stdout.splitlines() if ln.startswith("shifted ")]
    assert grid == [["shifted", "float64", "[..]", "never", "(>=", "1e-06)"]]
    text = " ".join(
        run("analyze", "--values", "1,2,3", "--temperature", "1,2", "-v").stdout.split()
    )
    assert "shifted float64 all (>= 1e-06) - -" in text
    assert "scanned 1e-06..1e+03, one T per decade, then bisection" in text


def test_bisected_temperatures_round_towards_the_checked_side() -> None:
    assert bisected_t(1.9848, 1e-3, up=True) == "1.985"  # a lowest safe T: never below it
    assert bisected_t(1.2689, 1e-3, up=False) == "1.268"  # a one-hot T: never above it
    assert bisected_t(1.8, 1e-3, up=True) == "1.8"  # its repr, not 1.8000000000000000444
    assert bisected_t(18011.7, 1e-3, up=True) == "1.802e+04"
    assert bisected_t(1.234567, 1e-4, up=False) == "1.2345"  # 5 digits for 0.01 %


def test_markdown_temperature_tables_match_the_terminal_ones() -> None:
    report = analyze([[11.0625, 2.875, 2.955, -2.45]], temperatures=[0.0001, 0.5, 1, 2])
    terminal = render(report)
    markdown = report_markdown(report)
    # every sweep and critical-temperature row of the terminal, cell for cell (rich pads with
    # spaces; its sweep rows end in a bar)
    sweep = gfm_tables(markdown)[-2][2:]
    assert [row[0] for row in sweep] == ["0.0001", "0.5", "1", "2"]
    for row in sweep:
        assert any(line.split()[:4] == row for line in terminal.splitlines()), row
    rows = gfm_tables(markdown)[-1][2:]
    assert len(rows) == 4 * 4  # 4 methods × 4 default formats
    for row in rows:
        words = html.unescape(" ".join(row).replace("\\", "")).split()
        assert any(line.split() == words for line in terminal.splitlines()), words


def test_markdown_of_one_temperature_has_no_temperature_tables() -> None:
    text = report_markdown(analyze([[1.0, 2, 3]]))
    assert "Entropy vs temperature" not in text and "Critical temperatures" not in text
    assert len(gfm_tables(text)) == 1


def test_rows_of_one_element_are_captioned_ln_1_is_0() -> None:
    # the captions printed the bars' stand-in scale as the uniform entropy: "ln(1) = 1"
    report = analyze([[3.0], [5.0]], temperatures=[0.5, 1], gradients=False, critical=False)
    (s,) = report.sources
    pages = {"markdown": report_markdown(report), "html": report_html(report)}
    pages["terminal"] = render(report)
    for name, page in pages.items():
        assert "ln(1) = 1" not in page, name
    assert "_Means over the rows; entropy in nats, ln(1) = 0 if uniform._" in pages["markdown"]
    assert "Means over the rows; entropy in nats, ln(1) = 0 if uniform." in pages["html"]
    assert "bar: mean entropy, full width = 1 nat (uniform: ln(1) = 0)" in pages["terminal"]
    # the bars still have a scale: entropy 0 is an empty bar, not 0/0
    assert [r.entropy_fraction for r in sweep_rows(s)] == [0.0, 0.0]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "has_critical"),
    [
        ([], False),
        (["--temperature", "0.5,1"], True),
        (["--temperature", "0.1:10:3"], True),
        (["--temperature", "0.5,1", "--no-critical"], False),
        (["--critical"], True),
    ],
)
def test_cli_critical_option_and_json_fields(args: list[str], has_critical: bool) -> None:
    r = run("analyze", "--values", VLLM, "--dtype", "fp16", "--format", "json", *args)
    assert r.exit_code == ExitCode.OK, r.output
    temp = json.loads(r.stdout)["sources"][0]["temperature"]
    assert list(temp) == ["sweep", "critical", "scan"]
    assert list(temp["sweep"][0]) == [
        "temperature",
        "rows",
        "entropy_mean",
        "max_prob_mean",
        "effective_support_mean",
    ]
    if not has_critical:
        assert temp["critical"] is None and temp["scan"] is None
        return
    naive = temp["critical"][0]
    assert list(naive) == [
        "method",
        "dtype",
        "min_safe",
        "min_safe_row",
        "causes",
        "one_hot_below",
        "one_hot_row",
        "advice",
        "max_safe",
        "max_safe_row",
        "max_safe_causes",
        "judged",
    ]
    assert (naive["method"], naive["dtype"], naive["min_safe_row"]) == ("naive", "float16", [0])
    assert 0.9973 < naive["min_safe"] < 0.9984 and naive["one_hot_below"] is None
    assert temp["scan"]["lo"] == 1e-6 and temp["scan"]["rel_tol"] == 1e-3


def test_unsafe_at_the_top_of_the_scan_is_encoded_as_inf() -> None:
    # naive float16 on a logit of 60000: exp(60000 / T) overflows for every T up to 1000
    args = ["analyze", "--values", "60000,0", "--dtype", "fp16", "--method", "naive", "--critical"]
    r = run(*args, "-v")
    assert r.exit_code == ExitCode.OK, r.output
    assert "none (<= 1e+03)" in r.stdout
    # the concise report's verdict grid says the same in its overflow/NaN-below-T column
    grid = run(*args).stdout.splitlines()
    assert "overflow/NaN below T" in grid[3]
    assert grid[4].split() == ["naive", "float16", "F", "every", "T"]
    r = run(
        *("analyze", "--values", "60000,0", "--dtype", "fp16", "--method", "naive", "--critical"),
        *("--format", "json"),
    )
    (c,) = json.loads(r.stdout)["sources"][0]["temperature"]["critical"]
    assert c["min_safe"] == "inf" and c["advice"].startswith(
        "naive float16: fails at every scanned T; at the scan's top exp(x/T) overflows float16"
    )


def test_engine_reports_progress_for_rows_and_critical_steps() -> None:
    seen: dict[str, list[tuple[int, int]]] = {}
    cfg = AnalysisConfig(dtypes=("float16",), methods=("naive",), critical=True, chunk_rows=2)
    src = array_source([[1.0, 2.0], [3.0, 40.0], [5.0, 6.0]])
    analyze_array(
        src, cfg, lambda task, done, total: seen.setdefault(task, []).append((done, total))
    )
    assert seen["analysing rows"] == [(2, 3), (3, 3)]
    steps = seen["critical temperatures"]
    assert steps and all(done <= total for done, total in steps)


def test_swept_temperatures_get_the_digits_that_tell_them_apart() -> None:
    assert swept_digits([1.0818, 1.0822]) == 5  # 1.08 and 1.08 at 3, 1.082 and 1.082 at 4
    assert [swept_t(t, [0.5, 1.0818, 1.0822]) for t in (0.5, 1.0818)] == ["0.5", "1.0818"]
    assert swept_t(0.123456, [0.123456, 1, 2]) == "0.123"  # three digits where they suffice
    assert swept_t(1.0818, [1.0818, 1.0822], least=6) == "1.0818"
    assert swept_digits([1.0, 1.0 + 2**-52]) == 17


CLOSE_T = [1.0818, 1.0822]
"""Naive float16 on [1, 2, 3, 12] overflows at T = 1.0818 and not at 1.0822 (12/T vs 11.09)."""


def test_every_place_that_names_a_swept_t_keeps_two_close_temperatures_apart() -> None:
    # the -v verdict and sweep tables, the grouped lines' T and figures tag, and the Markdown and
    # HTML sweep tables wrote 1.0818 and 1.0822 as 1.08 (the concise grid as 1.082): two rows
    # or columns that looked like the same T
    report = analyze(
        [[1.0, 2.0, 3.0, 12.0], [0.0, 0.0, 0.0, 0.0]],
        methods=["naive", "shifted"],
        dtypes=["float16"],
        temperatures=CLOSE_T,
        critical=False,
    )
    text = render(report)
    (head,) = [ln for ln in text.splitlines() if ln.strip().startswith("method") and "1.08" in ln]
    assert head.split()[-2:] == ["1.0818", "1.0822"]
    sweep = [ln.split()[0] for ln in text.splitlines() if ln.strip().startswith("1.08")]
    assert sweep == ["1.0818", "1.0822"]
    assert " 1.08 " not in text and "T=1.08 " not in text and "T=1.08)" not in text
    assert [r.cells[0] for r in sweep_rows(report.sources[0])] == ["1.0818", "1.0822"]
    md = report_markdown(report)
    assert [r[0] for r in gfm_tables(md)[-1]][-2:] == ["1.0818", "1.0822"]
    assert [r[0] for r in html_tables(report_html(report))[-1]][-2:] == ["1.0818", "1.0822"]
    concise = plain_text(build_summary(report), width=120)
    assert "F/W/. at T=1.0818..1.0822" in concise and "1.082 " not in concise
