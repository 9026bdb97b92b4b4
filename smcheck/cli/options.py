"""Option bundles shared by the commands, and the one place library errors become exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click
from click.core import ParameterSource

from smcheck.cli.completion import complete_dtypes, complete_methods
from smcheck.errors import SmcheckError, naming_option
from smcheck.report.renderers import format_name
from smcheck.threads import MAX_THREADS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """The one place where library errors become ``Error: ...`` and exit code 2."""
    try:
        yield
    except SmcheckError as e:
        exc = click.ClickException(naming_option(e))
        exc.exit_code = int(e.exit_code)
        raise exc from None


def split_commas(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """A click callback: repeated ``LIST`` options as one tuple of comma-separated items.

    An option given with nothing in it (``--dtype ''``) is a usage error, not the default.
    """
    items = tuple(v.strip() for item in value for v in item.split(",") if v.strip())
    if value and not items:
        raise click.BadParameter("the list is empty; name at least one, or leave the option out")
    return items


_DIM = click.option(
    "--dim",
    type=int,
    default=-1,
    show_default=True,
    help="Softmax axis; every other axis becomes rows (--dim 1 on NCHW = Softmax2d).",
)


def output_path(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback of an option that names a file to write: an empty path (``-o ''``) is
    refused before any work, naming the option (- is offered where the option takes it)."""
    from smcheck.output import check_output_path

    if value is not None:
        with user_errors():
            dash = bool(getattr(param.type, "allow_dash", False))
            check_output_path(value, "/".join(param.opts), dash=dash)
    return value


def _selection_options() -> list[Decorator]:
    """What is analysed: the axis, formats, methods, temperatures and arithmetic model."""
    return [
        _DIM,
        click.option(
            "--dtype",
            "dtypes",
            multiple=True,
            callback=split_commas,
            shell_complete=complete_dtypes,
            metavar="LIST",
            help="Formats: float16,bfloat16,float32,float64 "
            "(aliases fp16, bf16, half, float, double).",
        ),
        click.option(
            "--method",
            "methods",
            multiple=True,
            callback=split_commas,
            shell_complete=complete_methods,
            metavar="LIST",
            help="Methods: naive,shifted,logdomain,torch,lse-direct,online "
            "(default the first four; under --model strict the first three).",
        ),
        click.option(
            "--temperature",
            "temperatures",
            multiple=True,
            metavar="LIST",
            help="Divide logits by T in the format first: 0.5,1,2 or a log range LO:HI:N "
            "(at most 100 temperatures).",
        ),
        click.option(
            "--model",
            type=click.Choice(["framework", "strict"]),
            default="framework",
            show_default=True,
            help="Arithmetic model (see README).",
        ),
    ]


def _diagnostic_options(sites: bool) -> list[Decorator]:
    """Which extra diagnostics run: gradient targets, gradients, critical temperatures;
    ``sites``: as captured call sites take them, whose defaults are each site's own."""
    return [
        click.option(
            "--targets",
            default="argmax",
            show_default=not sites,
            metavar="argmax|argmin|FILE",
            help="Target classes of the cross-entropy gradient check: argmax (confident), "
            "argmin (confidently wrong), or a file of class indices, one per row "
            "(FILE:KEY in containers)"
            + ("; default: a loss site's own class targets, else argmax." if sites else "."),
        ),
        click.option(
            "--use",
            type=click.Choice(["auto", "probs", "logprobs", "loss"]),
            default="auto",
            show_default=not sites,  # a site's default is its op's use, not auto
            help="What the softmax feeds, which decides what a verdict judges: probs "
            "(attention, sampling), logprobs (scoring), loss (training: the cross-entropy "
            "loss and its gradient); auto: probs for inputs with masks, else loss"
            + (
                ". Default: each site's op's own use: probs for softmax, softmin and "
                "scaled_dot_product_attention, logprobs for log_softmax, loss for "
                "cross_entropy and nll_loss."
                if sites
                else " (a saved capture's sites: each op's own use)."
            ),
        ),
        click.option(
            "--gradients/--no-gradients",
            default=None,
            help="Back-propagate the cross-entropy loss through each method (framework model "
            "only: --gradients with --model strict is an error); default: when the use is loss. "
            "Only --use loss judges the loss and gradients: under another use their findings "
            "are notes and leave the verdicts as they are.",
        ),
        click.option(
            "--critical/--no-critical",
            default=None,
            help="Search each method × dtype's critical temperatures (the T below which it "
            "overflows or gives NaN, the T above which it does again where it does, and "
            "one-hot collapse); default: on when several temperatures are given.",
        ),
    ]


FTZ_HELP = (
    "Flush subnormal inputs to zero, and under the strict model every subnormal result (as a "
    "GPU's flush-to-zero mode does)."
)
"""``--ftz``'s help, which the policy schema's ``ftz`` says too (smcheck.cli.schema)."""

_SOFTMIN = click.option("--softmin", is_flag=True, help="Analyse softmin(x) = softmax(-x).")


class TypedFloat(click.ParamType):
    """A float option whose nonzero value float64 rounds to 0 or inf (``1e400``) is refused as
    typed, naming the option (``key``), where the later checks would see ``inf``."""

    name = "float"

    def __init__(self, key: str, what: str, example: str) -> None:
        self.key, self.what, self.example = key, what, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from smcheck.configchecks import refusing, typed_float

        if isinstance(value, float):
            return value
        try:
            with user_errors(), refusing(self.key, bare=True):
                return typed_float(str(value), self.what, self.example)
        except ValueError:
            self.fail(f"{value!r} is not a valid float.", param, ctx)


def _arithmetic_options() -> list[Decorator]:
    """How it is computed: softmin, flush-to-zero, masks, the chunking of rows, threads."""
    return [
        _SOFTMIN,
        click.option(
            "--ftz",
            is_flag=True,
            help=FTZ_HELP,
        ),
        click.option(
            "--mask-value",
            type=TypedFloat("mask_value", "mask value", "-1e4 (1e4 with softmin)"),
            default=None,
            metavar="V",
            help="The value the input masks with (e.g. -1e4), read as a mask like -inf; "
            "finfo.min, -1e4, -1e9 and other common mask values are recognised without it.",
        ),
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
            help="Working memory per chunk, in MiB. Also the most a source held whole may take: "
            "standard input (-) is refused past this many MiB, CSV/TXT past a quarter, JSON "
            "past a sixteenth, a compressed .npz member past it (see README, Memory).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(1, MAX_THREADS),
            default=None,
            metavar="N",
            help="Threads of torch's ops and smcheck's kernels (default: torch's choice, "
            "about one per core, and the CPUs for the kernels).",
        ),
    ]


def analysis_options(f: Callable[..., Any], sites: bool = False) -> Callable[..., Any]:
    """Options shared by the commands that run an analysis (in this order in ``--help``);
    ``sites``: for captured call sites, without --dim and --softmin (each site keeps its own
    call's axis and op)."""
    opts = [*_selection_options(), *_diagnostic_options(sites), *_arithmetic_options()]
    for opt in reversed(opts):
        if not (sites and opt in (_DIM, _SOFTMIN)):
            f = opt(f)
    return f


def site_analysis_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return analysis_options(f, sites=True)


def output_option() -> Decorator:
    """``-o/--output``, as analyze, check and capture take it."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        callback=output_path,
        help="Write the report here (atomically; - is standard output).",
    )


def one_report_on_stdout(outputs: Sequence[str | None], shown: bool) -> None:
    """Refuse two reports on standard output (``-``), where they would run into each other:
    ``outputs`` the paths given, ``shown`` whether the command prints its report there too."""
    if sum(p == "-" for p in outputs) + shown > 1:
        raise click.UsageError(
            "one report at most goes to standard output (-); write the others to files "
            "(or add -q, which prints none)"
        )


def read_stdin_once(sources: Sequence[str], targets: Any) -> None:
    """Standard input holds one stream: refuse ``-`` given twice, as sources or as the targets."""
    if list(sources).count("-") + (targets == "-") > 1:
        raise click.UsageError("standard input (-) can be read once; give - once")


def given_options(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """The analysis options given on the command line, converted as the analysis takes them
    (a capture's sites keep their own dtypes, targets and gradients otherwise)."""
    from smcheck.config import parse_temperatures

    out = {
        k: v
        for k, v in options.items()
        if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.PROMPT)
    }
    if "temperatures" in out:
        out["temperatures"] = parse_temperatures(out["temperatures"])
    if "memory_budget" in out:
        out["memory_budget"] *= 2**20
    return {k: v for k, v in out.items() if v not in ((), None)}


class FormatChoice(click.Choice):
    """The formats of a command, which also takes an alias of one (``table``: ``text``) as that
    format; help and completion list only the formats."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(format_name(value) if isinstance(value, str) else value, param, ctx)


def format_option(
    formats: Iterable[str], default: str, more: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` of a command that prints a report: one of ``formats``."""
    return click.option(
        "--format",
        "fmt",
        type=FormatChoice(list(formats)),
        default=default,
        show_default=True,
        help=f"Report format{more}.",
    )


EVERY_TABLE = "Every table: faults, accuracy, bounds, gradients, values, temperatures, notes."


def verbosity_options(
    details: str = EVERY_TABLE,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-v/--details`` (what it shows: ``details``) and ``-q/--quiet`` of the commands that
    print a report."""

    def add(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="Print only the summary line, no report whatever --format (-o still writes "
            "one); the exit code speaks.",
        )(f)
        return click.option("-v", "--details", is_flag=True, help=details)(f)

    return add


def check_verbosity(details: bool, quiet: bool) -> None:
    """A usage error for ``-v`` with ``-q``."""
    if details and quiet:
        raise click.UsageError("-v/--details and -q/--quiet exclude each other; give one")
