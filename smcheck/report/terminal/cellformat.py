"""How the terminal tables write a verdict: its word in its colour."""

from __future__ import annotations

from rich.text import Text

from smcheck.report.findingmodel import Verdict

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}


def verdict_text(v: Verdict, *, comparison: bool = False) -> Text:
    """The verdict's word in its colour; for a comparison the user did not select, ``[FAIL]``
    dimmed (the brackets mark it where the dimming is lost: piped, or no colour)."""
    if comparison:
        return Text(f"[{v.value}]", style="dim")
    return Text(v.value, style=STYLE[v])
