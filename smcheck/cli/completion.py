"""Shell completion through click's mechanism (``_SMCHECK_COMPLETE=bash_source smcheck``).

The comma-separated list options complete their last item; sources complete as file paths.
Names come from the registries they are checked against, imported only while completing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click
from click.shell_completion import CompletionItem

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _list_items(names: Callable[[], Iterable[str]]) -> Completer:
    def complete(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
        head, comma, last = incomplete.rpartition(",")
        return [CompletionItem(head + comma + n) for n in names() if n.startswith(last)]

    return complete


def _dtypes() -> Iterable[str]:
    from smcheck.dtypes import DTYPES

    return DTYPES


def _methods() -> Iterable[str]:
    from smcheck.methods import METHODS

    return METHODS


def _conditions() -> Iterable[str]:
    from smcheck.findings.policyconditions import LEVELS, METRICS

    return [*LEVELS, *METRICS, "never"]


complete_dtypes = _list_items(_dtypes)
complete_methods = _list_items(_methods)
complete_conditions = _list_items(_conditions)


def complete_sources(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Files and directories: the shell lists them."""
    return [CompletionItem(incomplete, type="file")]
