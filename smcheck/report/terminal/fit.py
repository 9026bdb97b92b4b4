"""Tables that never cut a number: the first layout that fits the width, else one split in parts.

rich shrinks a table that is too wide by wrapping and then cutting cells to ``…``; a diagnostic
whose counts lose digits misreports. :class:`Fit` decides at render time, when the width is
known: it prints the first of its layouts whose natural width fits, else it splits the last
layout's columns into several tables that each fit, repeating the leading key columns.
"""

from __future__ import annotations

import copy

from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
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
    table: Table,
    columns: list[int],
    title: Text | str | None,
    fold: bool = False,
    captioned: bool = True,
) -> Table:
    """``table`` restricted to ``columns`` (indices), rows and sections kept.

    ``fold``: cells too wide for any layout continue on the next line instead of ending in ``…``.
    ``captioned``: the part keeps the table's caption (a legend is said once, under the last).
    """
    part = Table(
        title=title,
        caption=table.caption if captioned else None,
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


def column_widths(console: Console, options: ConsoleOptions, table: Table) -> tuple[list[int], int]:
    """Each column's natural width alone (as a one-column table of :func:`subtable`), and what
    joining two columns adds to theirs. In the tables subtable builds, a column's width depends
    on its cells and on whether it is at an edge, and rules and edges add the same for every
    join, so a table of the columns S is :func:`span` wide: measuring each column once keeps
    fitting and splitting linear in the cells (measuring each trial table was quadratic)."""
    alone = [
        natural_width(console, options, subtable(table, [i], None))
        for i in range(len(table.columns))
    ]
    if len(alone) < 2:
        return alone, 0
    pair = natural_width(console, options, subtable(table, [0, 1], None))
    return alone, pair - alone[0] - alone[1]


def spans_itself(table: Table) -> bool:
    """Whether :func:`span` gives ``table``'s own width: it has columns and none of what sets a
    width that subtable leaves out (a fixed table or column width, a column's maximum, collapsed
    padding, a footer)."""
    return bool(table.columns) and not (
        table.width is not None
        or table.collapse_padding
        or table.show_footer
        or any(c.width is not None or c.max_width is not None for c in table.columns)
    )


def span(widths: tuple[list[int], int], columns: list[int]) -> int:
    """The natural width of a table of ``columns`` (at least one) from :func:`column_widths`."""
    alone, join = widths
    return sum(alone[i] for i in columns) + (len(columns) - 1) * join


def split(
    console: Console,
    options: ConsoleOptions,
    table: Table,
    keys: int,
    widths: tuple[list[int], int],
) -> list[Table]:
    """``table`` (its :func:`column_widths` given) as consecutive tables of its columns that
    each fit, every one led by the keys; the caption, a legend of them all, under the last."""
    lead = list(range(keys))
    parts: list[list[int]] = []
    current: list[int] = []
    for i in range(keys, len(table.columns)):
        if current and span(widths, lead + current + [i]) > options.max_width:
            parts.append(current)
            current = []
        current.append(i)
    parts.append(current)
    out = []
    for k, cols in enumerate(parts):
        name = table.title
        if name is not None and len(parts) > 1:
            name = as_text(name) + f" ({k + 1}/{len(parts)})"
        fold = span(widths, lead + cols) > options.max_width
        out.append(subtable(table, lead + cols, name, fold, captioned=k == len(parts) - 1))
    return out


def _annotation(text: Text | str, style: str, justify: JustifyMethod) -> Text:
    """A table's title or caption printed as text of its own, styled as rich styles it."""
    out = Text.from_markup(text, style=style) if isinstance(text, str) else text.copy()
    out.justify = justify
    return out


def _annotated(part: Table, console: Console, options: ConsoleOptions) -> RenderResult:
    """``part`` with its title and caption. A title or caption wider than the table is printed
    as text of its own, wrapped at the width, above or below a table of its own width (as the
    table's, it would wrap in the table's narrow width, or, made the table's minimum width,
    spread two narrow columns across the line: "class ... torch" 60 columns apart)."""
    own = natural_width(console, options, part)
    title, caption = part.title, part.caption
    part = copy.copy(part)  # the layout's own table keeps both: it may be printed again
    if title is not None and as_text(title).cell_len > own:
        part.title = None
        yield _annotation(title, "table.title", part.title_justify)
    if caption is not None and as_text(caption).cell_len > own:
        part.caption = None
        yield part
        yield _annotation(caption, "table.caption", part.caption_justify)
        return
    yield part


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
        widths: dict[int, tuple[list[int], int]] = {}

        def measured(t: Table) -> tuple[list[int], int]:  # each table's widths, measured once
            if id(t) not in widths:
                widths[id(t)] = column_widths(console, options, t)
            return widths[id(t)]

        def fits(t: Table) -> bool:
            if not spans_itself(t):
                return natural_width(console, options, t) <= options.max_width
            return span(measured(t), list(range(len(t.columns)))) <= options.max_width

        chosen = next((ts for ts in self.layouts if all(fits(t) for t in ts)), None)
        parts = chosen or [
            part
            for t in self.layouts[-1]
            for part in split(console, options, t, self.keys, measured(t))
        ]
        for k, part in enumerate(parts):
            if k:
                yield ""
            captioned = part.caption is not None
            yield from _annotated(part, console, options)
        if parts and captioned:  # a caption ends on text, not the blank row
            yield ""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [natural_width(console, options, t) for ts in self.layouts for t in ts]
        return Measurement(min(widths), max(widths)).clamp(max_width=options.max_width)
