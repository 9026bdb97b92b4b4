"""``smcheck check``: options -> Policy -> check.run -> renderers -> exit 0, 1 or 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from smcheck.cli.completion import complete_conditions, complete_sources
from smcheck.cli.messages import say, show
from smcheck.cli.options import (
    analysis_options,
    check_verbosity,
    format_option,
    one_report_on_stdout,
    output_option,
    output_path,
    read_stdin_once,
    split_commas,
    user_errors,
    verbosity_options,
)
from smcheck.cli.process import import_analysis
from smcheck.errors import ConfigError
from smcheck.report.phrases import SUMMARY_BREAKS, plural
from smcheck.report.renderers import CHECK_FORMATS, format_name


def parse_report_options(items: Sequence[str]) -> list[tuple[str, str]]:
    """``FORMAT=FILE`` pairs of ``--report`` (raises ConfigError on a bad one)."""
    from smcheck.output import check_output_path

    out = []
    for item in items:
        name, sep, path = item.partition("=")
        fmt = format_name(name)
        if not sep or fmt not in CHECK_FORMATS:
            raise ConfigError(
                f"bad --report {item!r}; use FORMAT=FILE with FORMAT one of "
                f"{', '.join(CHECK_FORMATS)}, e.g. --report junit=smcheck.xml"
            )
        check_output_path(path, f"--report {name}=")
        out.append((fmt, path))
    return out


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...", shell_complete=complete_sources)
@click.option("--config", type=click.Path(dir_okay=False), help="Policy file (else the nearest).")
@click.option("--isolated", is_flag=True, help="Ignore config files: defaults and options only.")
@analysis_options
@click.option(
    "--fail-on",
    multiple=True,
    callback=split_commas,
    shell_complete=complete_conditions,
    metavar="LIST",
    help="Conditions that fail: fail, warn, nan, overflow, error-ulp>8, ... or never.",
)
@click.option(
    "--warn-on",
    multiple=True,
    callback=split_commas,
    shell_complete=complete_conditions,
    metavar="LIST",
    help="Conditions reported as warnings.",
)
@format_option(CHECK_FORMATS, "text", " (more at once: --report FORMAT=FILE)")
@output_option()
@click.option(
    "--report", "reports", multiple=True, metavar="FORMAT=FILE", help="Also write FORMAT to FILE."
)
@click.option(
    "--baseline", type=click.Path(dir_okay=False), help="Fail only on violations not in this file."
)
@click.option(
    "--write-baseline",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=output_path,
    help="Record the current violations as accepted: without --baseline this run is then "
    "judged against them and passes; with it, against the old baseline (- writes it to "
    "standard output).",
)
@click.option(
    "--skip-multi-tensor",
    is_flag=True,
    help="Leave out, with a note, a file of several tensors given without a KEY (a model "
    "checkpoint) instead of failing on it (the pre-commit hook sets this).",
)
@verbosity_options(
    "One line per violation, the baselined ones too, where the default groups them by source "
    "and condition (the tables are analyze's -v)."
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
    skip_multi_tensor: bool,
    details: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Check logits against a policy, for CI: exit 0 pass, 1 violations, 2 bad input.

    The policy is [tool.smcheck] in the nearest pyproject.toml (or smcheck.toml, or --config);
    options given here override it. SOURCE: files, globs, directories, FILE:KEY, gen:NAME or
    - (stdin).

    \b
    Examples:
      smcheck check outputs/*.npy
      smcheck check outputs/ --dtype bf16 --fail-on nan,overflow,dead-gradient
      smcheck check outputs/ --format github --report junit=smcheck.xml
      smcheck check outputs/ --baseline smcheck-baseline.json
    """
    from pathlib import Path

    from click.core import ParameterSource

    from smcheck.check.policy import policy_from_options
    from smcheck.output import write_output
    from smcheck.report.renderers import render, require_format

    given = {
        k: v
        for k, v in options.items()
        if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.PROMPT)
    }
    check_verbosity(details, quiet)
    with user_errors():
        policy = policy_from_options(Path.cwd(), config, isolated, given, fail_on, warn_on)
        extra = parse_report_options(reports)
        require_format(fmt, f"--format {fmt}")
        for f, _ in extra:
            require_format(f, f"--report {f}=FILE")
        if not sources and not policy.sources:
            raise click.UsageError("give a SOURCE (file, glob, directory) or sources in the policy")
        read_stdin_once(sources or policy.sources, policy.targets)
        one_report_on_stdout(
            [p for _, p in extra] + [output, write_baseline], output is None and not quiet
        )
        writes = [*extra, *([(fmt, output)] if output else [])]
        outputs = [("--report", p) for _, p in extra] + [("-o/--output", output)] * bool(output)
        import_analysis()  # after the usage checks: those stay fast, without torch
        from smcheck.check.run import check_sources

        result, written = check_sources(
            sources or policy.sources, policy, baseline, write_baseline, outputs, skip_multi_tensor
        )
        for f, path in writes:
            write_output(path, render(CHECK_FORMATS, result, f, details))
    if output is None:
        show(CHECK_FORMATS[fmt], result, details=details, quiet=quiet)
    finish(result, fmt, output, written, write_baseline, quiet=quiet)


def finish(
    result: Any,
    fmt: str,
    output: str | None,
    written: int | None,
    write_baseline: str | None,
    *,
    quiet: bool = False,
) -> None:
    """The stderr lines after the report (step summary, errors, baseline, summary) and the exit.

    ``quiet``: no report was printed, so the summary line is the whole output.
    """
    from smcheck.check.run import append_step_summary
    from smcheck.output import STDOUT
    from smcheck.report.terminal.check import summary_line

    problem = append_step_summary(result)
    if problem:
        click.echo(f"smcheck: {problem}", err=True)
    for e in result.errors:
        click.echo(f"Error: {e.message}", err=True)
    if written is not None:
        where = "standard output" if write_baseline == STDOUT else write_baseline
        click.echo(f"smcheck: wrote {plural(written, 'violation')} to {where}", err=True)
    elif write_baseline is not None:
        click.echo(f"smcheck: {write_baseline} not written: not every source was checked", err=True)
    if fmt != "text" or output is not None or quiet:  # the text report ends with this line
        say(f"smcheck check: {summary_line(result)}", SUMMARY_BREAKS)
    sys.exit(result.exit_code)
