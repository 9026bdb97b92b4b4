"""Streaming: cheap exact rounding, progress, medians."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck import analyze
from smcheck.analysis.methodinput import exact_in, round_chunk
from smcheck.analysis.stats import EXACT_MEDIAN_LIMIT, Histogram
from smcheck.cli import cli
from smcheck.dtypes import get_format
from smcheck.progress import progress_bars
from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_round_chunk_is_one_correct_rounding(name: str) -> None:
    # float32 values incl. ties at the format's half-ulp, subnormals and overflow
    f = get_format(name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(4000).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -30, 30, 4000
    ).astype(np.float32)
    ties = (np.float32(1) + np.float32(2.0) ** (-f.t) * np.arange(1, 9, dtype=np.float32)).astype(
        np.float32
    )
    x = np.concatenate([x, ties, -ties, np.float32([6e-8, 3e-8, 1e-40, 70000, 3e38])])
    x64 = x.astype(np.float64)[None, :]
    got = round_chunk(x64, f, False, np.dtype(np.float32))
    np.testing.assert_array_equal(got, f.round(x64))


def test_exact_in_knows_which_casts_are_exact() -> None:
    f32, bf16, f16 = (get_format(n) for n in ("float32", "bfloat16", "float16"))
    assert exact_in(np.dtype(np.float16), f32) and exact_in(np.dtype(np.float32), f32)
    assert not exact_in(np.dtype(np.float16), bf16)  # 11 significant bits do not fit in 8
    assert not exact_in(np.dtype(np.float32), f16)
    assert not exact_in(np.dtype(np.int64), f32)


def test_progress_reports_every_row_in_order() -> None:
    events: list[tuple[str, int, int]] = []
    x = np.random.default_rng(0).normal(size=(23, 50))
    analyze(x, chunk_rows=4, dtypes=["float32"], progress=lambda *e: events.append(e))
    done = [d for task, d, _ in events if task == "analysing rows"]
    assert done == sorted(done) and done[-1] == 23
    assert {t for task, _, t in events if task == "analysing rows"} == {23}


def test_progress_bar_stays_off_without_a_terminal_or_with_no_progress() -> None:
    with progress_bars(False) as bar:
        assert bar is None
    r = CliRunner().invoke(cli, ["analyze", "--values", "1,2,3", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("smcheck: 1 source")  # the summary line and nothing else


def test_progress_bar_draws_rows_per_second_only_once_slow(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    import rich.console

    buf = io.StringIO()
    real = rich.console.Console
    monkeypatch.setattr(
        rich.console,
        "Console",
        lambda **kw: real(file=buf, force_terminal=True, width=100),
    )
    now = [0.0]
    monkeypatch.setattr("smcheck.progress.time", type("T", (), {"monotonic": lambda: now[0]}))
    with progress_bars(True) as bar:
        assert bar is not None
        bar("analysing rows", 10, 100)  # t = 0: too early to draw
        now[0] = 0.1
        bar("analysing rows", 20, 100)  # still quiet
        assert buf.getvalue() == ""
        now[0] = 2.0
        bar("analysing rows", 30, 100)  # slow, so the bar appears
    assert "analysing rows" in buf.getvalue() and "rows/s" in buf.getvalue()


def test_histogram_median_is_within_its_stated_bound() -> None:
    rng = np.random.default_rng(1)
    vals = rng.lognormal(0, 2, EXACT_MEDIAN_LIMIT + 1001)
    h = Histogram()
    for part in np.array_split(vals, 7):
        h.add(part)
    assert h.exact is None  # past the limit: from the bins
    exact = np.sort(vals)[(vals.size + 1) // 2 - 1]
    assert abs(h.median / exact - 1) < 1 / 256  # half a 1/128-octave bin
    small = Histogram()
    small.add(np.array([3.0, -1.0, 0.0]))  # absolute values; exact below the limit
    assert small.median == 1.0


def test_histogram_zero_bin() -> None:
    h = Histogram(exact=None)
    h.add(np.array([0.0, 0.0, 2.0**-90, 5.0]))
    assert h.median == 0.0  # zero and values below 2^-80 share the zero bin


def test_help_does_not_import_torch_and_is_fast() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); from smcheck.cli import cli; "
        "sys.argv = ['smcheck', '--help']\n"
        "try:\n    cli()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(out.stdout.strip().splitlines()[-1]) < 1.0  # target 0.3 s, measured by the bench
