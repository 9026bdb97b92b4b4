"""The command line: the ``smcheck`` group and its commands, one module each."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from smcheck import __version__
from smcheck.cli.analyze import analyze
from smcheck.cli.capture import capture
from smcheck.cli.check import check
from smcheck.cli.exits import NO_ROOM, SmcheckGroup
from smcheck.cli.generate import generate
from smcheck.cli.limits import thresholds
from smcheck.cli.process import own_process
from smcheck.cli.schema import schema
from smcheck.errors import ExitCode
from smcheck.threads import bound_spin_waiting

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=SmcheckGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="smcheck")
@click.option(
    "--debug", is_flag=True, help="Show the traceback of an internal error, and warnings."
)
def cli(debug: bool) -> None:
    """Numerical-stability diagnostics for softmax.

    Runs naive, max-shifted, log-domain and the framework's own softmax in float16, bfloat16,
    float32 and float64 against an exact reference, and reports overflow, NaN, underflow, lost
    probability mass, accuracy and argmax flips.

    Exit codes: 0 done (analyze reports its findings with 0 unless --fail-on says
    otherwise), 1 findings at the level --fail-on or check's policy fails on, 2 usage or
    unusable input, 3 internal error, 130 interrupted, 141 output pipe closed.
    """
    bound_spin_waiting()


for _command in (analyze, capture, thresholds, generate, check, schema):
    cli.add_command(_command)


def main() -> None:
    """The ``smcheck`` command (console script, ``python -m smcheck``): :func:`cli` in its process.

    A process of smcheck's own may manage the garbage collector (smcheck/cli/process.py).
    """
    own_process()
    _tolerate_narrow_encoding()
    try:
        cli()
    except OSError as e:  # stderr itself could not take the one-line error (2>/dev/full)
        if e.errno not in NO_ROOM:
            raise
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stdout.flush()  # the report, where stdout has room
        os._exit(ExitCode.ERROR)  # not exit(): the interpreter's last flush of stderr fails too


def _tolerate_narrow_encoding() -> None:
    """A terminal whose encoding lacks the report's characters (×, box rules: PYTHONIOENCODING=
    ascii, a C locale without UTF-8) gets ? for them, not an internal error mid-report."""
    out = sys.stdout
    if out is None or not hasattr(out, "reconfigure"):
        return
    try:
        "×─Δ".encode(out.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        out.reconfigure(errors="replace")
