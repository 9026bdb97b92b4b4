"""``smcheck schema``: the JSON Schema of the JSON reports, or of the ``[tool.smcheck]`` policy."""

from __future__ import annotations

import json
from typing import Any

import click

from smcheck.cli.options import FTZ_HELP
from smcheck.threads import MAX_THREADS


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
    if policy:
        click.echo(json.dumps(policy_schema(), indent=2))
        return
    from importlib.resources import files

    click.echo(files("smcheck").joinpath("schema.json").read_text(encoding="utf-8"), nl=False)


def policy_schema() -> dict[str, Any]:
    """The schema of the policy table: the package's ``policy.schema.json`` with what the code
    defines filled in, so that it cannot drift from it: the most threads the loader takes
    (smcheck.threads.MAX_THREADS), ``--ftz``'s help as the ``ftz`` key's description, and the
    types and patterns of methods, dtypes, temperatures and conditions made from the names the
    loader knows (smcheck.check.policyschema), and no key set by both its spellings."""
    from importlib.resources import files

    from smcheck.check.policyschema import generated, one_spelling

    text = files("smcheck").joinpath("policy.schema.json").read_text(encoding="utf-8")
    out: dict[str, Any] = json.loads(text)
    keys = out["properties"]
    keys["threads"]["maximum"] = MAX_THREADS
    keys["ftz"] = {"description": FTZ_HELP, **keys["ftz"]}
    for key, parts in generated().items():
        where = out["$defs"] if key.startswith("$defs/") else keys
        where[key.removeprefix("$defs/")].update(parts)
    out["dependentSchemas"] = one_spelling(keys)
    return out
