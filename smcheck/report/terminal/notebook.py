"""A Report in a notebook: the concise report as a rich renderable and as HTML (Jupyter)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from smcheck.report.terminal.concise import build_summary

if TYPE_CHECKING:
    from smcheck.report.model import Report

WIDTH = 100
"""Columns of the HTML view: a notebook cell has no terminal to measure."""

_PRE = (
    '<pre style="white-space: pre; overflow-x: auto; line-height: normal; '
    "font-family: Menlo, 'DejaVu Sans Mono', Consolas, 'Courier New', monospace\">"
    "<code>{code}</code></pre>"
)
"""A fragment, not a page: Jupyter inserts it into the notebook's own document."""


def rich_view(report: Report) -> Any:
    """The concise report (``smcheck analyze``'s default) as one rich renderable."""
    from rich.console import Group

    return Group(*build_summary(report))


def html_view(report: Report, width: int = WIDTH) -> str:
    """The concise report as an HTML fragment with inline colours, ``width`` columns wide."""
    from rich.console import Console

    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    console.print(rich_view(report))
    return console.export_html(inline_styles=True, code_format=_PRE)
