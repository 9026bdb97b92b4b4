"""``smcheck schema``: the JSON Schema of the JSON reports."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the JSON reports of analyze and check.

    \b
    Example:
      smcheck schema > smcheck.schema.json
    """
    from importlib.resources import files

    click.echo(files("smcheck").joinpath("schema.json").read_text(encoding="utf-8"), nl=False)
