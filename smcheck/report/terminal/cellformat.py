"""How the terminal tables write a verdict: its word in its colour."""

from __future__ import annotations

from rich.text import Text

from smcheck.report.findingmodel import Verdict

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}


def verdict_text(v: Verdict) -> Text:
    """The verdict's word in its colour."""
    return Text(v.value, style=STYLE[v])
