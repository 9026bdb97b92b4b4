"""How the terminal tables write a cell: numbers, and verdict words in their colours."""

from __future__ import annotations

import math

from rich.text import Text

from smcheck.report.findingmodel import Verdict

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}


def num(v: float | int | None, spec: str = ".3g") -> str:
    """A number for a table cell: '-' for missing, nan/inf spelled out, fixed format spec."""
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v + 0.0, spec)  # + 0.0: a loss -log(1) is -0.0, printed "0", not "-0"


def verdict_text(v: Verdict) -> Text:
    """The verdict's word in its colour."""
    return Text(v.value, style=STYLE[v])
