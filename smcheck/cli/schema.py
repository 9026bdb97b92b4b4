"""``smcheck schema``: the JSON Schema of the JSON reports, or of the ``[tool.smcheck]`` policy."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--policy",
    is_flag=True,
    help="The schema of the [tool.smcheck] table instead, for editors that validate TOML.",
)
def schema(policy: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of the JSON reports of analyze and check.

    \b
    Examples:
      smcheck schema > smcheck.schema.json
      smcheck schema --policy > smcheck-policy.schema.json
    """
    from importlib.resources import files

    name = "policy.schema.json" if policy else "schema.json"
    click.echo(files("smcheck").joinpath(name).read_text(encoding="utf-8"), nl=False)
