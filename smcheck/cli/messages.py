"""What the commands write: the report on stdout, one-line messages on stderr."""

from __future__ import annotations

import sys
from typing import Any

import click

from smcheck.report.phrases import plural
from smcheck.report.renderers import Renderer


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


def show(renderer: Renderer, subject: Any) -> None:
    """The report on stdout: rich renderables at the terminal's width (100 piped), else text."""
    if renderer.renderables is None:
        click.echo(renderer.text(subject), nl=False)
        return
    from rich.console import Console

    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 100)
    for r in renderer.renderables(subject):
        console.print(r, soft_wrap=renderer.soft_wrap and not tty)
