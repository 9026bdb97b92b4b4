"""Shell completion through click's mechanism (``_SMCHECK_COMPLETE=bash_source smcheck``).

The comma-separated list options complete their last item; sources complete as file paths, or
generator names after ``gen:``. Names come from the registries they are checked against (the
generators' from config's copy of their names), imported only while completing.
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
    from smcheck.findings.policyconditions import NAMES, NEVER

    return [*NAMES, NEVER]


complete_dtypes = _list_items(_dtypes)
complete_methods = _list_items(_methods)
complete_conditions = _list_items(_conditions)


def _generators() -> Iterable[str]:
    from smcheck.config import GENERATOR_NAMES

    return GENERATOR_NAMES


complete_generators = _list_items(_generators)


def complete_sources(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Files and directories (the shell lists them), and generator names after ``gen:``.

    zsh and fish pass ``gen:ll`` whole. bash splits it at the colon (``:`` is in its
    COMP_WORDBREAKS) into the words ``gen``, ``:``, ``ll`` and replaces only the text after the
    colon, so there the names complete bare, after the earlier source words ``gen`` and ``:``.
    """
    if incomplete.startswith("gen:"):
        return [CompletionItem(f"gen:{n}") for n in _generators() if n.startswith(incomplete[4:])]
    before = tuple(ctx.params.get(param.name or "") or ())
    if (incomplete == ":" and before[-1:] == ("gen",)) or before[-2:] == ("gen", ":"):
        last = "" if incomplete == ":" else incomplete
        return [CompletionItem(n) for n in _generators() if n.startswith(last)]
    return [CompletionItem(incomplete, type="file")]
