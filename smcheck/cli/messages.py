"""What the commands write: the report on stdout, one-line messages on stderr."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from smcheck.report.phrases import plural
from smcheck.report.renderers import PIPED_WIDTH, Renderer, plain_text


def summarise(report: Any) -> None:
    """The one-line human summary of an analysis, on stderr."""
    c = report.counts()
    n = sum(c.values())
    found = [f.severity for s in report.sources for f in s.input.findings]
    inputs = ", ".join(f"{found.count(k)} {k}" for k in ("FAIL", "WARN") if k in found)
    click.echo(
        f"smcheck: {plural(len(report.sources), 'source')}, {plural(n, 'cell')}: "
        f"{c['FAIL']} FAIL, {c['WARN']} WARN, {c['OK']} OK"
        + (f"; input: {inputs}" if inputs else ""),
        err=True,
    )


def piped_width() -> int:
    """Columns of piped output: ``COLUMNS`` when set, else the width files are written at."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH


def show(renderer: Renderer, subject: Any, *, details: bool = False, quiet: bool = False) -> None:
    """The report on stdout, at the terminal's width, else as text without trailing spaces.

    ``details``: the ``-v`` form of the rich formats; ``quiet``: nothing (the summary line and
    the exit code speak).
    """
    if quiet:
        return
    if renderer.renderables is None:
        click.echo(renderer.text(subject), nl=False)
        return
    build = renderer.details if details and renderer.details is not None else renderer.renderables
    if not sys.stdout.isatty():
        click.echo(plain_text(build(subject), width=piped_width()), nl=False)
        return
    from rich.console import Console

    console = Console()
    for r in build(subject):
        console.print(r)
