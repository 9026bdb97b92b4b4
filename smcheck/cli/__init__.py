"""The command line: options -> AnalysisConfig -> api -> renderer -> exit code. Nothing else."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

import click

from smcheck import __version__
from smcheck.errors import ExitCode, SmcheckError
from smcheck.openmp import bound_spin_waiting

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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
    return tuple(v.strip() for item in value for v in item.split(",") if v.strip())


class OutputFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class FailOn(str, Enum):
    NEVER = "never"
    WARN = "warn"
    FAIL = "fail"


def analysis_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that run an analysis."""
    opts = [
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
            help="Formats: float16,bfloat16,float32,float64 (aliases fp16, bf16, half, float, double).",
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
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="smcheck")
def cli() -> None:
    """Numerical-stability diagnostics for softmax.

    Runs naive, max-shifted, log-domain and the framework's own softmax in float16, bfloat16,
    float32 and float64 against an exact reference, and reports overflow, NaN, underflow, lost
    probability mass, accuracy and argmax flips.
    """
    bound_spin_waiting()


@cli.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option(
    "--values", metavar="TEXT", help='Literal logits: "-999,1,2,5,6"; ";" separates rows.'
)
@analysis_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default="table",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the report here (atomically)."
)
@click.option(
    "--fail-on",
    type=click.Choice([f.value for f in FailOn]),
    default="never",
    show_default=True,
    help="Exit 1 when any cell reaches this verdict.",
)
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (it is shown only on a terminal anyway)."
)
def analyze(
    sources: tuple[str, ...],
    values: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    no_progress: bool,
    **options: Any,
) -> None:
    """Analyse the softmax of logits from files, stdin (-), --values or gen:NAME specs.

    \b
    Examples:
      smcheck analyze logits.npy
      smcheck analyze --values "-999,1,2,5,6"
      smcheck analyze --values "1,2,3,12" --dtype float16
      smcheck analyze seg.npy --dim 1 --format json -o report.json
      smcheck analyze gen:llm:shape=4x32000,seed=1 --dtype bf16
    """
    from smcheck.api import analyze_loaded, make_config
    from smcheck.config import parse_temperatures
    from smcheck.sources.loaders import load_logits, parse_values
    from smcheck.progress import progress_bars
    from smcheck.report.model import Report

    with user_errors():
        options["temperatures"] = parse_temperatures(options["temperatures"])
        options["memory_budget"] = options["memory_budget"] * 2**20
        cfg = make_config(**options)
        if not sources and values is None:
            raise click.UsageError("give a SOURCE (file, '-', gen:NAME) or --values")
        loaded = [parse_values(values)] if values is not None else []
        stdin = sys.stdin.buffer
        loaded += [load_logits(s, stdin=stdin) for s in sources]
        with progress_bars(sys.stderr.isatty() and not no_progress) as progress:
            report = Report([analyze_loaded(src, cfg, progress) for src in loaded], __version__)
        emit(report, fmt, output)
    summarise(report)
    level = {"never": None, "warn": 1, "fail": 2}[fail_on]
    if level is not None and report.verdict.rank >= level:
        sys.exit(ExitCode.FINDINGS)


def emit(report: Any, fmt: str, output: str | None) -> None:
    """Render the report to stdout or --output (written only once complete)."""
    from smcheck.output import write_atomic

    if fmt == OutputFormat.JSON:
        from smcheck.report.json import to_json

        text = to_json(report) + "\n"
    elif fmt == OutputFormat.MARKDOWN:
        from smcheck.report.markdown import report_markdown

        text = report_markdown(report)
    else:
        from rich.console import Console

        from smcheck.report.terminal.tables import build_tables

        if output is None:
            console = Console(width=None if sys.stdout.isatty() else 100)
            for r in build_tables(report):
                console.print(r)
            return
        import io

        console = Console(record=True, width=100, file=io.StringIO())
        for r in build_tables(report):
            console.print(r)
        text = console.export_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summarise(report: Any) -> None:
    """The one-line human summary, on stderr."""
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


@cli.command()
@click.option(
    "--dtype",
    "dtypes",
    multiple=True,
    callback=split_commas,
    metavar="LIST",
    help="Formats to show (default all).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def thresholds(dtypes: tuple[str, ...], fmt: str) -> None:
    """Show each format's limits: where exp overflows or underflows and sums stall.

    \b
    Example:
      smcheck thresholds --dtype fp16,bf16
    """
    from smcheck.report.terminal.limits import limits_rows, limits_table

    with user_errors():
        rows = limits_rows(dtypes)
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
    else:
        from rich.console import Console

        Console(width=None if sys.stdout.isatty() else 100).print(limits_table(rows))


@cli.command()
@click.argument("name")
@click.option("--shape", metavar="AxB", help="Shape, e.g. 64x10 (default: the generator's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--value", type=float, help="The value of the 'constant' generator.")
@click.option(
    "--param", "params", multiple=True, metavar="K=V", help="Generator parameter (repeatable)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output .npy file."
)
def generate(
    name: str,
    shape: str | None,
    seed: int,
    value: float | None,
    params: tuple[str, ...],
    output: str,
) -> None:
    """Write seeded synthetic logits to a .npy file (same seed, same bytes).

    \b
    Examples:
      smcheck generate llm --shape 4x32000 --seed 1 -o llm.npy
      smcheck generate constant --shape 1x4096 --value 0 -o zeros.npy
    """
    import io

    import numpy as np

    from smcheck.sources.generators import generate_logits, parse_generator_spec
    from smcheck.output import write_atomic

    with user_errors():
        spec = f"gen:{name}" + (":" + ",".join(params) if params else "")
        gname, kw = parse_generator_spec(spec)
        if shape:
            kw["shape"] = parse_generator_spec(f"gen:{gname}:shape={shape}")[1]["shape"]
        if value is not None:
            kw["value"] = value
        kw.setdefault("seed", seed)
        arr = generate_logits(gname, **kw)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        write_atomic(output, buf.getvalue())
    click.echo(f"wrote {output}: {arr.dtype} {list(arr.shape)}", err=True)



@cli.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--config", type=click.Path(dir_okay=False), help="Policy file (else the nearest).")
@click.option("--isolated", is_flag=True, help="Ignore config files: defaults and options only.")
@analysis_options
@click.option(
    "--fail-on",
    multiple=True,
    callback=split_commas,
    metavar="LIST",
    help="Conditions that fail: fail, warn, nan, overflow, error-ulp>8, ... or never.",
)
@click.option(
    "--warn-on",
    multiple=True,
    callback=split_commas,
    metavar="LIST",
    help="Conditions reported as warnings.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "junit", "github"]),
    default="text",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option(
    "--report", "reports", multiple=True, metavar="FORMAT=FILE", help="Also write FORMAT to FILE."
)
@click.option(
    "--baseline", type=click.Path(dir_okay=False), help="Fail only on violations not in this file."
)
@click.option(
    "--write-baseline", type=click.Path(dir_okay=False), help="Record the current violations."
)
@click.pass_context
def check(
    ctx: click.Context,
    sources: tuple[str, ...],
    config: str | None,
    isolated: bool,
    fail_on: tuple[str, ...],
    warn_on: tuple[str, ...],
    fmt: str,
    output: str | None,
    reports: tuple[str, ...],
    baseline: str | None,
    write_baseline: str | None,
    **options: Any,
) -> None:
    """Check logits files against a policy, for CI: exit 0 pass, 1 violations, 2 errors.

    The policy is [tool.smcheck] in the nearest pyproject.toml (or smcheck.toml, or --config);
    options given here override it. SOURCE: files, globs, directories, FILE:KEY or gen:NAME.

    \b
    Examples:
      smcheck check outputs/*.npy
      smcheck check outputs/ --dtype bf16 --fail-on nan,overflow,dead-gradient
      smcheck check outputs/ --format github --report junit=smcheck.xml
      smcheck check outputs/ --baseline smcheck-baseline.json
    """
    from pathlib import Path

    from click.core import ParameterSource

    from smcheck.check.ci import (
        append_step_summary,
        check_sources,
        cli_policy,
        parse_report_options,
        render,
    )
    from smcheck.output import write_atomic

    given = {
        k: v
        for k, v in options.items()
        if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.PROMPT)
    }
    with user_errors():
        policy = cli_policy(Path.cwd(), config, isolated, given, fail_on, warn_on)
        extra = parse_report_options(reports)
        if not sources and not policy.sources:
            raise click.UsageError("give a SOURCE (file, glob, directory) or sources in the policy")
        result, written = check_sources(sources or policy.sources, policy, baseline, write_baseline)
        for f, path in [*extra, *([(fmt, output)] if output else [])]:
            write_atomic(path, render(result, f))
    if output is None:
        if fmt == "text":
            from rich.console import Console

            from smcheck.report.terminal.check import build_check_text

            console = Console(width=None if sys.stdout.isatty() else 100)
            for r in build_check_text(result):
                console.print(r, soft_wrap=not sys.stdout.isatty())
        else:
            click.echo(render(result, fmt), nl=False)
    problem = append_step_summary(result)
    if problem:
        click.echo(f"smcheck: {problem}", err=True)
    for e in result.errors:
        click.echo(f"Error: {e.message}", err=True)
    if written is not None:
        click.echo(f"smcheck: wrote {plural(written, 'violation')} to {write_baseline}", err=True)
    elif write_baseline is not None:
        click.echo(f"smcheck: {write_baseline} not written: not every source was checked", err=True)
    from smcheck.report.terminal.check import summary_line

    if fmt != "text" or output is not None:  # the text report ends with this line
        click.echo(f"smcheck check: {summary_line(result)}", err=True)
    sys.exit(result.exit_code)


@cli.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the JSON reports of analyze and check.

    \b
    Example:
      smcheck schema > smcheck.schema.json
    """
    from importlib.resources import files

    click.echo(files("smcheck").joinpath("schema.json").read_text(encoding="utf-8"), nl=False)
