"""The parts of the policy's JSON Schema (``smcheck schema --policy``) made from what the loader
checks against: method and dtype names, temperature syntax, condition names and limits.

Patterns, so that an editor refuses what ``policykeys`` refuses where a JSON Schema can say it:
a string form is a comma-separated list whose items may be blank (they are skipped) but not all
(``""``, ``" , "``: an empty list); names match in any case, as the loader lowers them. What no
schema can say is listed in docs/ci.md ("Editor validation").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any

from smcheck.config import MAX_TEMPERATURES
from smcheck.dtypes import ALIASES, FORMATS
from smcheck.findings.policyconditions import (
    CONDITION_ALIASES,
    INPUT_METRICS,
    LEVELS,
    METRICS,
    NEVER,
)
from smcheck.methods import METHODS

SOMETHING = r"[^,\s]"
"""A character other than a separator: a string of no item (``""``, ``" , "``) is refused."""

_DIGITS = r"\d(?:_?\d)*"  # Python's float() and int() take single underscores between digits
_ZEROS = r"0(?:_?0)*"
_NONZERO = r"(?:\d_?)*[1-9](?:_?\d)*"  # digits, one of them not 0
_EXP = rf"(?:[eE][+-]?{_DIGITS})?"
POSITIVE = rf"\+?(?:{_NONZERO}(?:\.(?:{_DIGITS})?)?|(?:{_DIGITS})?\.{_NONZERO}){_EXP}"
"""A number float() reads as > 0 (or as inf, when it overflows: a schema cannot tell)."""
NONNEGATIVE = (
    rf"(?:\+?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})"
    rf"|-(?:{_ZEROS}(?:\.(?:{_ZEROS})?)?|\.{_ZEROS})){_EXP}"
)
"""A number float() reads as >= 0 (-0 included)."""


def any_case(word: str, dash: str = "-") -> str:
    """A pattern of ``word`` in any letter case (the loader lowers names); ``-`` as ``dash``."""
    out = []
    for c in word:
        if c == "-":
            out.append(dash)
        elif c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def one_of(words: Iterable[str], dash: str = "-") -> str:
    """A group matching any of ``words`` (longest first), in any case."""
    return "(?:" + "|".join(any_case(w, dash) for w in sorted(words, key=len, reverse=True)) + ")"


def comma_list(item: str) -> str:
    """A whole string of comma-separated ``item``s, blank ones allowed."""
    return rf"^\s*(?:{item})?\s*(?:,\s*(?:{item})?\s*)*$"


def names_schema(item: str) -> dict[str, Any]:
    """A list of names as the loader reads it: one comma-separated string, or an array of
    them; a blank item is skipped, and at least one must be given."""
    pattern = comma_list(item)
    return {
        "anyOf": [
            {"type": "string", "allOf": [{"pattern": pattern}, {"pattern": SOMETHING}]},
            {
                "type": "array",
                "items": {"type": "string", "pattern": pattern},
                "minItems": 1,
                "contains": {"type": "string", "pattern": SOMETHING},
            },
        ]
    }


def count_up_to(top: int) -> str:
    """An integer from 2 to ``top`` (>= 10) as int() reads it: a sign, leading zeros."""
    s = str(top)
    alts = ["[2-9]"] + [rf"[1-9]\d{{{n - 1}}}" for n in range(2, len(s))]
    for i, d in enumerate(s):  # below ``top`` from digit i on, the same before it
        low = "1" if i == 0 else "0"
        if d > low:
            alts.append(rf"{s[:i]}[{low}-{int(d) - 1}]\d{{{len(s) - i - 1}}}")
    alts.append(s)
    return rf"\+?(?:0_?)*(?:{'|'.join(alts)})"


def temperature_schema() -> dict[str, Any]:
    """One temperature: a positive finite number, or a string of numbers and ``LO:HI:N``
    ranges (no blank item: ``1,,2`` is a typo)."""
    item = rf"{POSITIVE}|{POSITIVE}\s*:\s*{POSITIVE}\s*:\s*{count_up_to(MAX_TEMPERATURES)}"
    return {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": sys.float_info.max},
            {"type": "string", "pattern": rf"^\s*(?:{item})\s*(?:,\s*(?:{item})\s*)*$"},
        ]
    }


def conditions_schema() -> dict[str, Any]:
    """``fail-on``/``warn-on``: conditions as ``parse_conditions`` takes them; a level takes no
    limit, a threshold needs one, a count may have one (>= 0), and ``never`` stands alone."""
    metrics = {**METRICS, **INPUT_METRICS}
    names = {n: [n, *(a for a, to in CONDITION_ALIASES.items() if to == n)] for n in metrics}
    counts = [s for n, m in metrics.items() if m.default_limit is not None for s in names[n]]
    thresholds = [s for n, m in metrics.items() if m.default_limit is None for s in names[n]]
    limit = rf"\s*>=?\s*{NONNEGATIVE}"
    item = (
        f"{one_of(LEVELS, '[-_]')}|{one_of(counts, '[-_]')}(?:{limit})?"
        f"|{one_of(thresholds, '[-_]')}{limit}"
    )
    out = names_schema(item)
    alone = rf"^[\s,]*{NEVER}[\s,]*$"  # blank items aside (lower case: compared as it is)
    out["anyOf"][0] = {"anyOf": [out["anyOf"][0], {"type": "string", "pattern": alone}]}
    never = {
        "type": "array",
        "items": {"type": "string", "pattern": rf"^[\s,]*(?:{NEVER}[\s,]*)?$"},
        "contains": {"type": "string", "pattern": NEVER},
        "maxContains": 1,
    }
    out["anyOf"].append(never)
    return out


def generated() -> dict[str, dict[str, Any]]:
    """Each generated key's ``anyOf`` (and ``$defs/temperature``), to lay over the file's."""
    temperatures = {"anyOf": [
        {"$ref": "#/$defs/temperature"},
        {
            "type": "array",
            "items": {"$ref": "#/$defs/temperature"},
            "minItems": 1,
        },
    ]}  # fmt: skip
    return {
        "methods": names_schema(one_of(METHODS)),
        "dtypes": names_schema(f"(?:{any_case('torch.')})?{one_of([*FORMATS, *ALIASES])}"),
        "temperatures": temperatures,
        "fail-on": conditions_schema(),
        "warn-on": conditions_schema(),
        "$defs/temperature": temperature_schema(),
    }


def one_spelling(keys: Iterable[str]) -> dict[str, Any]:
    """``dependentSchemas`` refusing a key set by both spellings (``fail-on`` and ``fail_on``),
    as the loader does: one of them would be dropped."""
    return {k: {"not": {"required": [k.replace("-", "_")]}} for k in keys if "-" in k}
