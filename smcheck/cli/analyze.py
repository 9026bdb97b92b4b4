"""``smcheck analyze``: options -> AnalysisConfig -> api.run_sources -> renderer -> exit code."""

from __future__ import annotations

import sys
from typing import Any

import click

from smcheck.cli.completion import complete_sources
from smcheck.cli.messages import show, summarise
from smcheck.cli.options import (
    analysis_options,
    check_verbosity,
    format_option,
    given_options,
    output_option,
    read_stdin_once,
    user_errors,
    verbosity_options,
)
from smcheck.cli.process import import_analysis
from smcheck.errors import ExitCode
from smcheck.report.renderers import ANALYZE_FORMATS, require_format

FAIL_ON_LEVELS: dict[str, int | None] = {"never": None, "warn": 1, "fail": 2}
"""``--fail-on``: the verdict rank (WARN 1, FAIL 2) from which the exit code is 1."""


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...", shell_complete=complete_sources)
@click.option(
    "--values", metavar="TEXT", help='Literal logits: "-999,1,2,5,6"; ";" separates rows.'
)
@analysis_options
@format_option(ANALYZE_FORMATS, "text")
@output_option()
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_ON_LEVELS)),
    default="never",
    show_default=True,
    help="Exit 1 when the input or any judged cell (not a bracketed comparison) reaches this "
    "verdict.",
)
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (it is shown only on a terminal anyway)."
)
@verbosity_options()
@click.pass_context
def analyze(
    ctx: click.Context,
    sources: tuple[str, ...],
    values: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    no_progress: bool,
    details: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Analyse the softmax of logits from files, stdin (-), --values or gen:NAME specs.

    \b
    Examples:
      smcheck analyze logits.npy
      smcheck analyze --values "-999,1,2,5,6"
      smcheck analyze --values "1,2,3,12" --dtype float16 -v
      smcheck analyze seg.npy --dim 1 --format json -o report.json
      smcheck analyze gen:llm:shape=4x32000,seed=1 --dtype bf16
    """
    from smcheck.config import AnalysisConfig, parse_temperatures
    from smcheck.output import refuse_unsafe_outputs
    from smcheck.progress import progress_bars

    check_verbosity(details, quiet)
    with user_errors():
        require_format(fmt, f"--format {fmt}")
        options["temperatures"] = parse_temperatures(options["temperatures"])
        options["memory_budget"] = options["memory_budget"] * 2**20
        # a saved capture reads --mask-value by its sign (its softmin sites take a positive
        # one), so that check waits until the file is known to be a capture
        may_be_capture = values is None and len(sources) == 1 and _safetensors(sources[0])
        cfg = AnalysisConfig.from_options(
            **{**options, "mask_value": None} if may_be_capture else options
        )
        if not sources and values is None:
            raise click.UsageError("give a SOURCE (file, '-', gen:NAME) or --values")
        read_stdin_once(sources, cfg.targets)
        import_analysis()  # after the usage checks: those stay fast, without torch
        from smcheck.api import input_files, literal_source, run_sources
        from smcheck.capture.analysis import refuse_site_options
        from smcheck.capture.store import analyze_saved, is_capture_file

        specs: list[Any] = [literal_source(values)] if values is not None else []
        specs += sources
        stdin = getattr(sys.stdin, "buffer", None)  # sys.stdin is None when closed (<&-)
        if output is not None:
            outputs = [("-o/--output", output)]
            refuse_unsafe_outputs(outputs, input_files(specs, cfg.targets, stdin))
        if len(specs) == 1 and is_capture_file(specs[0]):  # a saved smcheck.capture()
            given = given_options(ctx, options)
            refuse_site_options(given, "--{}")
            report = analyze_saved(specs[0], **given)
        else:
            if may_be_capture:  # not a capture: the mask value is checked as for any logits
                cfg = AnalysisConfig.from_options(**options)
            tty = sys.stderr is not None and sys.stderr.isatty()
            with progress_bars(tty and not no_progress) as progress:
                report = run_sources(specs, cfg, stdin=stdin, progress=progress)
        emit(report, fmt, output, details=details, quiet=quiet)
    summarise(report)
    level = FAIL_ON_LEVELS[fail_on]
    if level is not None and report.verdict.rank >= level:
        sys.exit(ExitCode.FINDINGS)


def _safetensors(spec: str) -> bool:
    """The name test of ``capture.store.capture_metadata``, without importing it (and numpy)."""
    return spec.lower().endswith(".safetensors")


def emit(
    report: Any, fmt: str, output: str | None, *, details: bool = False, quiet: bool = False
) -> None:
    """Render the report to stdout or --output (written only once complete)."""
    from smcheck.output import write_output
    from smcheck.report.renderers import render

    if output is not None:
        write_output(output, render(ANALYZE_FORMATS, report, fmt, details))
    else:
        show(ANALYZE_FORMATS[fmt], report, details=details, quiet=quiet)
