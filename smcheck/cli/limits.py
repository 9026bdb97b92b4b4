"""``smcheck thresholds``: each format's limits (where exp overflows, p underflows, sums stall)."""

from __future__ import annotations

import click

from smcheck.cli.options import FormatChoice, split_commas, user_errors


@click.command()
@click.option(
    "--dtype",
    "dtypes",
    multiple=True,
    callback=split_commas,
    metavar="LIST",
    help="Formats to show (default all).",
)
@click.option(
    "--format",
    "fmt",
    type=FormatChoice(["text", "json"]),  # table: text's hidden alias, as in analyze and check
    default="text",
    show_default=True,
    help="Output format.",
)
def thresholds(dtypes: tuple[str, ...], fmt: str) -> None:
    """Show each format's limits: where exp overflows or underflows and sums stall.

    \b
    Example:
      smcheck thresholds --dtype fp16,bf16
    """
    from smcheck.configchecks import refusing
    from smcheck.dtypes import format_limits

    with user_errors(), refusing("dtypes", bare=True):
        rows = format_limits(dtypes)
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
    else:
        from smcheck.cli.messages import print_rich
        from smcheck.report.terminal.fit import Fit
        from smcheck.report.terminal.limits import limits_table

        print_rich([Fit(limits_table(rows))])  # split by columns where it does not fit
