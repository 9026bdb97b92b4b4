"""What the commands write: the report on stdout, one-line messages on stderr."""

from __future__ import annotations

import sys
from typing import Any

import click

from smcheck.errors import SmcheckError
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
        _check_stdout()
        click.echo(renderer.text(subject), nl=False)
        return
    out = console()
    tty = sys.stdout.isatty()
    for r in renderer.renderables(subject):
        out.print(r, soft_wrap=renderer.soft_wrap and not tty)


def console() -> Any:
    """A rich Console on stdout: the terminal's width (100 when piped); a closed pipe raises.

    Rich's own reaction to a closed pipe is ``SystemExit(1)``, the exit code of findings; a
    BrokenPipeError instead reaches the group's handler (``cli/exits.py``), which exits 141.
    """
    from rich.console import Console

    _check_stdout()
    out = Console(width=None if sys.stdout.isatty() else 100)
    out.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]
    return out


def _broken_pipe() -> None:
    raise BrokenPipeError(32, "Broken pipe")


def _check_stdout() -> None:
    if sys.stdout is None:  # the shell closed it (>&-): the report would be lost without a word
        raise SmcheckError("standard output is closed; redirect it (> report.txt) or use -o FILE")
