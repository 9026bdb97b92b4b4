"""How the terminal tables write a verdict: its word in its colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from smcheck.report.findingmodel import Verdict
from smcheck.report.phrases import NOT_JUDGED_LEGEND, verdict_word

if TYPE_CHECKING:  # the model imports the terminal views (notebook): types only here
    from collections.abc import Sequence

    from smcheck.report.model import Cell

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}


def verdict_text(c: Cell, *, comparison: bool = False) -> Text:
    """The cell's verdict word in its colour, or an uncoloured ``-`` where it judged no row
    (``phrases.verdict_word``); for a comparison the user did not select, ``[FAIL]`` dimmed
    (the brackets mark it where the dimming is lost: piped, or no colour)."""
    word = verdict_word(c)
    if comparison:
        return Text(f"[{word}]", style="dim")
    return Text(word, style=STYLE[c.verdict] if c.judged else "")


def legend(cells: Sequence[Cell]) -> list[Text]:
    """The line saying what ``-`` means, under a grid of ``cells`` that shows one; else none."""
    return [Text(NOT_JUDGED_LEGEND, style="dim")] if any(not c.judged for c in cells) else []
