"""The HTML report: one self-contained page, deterministic, with its figures; a clear error without
the plotting extra; and (marked ``browser``) what headless Chromium actually draws of it."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck import analyze
from smcheck.cli import cli
from smcheck.report import model as rm
from smcheck.report.html import plotting
from smcheck.report.html.page import report_html

CHROMIUM = Path("/usr/bin/chromium")
MISSING = 'Error: --format html needs the plotting extra: pip install "smcheck-softmax[html]"\n'


@pytest.fixture(scope="module")
def sweep() -> rm.Report:
    """A sweep over 4 temperatures in two formats: naive float16 overflows at T=0.05 and 0.5.

    The critical temperatures are canned (their search takes seconds): naive float16 is unsafe
    below T=0.7, and every output of shifted float32 one-hot below T=0.04 (outside the sweep).
    """
    x = [[11.0625, 2.875, 2.955, -2.45], [3.0, 1.0, -1.0, 0.5]]
    kw = {"methods": ["naive", "shifted"], "gradients": False, "critical": False}
    r = analyze(x, dtypes=["float16", "float32"], temperatures=[0.05, 0.5, 1.0, 2.0], **kw)
    crit = [
        rm.CriticalTemperature("naive", "float16", 0.7, (0,), ["exp_overflow"], None, None, None),
        rm.CriticalTemperature("shifted", "float32", None, None, [], 0.04, (0,), None),
    ]
    s = r.sources[0]
    assert s.temperature is not None
    scan = rm.TemperatureScan(1e-6, 1e3, [1e3, 1e2, 10, 1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6], 1e-3)
    t = dataclasses.replace(s.temperature, critical=crit, scan=scan)
    return rm.Report([dataclasses.replace(s, temperature=t)], r.smcheck_version)


@pytest.fixture(scope="module")
def page(sweep: rm.Report) -> str:
    return report_html(sweep)


def test_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    for outside in ("<script", "<link", "src=", "@import", "url(http"):
        assert outside not in page
    # the only references are to the figures' own definitions (markers, clip paths)
    refs = re.findall(r'href="([^"]*)"', page)
    assert refs and all(r.startswith("#") for r in refs)
    ids = re.findall(r' id="([^"]*)"', page)
    assert len(ids) == len(set(ids))  # three figures inline, no clashing ids


def test_page_shows_grid_findings_and_three_figures(page: str) -> None:
    assert page.count("<svg") == 3  # temperature sweep, ulp histograms, headroom
    assert "<h3>Verdicts</h3>" in page and "One square per temperature" in page
    assert 'title="T=0.05: FAIL"' in page
    assert "<code>exp-overflow</code>" in page and "use max-shifted softmax" in page
    # the critical temperatures: marked where inside the sweep, all listed in the table the
    # terminal's -v and Markdown show (tests/report/test_temperature_report.py)
    assert "float16 naive: unsafe below T≈0.7" in page
    assert (
        "<tr><td>shifted</td><td>float32</td><td>all (&gt;= 1e-06)</td><td>-</td><td>-</td>"
        "<td>0.04</td><td>[0]</td></tr>"
    ) in page


def test_figures_are_deterministic(sweep: rm.Report, page: str) -> None:
    s = sweep.sources[0]
    assert plotting.headroom_figure(s, "h") == plotting.headroom_figure(s, "h")
    assert "Date" not in page and "dc:date" not in page and "Matplotlib v" not in page


def test_the_overflow_headroom_is_labelled_as_the_sum_of_exp_it_plots(monkeypatch) -> None:
    # eight 10s in float16: the bar is ln 65520 - logsumexp = 11.090 - 12.079 = -0.989 (the sum
    # 8 e^10 = 176212 overflows), yet it was titled "ln max - largest logit" (+1.09) and
    # captioned "naive exp overflows", and exp(10) = 22026 is finite
    r = analyze([[10.0] * 8], dtypes=["float16"], methods=["naive"], gradients=False)
    monkeypatch.setattr(plotting, "svg", lambda fig, salt: fig)  # the figure, not its SVG
    fig = plotting.headroom_figure(r.sources[0], "h")
    overflow = fig.axes[0]
    (bar,) = overflow.patches
    assert bar.get_height() == pytest.approx(math.log(65520) - (10 + math.log(8)))
    assert bar.get_height() < 0 < math.log(65520) - 10
    title = overflow.get_title()
    assert "sum of exp(x/T)" in title and "logsumexp" in title and "logit" not in title
    page = report_html(r)
    assert "the row's logsumexp; below zero naive's sum of exp overflows" in page
    assert "naive exp overflows" not in page


def test_cli_page_escapes_names_and_says_how_to_get_a_sweep() -> None:
    args = ["analyze", "--values", "1,2,3", "--dtype", "float32", "--method", "naive"]
    r = CliRunner().invoke(cli, [*args, "--no-gradients", "--format", "html"])
    assert r.exit_code == 0, r.output
    page = r.stdout
    assert "<h2>&lt;values&gt; " in page and "<values>" not in page
    assert "No temperature sweep was run: add <code>--temperature 0.25:4:9</code>" in page
    assert page.count("<svg") == 2


def test_a_single_t_page_with_critical_temperatures_points_to_their_table() -> None:
    # it said "No temperature sweep was run: add --temperature ... to see ... each format's
    # critical temperatures" above the very table of them
    args = ["analyze", "--values", "22,0", "--dtype", "float16", "--method", "naive"]
    page = CliRunner().invoke(cli, [*args, "--critical", "--format", "html"]).stdout
    assert "No temperature sweep was run (the critical temperatures are in the table below)" in page
    assert "<h4>Critical temperatures</h4>" in page


def test_rows_of_mask_values_are_not_listed_as_non_finite_input() -> None:
    # the facts table put "2 fully masked rows" under "non-finite input", though a row of mask
    # values only (-1e9 here) is finite; they have their own heading, by kind
    inf = float("inf")
    x = [[-1e9] * 4, [1.0, 2.0, 3.0, -1e9], [-inf] * 4, [0.5, 1.0, -1e9, 2.0]]
    page = report_html(analyze(x, methods=["shifted"], dtypes=["float32"], gradients=False))
    assert "<td>non-finite input</td><td>0 NaN, 0 +inf, 4 -inf</td>" in page
    assert (
        "<td>fully masked input rows</td><td>1 entirely -inf (left out of the metrics), "
        "1 of mask values only (judged); first row [0]</td>"
    ) in page


def test_check_reports_html_with_each_sources_result(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 12.5]]))
    r = CliRunner().invoke(
        cli,
        ["check", "--isolated", str(tmp_path / "a.npy"), "--dtype", "fp16", "--method", "naive",
         "--no-gradients", "--fail-on", "nan", "--report", f"html={tmp_path / 'c.html'}"],
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<title>smcheck check: FAILED</title>" in page and "<code>nan</code>" in page
    assert '<span class="v FAIL">FAIL</span> failed</td>' in page


def test_without_matplotlib_one_line_error_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    out = tmp_path / "r.html"
    args = ["analyze", "--values", "1,2,3", "--format", "html", "-o", str(out)]
    r = CliRunner().invoke(cli, args)
    assert (r.exit_code, r.stderr, r.stdout) == (2, MISSING, "")
    assert not out.exists()
    r = CliRunner().invoke(cli, ["check", "--isolated", "x.npy", "--report", f"html={out}"])
    assert r.exit_code == 2 and r.stderr == MISSING.replace("--format html", "--report html=FILE")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium (apt-get install chromium)")
def test_chromium_draws_the_page(page: str, tmp_path: Path) -> None:
    from matplotlib.image import imread

    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    # tall enough for the figures below the findings (whose remedies name their cells)
    run = [str(CHROMIUM), *flags, "--window-size=1200,4000"]
    subprocess.run([*run, f"--screenshot={shot}", html.as_uri()], capture_output=True, timeout=120)
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1200)
    ink = (pixels < 0.9).any(axis=-1)
    assert ink.mean() > 0.03  # not a blank page: text, tables and figures are drawn
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 200  # the FAIL badges and the float16 lines
    # float32's blue (#1f77b4) is drawn only by the SVG figures: they are rendered, not just present
    blue = (np.abs(pixels * 255 - np.array([31, 119, 180])) < 25).all(axis=-1)
    assert blue.sum() > 200
