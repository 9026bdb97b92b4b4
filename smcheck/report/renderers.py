"""The report formats of each command: one table per command, format name -> renderer.

The click choices, ``--report FORMAT=FILE`` validation and every render read these tables, so a
format is named in one place. Each renderer imports its module on use: the CLI imports this
module to build its options, and ``smcheck --help`` must not import numpy, torch or rich.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smcheck.errors import ConfigError

if TYPE_CHECKING:
    from smcheck.report.model import Report
    from smcheck.report.violations import CheckResult


@dataclass(frozen=True)
class Renderer:
    """One format: its text, and for the rich formats the renderables a terminal shows."""

    text: Callable[[Any], str]
    """The whole report as the text written to a file (or echoed to stdout)."""
    renderables: Callable[[Any], list[Any]] | None = None
    """Rich renderables, which the CLI prints sized to the terminal; None: echo :attr:`text`."""
    details: Callable[[Any], list[Any]] | None = None
    """The renderables of ``-v/--details`` (every table); None: the format has one level."""


PIPED_WIDTH = 100
"""Columns of text written to a file, and to a pipe when ``COLUMNS`` is not set."""


def plain_text(renderables: list[Any], *, width: int = PIPED_WIDTH) -> str:
    """Rich renderables as colourless text, ``width`` columns wide, without trailing spaces."""
    from rich.console import Console

    console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    for r in renderables:
        console.print(r)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())


def _analyze_json(report: Report) -> str:
    from smcheck.report.json import to_json

    return to_json(report) + "\n"


def _analyze_markdown(report: Report) -> str:
    from smcheck.report.markdown import report_markdown

    return report_markdown(report)


def _analyze_html(report: Report) -> str:
    from smcheck.report.html.page import report_html

    return report_html(report)


def _analyze_summary(report: Report) -> list[Any]:
    from smcheck.report.terminal.concise import build_summary

    return build_summary(report)


def _analyze_tables(report: Report) -> list[Any]:
    from smcheck.report.terminal.tables import build_tables

    return build_tables(report)


def _check_lines(result: CheckResult) -> list[Any]:
    from smcheck.report.terminal.check import build_check_text

    return build_check_text(result, details=False)


def _check_details(result: CheckResult) -> list[Any]:
    from smcheck.report.terminal.check import build_check_text

    return build_check_text(result, details=True)


def _check_json(result: CheckResult) -> str:
    from smcheck.report.json import check_to_json

    return check_to_json(result) + "\n"


def _check_markdown(result: CheckResult) -> str:
    from smcheck.report.markdown import check_markdown

    return check_markdown(result)


def _check_html(result: CheckResult) -> str:
    from smcheck.report.html.page import check_html

    return check_html(result)


def _check_junit(result: CheckResult) -> str:
    from smcheck.report.junit import check_junit

    return check_junit(result)


def _check_github(result: CheckResult) -> str:
    from smcheck.report.github import check_github

    return check_github(result)


def _check_sarif(result: CheckResult) -> str:
    from smcheck.report.sarif import check_sarif

    return check_sarif(result)


ANALYZE_FORMATS: Mapping[str, Renderer] = {
    "text": Renderer(lambda r: plain_text(_analyze_summary(r)), _analyze_summary, _analyze_tables),
    "json": Renderer(_analyze_json),
    "markdown": Renderer(_analyze_markdown),
    "html": Renderer(_analyze_html),
}
"""The formats of ``smcheck analyze``; the first is the default."""

CHECK_FORMATS: Mapping[str, Renderer] = {
    "text": Renderer(lambda r: plain_text(_check_lines(r)), _check_lines, _check_details),
    "json": Renderer(_check_json),
    "markdown": Renderer(_check_markdown),
    "junit": Renderer(_check_junit),
    "github": Renderer(_check_github),
    "html": Renderer(_check_html),
    "sarif": Renderer(_check_sarif),
}
"""The formats of ``smcheck check`` (and its ``--report FORMAT=FILE``); the first is the default."""

FORMAT_ALIASES: Mapping[str, str] = {"table": "text"}
"""Other names every command's formats answer to, listed nowhere: ``table`` was analyze's name
for its text format until analyze and check agreed on ``text``."""


def format_name(name: str) -> str:
    """The name a format is registered under (``table`` is ``text``)."""
    return FORMAT_ALIASES.get(name, name)


def require_format(fmt: str, option: str) -> None:
    """Fail before any analysis when ``fmt`` needs an optional extra that is not installed.

    Args:
        fmt: a format name.
        option: how the user asked for it (``--format html``), for the error message.
    """
    if fmt == "html":
        from smcheck.report.html.plotting import require_plotting

        require_plotting(option)


def render(formats: Mapping[str, Renderer], subject: Any, fmt: str, details: bool = False) -> str:
    """``subject`` (a Report or CheckResult) as text in ``fmt`` of the command's ``formats``.

    Args:
        formats: :data:`ANALYZE_FORMATS` or :data:`CHECK_FORMATS`.
        subject: what that command renders.
        fmt: a format name of ``formats``.
        details: the ``-v/--details`` form, where the format has one.

    Returns:
        The text, colourless (the file form of the rich formats).
    """
    fmt = format_name(fmt)
    if fmt not in formats:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(formats)}")
    renderer = formats[fmt]
    if details and renderer.details is not None:
        return plain_text(renderer.details(subject))
    return renderer.text(subject)
