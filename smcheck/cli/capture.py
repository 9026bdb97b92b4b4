"""``smcheck capture SCRIPT [ARGS]``: run a script under smcheck.capture(), report, exit 0/1/2."""

from __future__ import annotations

import sys
from typing import Any

import click

from smcheck.cli.analyze import emit
from smcheck.cli.completion import complete_conditions
from smcheck.cli.messages import say, summarise
from smcheck.cli.options import (
    check_verbosity,
    format_option,
    given_options,
    output_option,
    output_path,
    site_analysis_options,
    split_commas,
    user_errors,
    verbosity_options,
)
from smcheck.errors import ExitCode
from smcheck.report.phrases import plural
from smcheck.report.renderers import ANALYZE_FORMATS


@click.command(context_settings={"allow_interspersed_args": False})  # after SCRIPT: its own
@click.argument("script", metavar="SCRIPT")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[ARGS]...")
@click.option("-m", "as_module", is_flag=True, help="SCRIPT is a module name, as python -m.")
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    callback=output_path,
    help="Also save the capture here.",
)
@click.option(
    "--max-rows-per-site",
    type=click.IntRange(min=1),
    default=4096,
    show_default=True,
    help="Rows kept per call site: a seeded random sample of the rows it saw (all are counted).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the row sample.")
@site_analysis_options
@format_option(ANALYZE_FORMATS, "text")
@output_option()
@click.option(
    "--fail-on",
    multiple=True,
    callback=split_commas,
    shell_complete=complete_conditions,
    metavar="LIST",
    help="Conditions that fail (as check): fail, warn, nan, ... or never; default the policy's.",
)
@click.option("--isolated", is_flag=True, help="Ignore config files: defaults and options only.")
@verbosity_options()
@click.pass_context
def capture(
    ctx: click.Context,
    script: str,
    args: tuple[str, ...],
    as_module: bool,
    save: str | None,
    max_rows_per_site: int,
    seed: int,
    fmt: str,
    output: str | None,
    fail_on: tuple[str, ...],
    isolated: bool,
    details: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Run a Python script under smcheck.capture() and report every softmax it ran.

    Each call site (module path, op, file and line) is one source, judged in the format it ran
    in and the wider ones. Exit 0 pass, 1 a site violates --fail-on (or [tool.smcheck]),
    2 errors (a script that ran no softmax too: nothing was checked). Options after SCRIPT go
    to the script. While the report goes to standard output, the script's own output (print,
    sys.stdout.write) goes to standard error, so the report stays whole (JSON parses).

    \b
    Examples:
      smcheck capture train.py --epochs 1
      smcheck capture --save run.safetensors --fail-on nan,overflow eval.py
      smcheck capture -m mypackage.evaluate
    """
    from pathlib import Path

    from smcheck.api import check_data_name
    from smcheck.capture.analysis import check_site_options
    from smcheck.capture.assertions import analysis_options as policy_options
    from smcheck.capture.assertions import policy_violations
    from smcheck.capture.runner import run_script
    from smcheck.check.policy import load_policy, parse_conditions
    from smcheck.output import STDOUT, refuse_unsafe_outputs

    check_verbosity(details, quiet)
    with user_errors():
        policy = load_policy(Path.cwd(), None, isolated)
        if fail_on:
            policy = policy.override(fail_on=parse_conditions(list(fail_on)))
        given = given_options(ctx, options)
        opts = policy_options(policy) | given
        # a refused mix names the config file where its keys (not overridden here) came from
        from_file = [k for k in policy_options(policy) if k not in given]
        with policy.naming_file(from_file):
            check_site_options(opts)  # refused before the script runs, not after
        written = [("--save", save)] * bool(save) + [("-o/--output", output)] * bool(output)
        refuse_unsafe_outputs(written, [] if as_module else [script])  # before the script runs
        if save == STDOUT:
            raise click.UsageError("--save writes a binary .safetensors file: give it a path")
        if save:
            check_data_name(save, ".safetensors")
        # named from here: the script may change the working directory
        save, output = (str(Path(p).absolute()) if p and p != STDOUT else p for p in (save, output))
        # the script's prints must not run into a report on standard output (JSON must parse)
        on_stdout = output == STDOUT or (output is None and not quiet)
        cap = run_script(script, list(args), as_module, max_rows_per_site, seed, on_stdout)
        if save is not None:
            cap.save(save)
        with policy.naming_file(from_file):
            report = cap.analyze(**opts)
        emit(report, fmt, output, details=details, quiet=quiet)
    summarise(report)
    for failed in cap.failures:  # said, so that a call missing from the report is not silent
        say(f"smcheck capture: a call could not be recorded: {failed}")
    found = policy_violations(report, policy)
    for v in [] if quiet else found:  # -q: the summary lines alone, as check -q
        say(f"smcheck: {v}")
    if found:
        click.echo(f"smcheck capture: {plural(len(found), 'violation')}", err=True)
        sys.exit(ExitCode.FINDINGS)
