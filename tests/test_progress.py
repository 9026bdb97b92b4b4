"""Progress: every row reported in order; the bar off without a terminal or with --no-progress,
drawn only once slow."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from smcheck import analyze
from smcheck.cli import cli
from smcheck.progress import progress_bars


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


def test_progress_reports_every_row_in_order() -> None:
    events: list[tuple[str, int, int]] = []
    x = np.random.default_rng(0).normal(size=(23, 50))
    analyze(x, chunk_rows=4, dtypes=["float32"], progress=lambda *e: events.append(e))
    done = [d for task, d, _ in events if task == "analysing rows"]
    assert done == sorted(done) and done[-1] == 23
    assert {t for task, _, t in events if task == "analysing rows"} == {23}
