"""Option bundles shared by the commands, and the one place library errors become exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import click

from smcheck.errors import SmcheckError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """The one place where library errors become ``Error: ...`` and exit code 2."""
    try:
        yield
    except SmcheckError as e:
        exc = click.ClickException(str(e))
        exc.exit_code = int(e.exit_code)
        raise exc from None


def split_commas(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """A click callback: repeated ``LIST`` options as one tuple of comma-separated items."""
    return tuple(v.strip() for item in value for v in item.split(",") if v.strip())


def _selection_options() -> list[Decorator]:
    """What is analysed: the axis, formats, methods, temperatures and arithmetic model."""
    return [
        click.option(
            "--dim",
            type=int,
            default=-1,
            show_default=True,
            help="Softmax axis; every other axis becomes rows (--dim 1 on NCHW = Softmax2d).",
        ),
        click.option(
            "--dtype",
            "dtypes",
            multiple=True,
            callback=split_commas,
            metavar="LIST",
            help="Formats: float16,bfloat16,float32,float64 "
            "(aliases fp16, bf16, half, float, double).",
        ),
        click.option(
            "--method",
            "methods",
            multiple=True,
            callback=split_commas,
            metavar="LIST",
            help="Methods: naive,shifted,logdomain,torch,lse-direct,online "
            "(default the first four; under --model strict the first three).",
        ),
        click.option(
            "--temperature",
            "temperatures",
            multiple=True,
            metavar="LIST",
            help="Divide logits by T in the format first: 0.5,1,2 or a log range LO:HI:N.",
        ),
        click.option(
            "--model",
            type=click.Choice(["framework", "strict"]),
            default="framework",
            show_default=True,
            help="Arithmetic model (see README).",
        ),
    ]


def _diagnostic_options() -> list[Decorator]:
    """Which extra diagnostics run: gradient targets, gradients, critical temperatures."""
    return [
        click.option(
            "--targets",
            default="argmax",
            show_default=True,
            metavar="argmax|argmin|FILE",
            help="Target classes of the cross-entropy gradient check: argmax (confident), "
            "argmin (confidently wrong), or a file of class indices, one per row "
            "(FILE:KEY in containers).",
        ),
        click.option(
            "--gradients/--no-gradients",
            default=True,
            show_default=True,
            help="Back-propagate the cross-entropy loss through each method (framework model).",
        ),
        click.option(
            "--critical/--no-critical",
            default=None,
            help="Search each method × dtype's critical temperatures (lowest safe T, one-hot "
            "collapse); default: on when several temperatures are given.",
        ),
    ]


def _arithmetic_options() -> list[Decorator]:
    """How it is computed: softmin, flush-to-zero, and the chunking of rows."""
    return [
        click.option("--softmin", is_flag=True, help="Analyse softmin(x) = softmax(-x)."),
        click.option("--ftz", is_flag=True, help="Flush subnormal results to zero (strict model)."),
        click.option(
            "--chunk-rows",
            type=click.IntRange(min=1),
            default=None,
            help="Rows per chunk (default: from --memory-budget).",
        ),
        click.option(
            "--memory-budget",
            type=click.IntRange(min=1),
            default=512,
            show_default=True,
            metavar="MIB",
            help="Working memory per chunk, in MiB.",
        ),
    ]


def analysis_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that run an analysis (in this order in ``--help``)."""
    opts = [*_selection_options(), *_diagnostic_options(), *_arithmetic_options()]
    for opt in reversed(opts):
        f = opt(f)
    return f


def verbosity_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-v/--details`` and ``-q/--quiet`` of the commands that print a report."""
    f = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Print only the summary line; the exit code speaks.",
    )(f)
    return click.option(
        "-v",
        "--details",
        is_flag=True,
        help="Every table: faults, accuracy, bounds, gradients, values, temperatures, notes.",
    )(f)


def check_verbosity(details: bool, quiet: bool) -> None:
    """A usage error for ``-v`` with ``-q``."""
    if details and quiet:
        raise click.UsageError("-v/--details and -q/--quiet exclude each other; give one")
