"""The temperature section: rendering within 100 columns, JSON fields, CLI options, progress."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from smcheck import analyze
from smcheck.analysis.engine import analyze_array
from smcheck.cli import cli
from smcheck.config import AnalysisConfig
from smcheck.errors import ExitCode
from smcheck.report.model import Report
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
    assert sum(naive16, [])[:9] == ["FAIL"] * 6 + ["OK"] * 3
    assert "Entropy vs temperature" in text and "ln(4) = 1.39 nats" in text
    assert "Critical temperatures" in text
    # shifted, logdomain and torch share one float16 remedy line
    assert "remedy shifted, logdomain, torch float16: below T=0.0001689" in text.replace("\n", " ")
    assert "centre the" in text and "max-shifted softmax" in text


def test_single_temperature_table_has_no_temperature_section() -> None:
    text = "\n".join(line.rstrip() for line in render(analyze([[1.0, 2, 3]])).splitlines())
    assert "Entropy vs temperature" not in text and "Critical temperatures" not in text
    assert "Verdicts\n" in text


def test_critical_flag_adds_the_section_for_one_temperature() -> None:
    text = render(analyze([[1.0, 2.0, 30.0]], dtypes=["float16"], critical=True))
    assert "Critical temperatures" in text and "Entropy vs temperature" in text


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
    assert c["min_safe"] == "inf" and c["advice"].startswith("naive float16: at every scanned T")


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
