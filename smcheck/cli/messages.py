"""What the commands write: the report on stdout, one-line messages on stderr."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from smcheck.errors import SmcheckError
from smcheck.report.phrases import SUMMARY_BREAKS, WORDS, wrap_line
from smcheck.report.renderers import PIPED_WIDTH, Renderer, plain_text


def summarise(report: Any) -> None:
    """The summary of an analysis on stderr, for people (scripts read the exit code or JSON):
    wrapped to a terminal's width, or piped to ``COLUMNS`` where set (as the report); one line
    piped without it."""
    say(f"smcheck: {report.summary()}", SUMMARY_BREAKS)


def say(line: str, breaks: tuple[str, ...] = (WORDS,)) -> None:
    """One message on stderr, wrapped at ``breaks`` (:func:`wrap_line`) to stderr's width."""
    click.echo(wrap_line(line, _stderr_width(), breaks), err=True)


def _stderr_width() -> int:
    """The terminal's width when stderr is one; piped, ``COLUMNS`` where set (the report's
    width), else no limit (logged: one line)."""
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is not None and isatty():
        return shutil.get_terminal_size().columns
    return _columns() or 1 << 30


def piped_width() -> int:
    """Columns of piped output: ``COLUMNS`` when set, else the width files are written at."""
    return _columns() or PIPED_WIDTH


def _columns() -> int | None:
    """``COLUMNS`` where it is set to a width, else None."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def show(renderer: Renderer, subject: Any, *, details: bool = False, quiet: bool = False) -> None:
    """The report on stdout, at the terminal's width, else as text without trailing spaces.

    ``details``: the ``-v`` form of the rich formats; ``quiet``: nothing (the summary line and
    the exit code speak).
    """
    if quiet:
        return
    if renderer.renderables is None:
        _echo(renderer.text(subject))
        return
    build = renderer.details if details and renderer.details is not None else renderer.renderables
    print_rich(build(subject))


def print_rich(renderables: list[Any]) -> None:
    """Rich renderables on stdout at the terminal's width, else as text ``COLUMNS`` wide."""
    _check_stdout()
    if not sys.stdout.isatty():
        _echo(plain_text(renderables, width=piped_width()))
        return
    out = console()
    for r in renderables:
        out.print(r)


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


def _echo(text: str) -> None:
    """A report on stdout: a terminal through click; a pipe or file all of it or a BrokenPipeError
    (output.write_stdout: a text stream can drop part of a large write to a pipe)."""
    from smcheck.output import write_stdout

    _check_stdout()
    if sys.stdout.isatty() or not hasattr(sys.stdout, "buffer"):
        click.echo(text, nl=False)
        return
    write_stdout(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))


def _broken_pipe() -> None:
    raise BrokenPipeError(32, "Broken pipe")


def _check_stdout() -> None:
    if sys.stdout is None:  # the shell closed it (>&-): the report would be lost without a word
        raise SmcheckError("standard output is closed; redirect it (> report.txt) or use -o FILE")
