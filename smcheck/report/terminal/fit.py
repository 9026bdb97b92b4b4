"""Tables that never cut a number: the first layout that fits the width, else one split in parts.

rich shrinks a table that is too wide by wrapping and then cutting cells to ``…``; a diagnostic
whose counts lose digits misreports. :class:`Fit` decides at render time, when the width is
known: it prints the first of its layouts whose natural width fits, else it splits the last
layout's columns into several tables that each fit, repeating the leading key columns.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

UNBOUNDED = 10_000
"""A width no table reaches: measuring within it gives a table's natural (unwrapped) width."""


def as_text(title: Text | str) -> Text:
    """A table title as rich prints it (a string title is markup)."""
    return Text.from_markup(title) if isinstance(title, str) else title


def natural_width(console: Console, options: ConsoleOptions, table: Table) -> int:
    """The columns ``table`` needs to print every cell on one line."""
    return Measurement.get(console, options.update_width(UNBOUNDED), table).maximum


def subtable(
    table: Table, columns: list[int], title: Text | str | None, fold: bool = False
) -> Table:
    """``table`` restricted to ``columns`` (indices), rows and sections kept.

    ``fold``: cells too wide for any layout continue on the next line instead of ending in ``…``.
    """
    part = Table(
        title=title,
        caption=table.caption,
        box=table.box,
        show_header=table.show_header,
        show_edge=table.show_edge,
        pad_edge=table.pad_edge,
        padding=table.padding,
        title_justify=table.title_justify,
        caption_justify=table.caption_justify,
    )
    for i in columns:
        c = table.columns[i]
        part.add_column(
            c.header,
            justify=c.justify,
            style=c.style,
            header_style=c.header_style,
            no_wrap=c.no_wrap and not fold,
            overflow="fold" if fold else c.overflow,
            min_width=c.min_width,
        )
    for r, row in enumerate(table.rows):
        part.add_row(
            *(table.columns[i]._cells[r] for i in columns),
            style=row.style,
            end_section=row.end_section,
        )
    return part


def split(console: Console, options: ConsoleOptions, table: Table, keys: int) -> list[Table]:
    """``table`` as consecutive tables of its columns that each fit, every one led by the keys."""
    lead = list(range(keys))
    parts: list[list[int]] = []
    current: list[int] = []
    for i in range(keys, len(table.columns)):
        trial = subtable(table, lead + current + [i], None)
        if current and natural_width(console, options, trial) > options.max_width:
            parts.append(current)
            current = []
        current.append(i)
    parts.append(current)
    out = []
    for k, cols in enumerate(parts):
        name = table.title
        if name is not None and len(parts) > 1:
            name = as_text(name) + f" ({k + 1}/{len(parts)})"
        part = subtable(table, lead + cols, name)
        if natural_width(console, options, part) > options.max_width:
            part = subtable(table, lead + cols, name, fold=True)
        out.append(part)
    return out


class Fit:
    """The first of ``layouts`` that fits the width; else the last one split by columns.

    Args:
        layouts: The same content in preferred order (e.g. one wide table, then a list of
            transposed ones); a list fits when each of its tables does.
        keys: Leading columns of the last layout's tables repeated in every part of a split.
    """

    def __init__(self, *layouts: Table | list[Table], keys: int = 1) -> None:
        self.layouts = [t if isinstance(t, list) else [t] for t in layouts]
        self.keys = keys

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        chosen = next(
            (
                tables
                for tables in self.layouts
                if all(natural_width(console, options, t) <= options.max_width for t in tables)
            ),
            None,
        )
        parts = chosen or [
            part for t in self.layouts[-1] for part in split(console, options, t, self.keys)
        ]
        for k, part in enumerate(parts):
            if k:
                yield ""
            if part.title is not None:  # a title wider than its table stays on one line
                part.min_width = min(as_text(part.title).cell_len, options.max_width)
            yield part

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [natural_width(console, options, t) for ts in self.layouts for t in ts]
        return Measurement(min(widths), max(widths)).clamp(max_width=options.max_width)
