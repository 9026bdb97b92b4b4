"""The command line: the ``smcheck`` group and its commands, one module each."""

from __future__ import annotations

import click

from smcheck import __version__
from smcheck.cli.analyze import analyze
from smcheck.cli.capture import capture
from smcheck.cli.check import check
from smcheck.cli.generate import generate
from smcheck.cli.limits import thresholds
from smcheck.cli.schema import schema
from smcheck.openmp import bound_spin_waiting

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="smcheck")
def cli() -> None:
    """Numerical-stability diagnostics for softmax.

    Runs naive, max-shifted, log-domain and the framework's own softmax in float16, bfloat16,
    float32 and float64 against an exact reference, and reports overflow, NaN, underflow, lost
    probability mass, accuracy and argmax flips.
    """
    bound_spin_waiting()


for _command in (analyze, capture, thresholds, generate, check, schema):
    cli.add_command(_command)
