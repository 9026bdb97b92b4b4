"""Tables never cut a number: Fit splits or transposes them to the width (report.terminal.fit)."""

from __future__ import annotations

import pytest
from rich import box
from rich.console import Console
from rich.table import Table

from smcheck import analyze
from smcheck.report.renderers import plain_text
from smcheck.report.terminal.fit import Fit, column_widths, natural_width, span, subtable
from smcheck.report.terminal.values import values_tables


def wide_table(columns: int) -> Table:
    t = Table(title="Wide", box=box.SIMPLE_HEAD)
    t.add_column("method", no_wrap=True)
    for j in range(columns):
        t.add_column(f"[{j}]", justify="right", no_wrap=True)
    t.add_row("naive", *(f"{1234567 + j}/2500r" for j in range(columns)))
    return t


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_a_wide_table_is_split_with_its_key_column_never_cut(width: int) -> None:
    text = plain_text([Fit(wide_table(10))], width=width)
    lines = text.splitlines()
    assert "…" not in text and all(len(ln) <= width for ln in lines)
    # every figure in full, and the key column leads each part
    assert all(f"{1234567 + j}/2500r" in text for j in range(10))
    parts = [ln for ln in lines if ln.lstrip().startswith("naive")]
    titles = [ln for ln in lines if "Wide" in ln]
    assert len(parts) == len(titles) and (len(parts) > 1) == (width < 200)


def test_a_title_wider_than_the_width_wraps_above_a_table_of_its_own_width() -> None:
    # as the table's title it would set the table's minimum width to the whole line, and
    # rich would spread the two narrow columns across it; a caption wider than the table
    # wraps at the width, not in the table's few columns
    t = Table(
        title="A legend " * 12,
        title_justify="left",
        caption="A note " * 12,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    t.add_column("method", no_wrap=True)
    t.add_column("absorbed", justify="right", no_wrap=True)
    t.add_row("logdomain", "0.1%")
    lines = plain_text([Fit(t)], width=60).splitlines()
    row = next(ln for ln in lines if "logdomain" in ln)
    assert row.split() == ["logdomain", "0.1%"] and len(row.rstrip()) < 30
    legend = [ln for ln in lines if "legend" in ln]
    assert len(legend) == 2 and all(len(ln) <= 60 for ln in legend)
    assert " ".join(" ".join(legend).split()) == " ".join(["A legend"] * 12)
    note = [ln for ln in lines if "note" in ln]
    assert len(note) == 2 and " ".join(" ".join(note).split()) == " ".join(["A note"] * 12)
    assert lines.index(note[0]) > lines.index(row)


def test_a_title_wider_than_the_table_within_the_width_leaves_the_columns_together() -> None:
    # made the table's minimum width, a 77-column title spread "class" and "torch" across the
    # line (the -v loss tables' "(2/2)" part); it goes on a line of its own above the table
    t = Table(title="Cross-entropy loss " * 4, title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column("class", no_wrap=True)
    t.add_column("torch", justify="right", no_wrap=True)
    t.add_row("loss", "0.3310546875")
    lines = plain_text([Fit(t)], width=80).splitlines()
    assert lines[0] == ("Cross-entropy loss " * 4).rstrip()
    row = next(ln for ln in lines if "0.331" in ln)
    assert row.split() == ["loss", "0.3310546875"] and len(row) < 30
    # printed twice, the table keeps its title
    assert plain_text([Fit(t)], width=80).splitlines() == lines


STYLES = [
    {"box": box.SIMPLE_HEAD},
    {"box": box.SIMPLE_HEAD, "pad_edge": False},
    {"box": None, "pad_edge": False},
    {"box": box.ROUNDED, "padding": (0, 2)},
    {"box": box.SIMPLE_HEAD, "padding": (0, 1), "pad_edge": False, "show_edge": False},
]


@pytest.mark.parametrize("style", STYLES, ids=range(len(STYLES)))
def test_a_tables_width_is_its_columns_widths_joined(style: dict) -> None:  # type: ignore[type-arg]
    # what lets Fit measure each column once: a table of any choice of the columns is exactly
    # as wide as rich measures it, whatever their order, padding, edges or minimum widths
    t = Table(title="Mixed", **style)
    t.add_column("key", no_wrap=True)
    t.add_column("known as", overflow="fold", min_width=12)
    t.add_column("[1]", justify="right")
    t.add_column("a wider header than its cells")
    t.add_column("x")
    t.add_row("naive", "e", "1234567/2500r", "0", "")
    t.add_row("logdomain float16", "a very long name", "-1.5e-07", "1", "yes")
    console = Console(width=80)
    options = console.options
    widths = column_widths(console, options, t)
    for cols in ([0], [4], [0, 1], [1, 3], [0, 2, 4], [0, 1, 2, 3, 4], [3, 1, 4]):
        assert span(widths, cols) == natural_width(console, options, subtable(t, cols, None))


def test_a_table_with_what_subtables_leave_out_is_measured_whole() -> None:
    # collapsed padding makes this table narrower than its columns' widths joined: it fits
    # whole at 37 columns, as rich measures it, and is not split
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 2), collapse_padding=True)
    for name in ("key", "name", "value"):
        t.add_column(name)
    t.add_row("naive", "abcdefghij", "1234567890")
    text = plain_text([Fit(t)], width=37)
    assert len([ln for ln in text.splitlines() if "naive" in ln]) == 1
    assert "1234567890" in text and "abcdefghij" in text


def test_the_first_layout_that_fits_is_chosen() -> None:
    narrow = Table(title="Narrow")
    narrow.add_column("x")
    narrow.add_row("1")
    assert plain_text([Fit(wide_table(12), narrow)], width=60).lstrip().startswith("Narrow")
    assert plain_text([Fit(wide_table(2), narrow)], width=60).lstrip().startswith("Wide")


def test_forty_values_transpose_to_a_row_per_class_and_show_every_value() -> None:
    x = [[round(0.37 * j - 7, 2) for j in range(40)]]
    report = analyze(x, dtypes=["float16"], gradients=False)
    (s,) = report.sources
    (exact,) = s.exact or []
    for width in (60, 80):
        text = plain_text(values_tables(s), width=width)
        assert "…" not in text and max(map(len, text.splitlines())) <= width
        rows = [ln.split() for ln in text.splitlines() if ln.strip().startswith("[")]
        # a row per class in each of the two tables (probabilities, log-probabilities)
        assert [r[0] for r in rows[:40]] == [f"[{j}]" for j in range(40)]
        probs = [r for r in rows if r[0] == "[39]"][0]
        assert float(probs[1]) == pytest.approx(exact.probabilities[0][39], rel=1e-4)
