"""A cell's verdict, and its findings: each reason for it as data (cause, severity, message,
remedy)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Verdict(str, Enum):
    """A cell's outcome, ordered OK < WARN < FAIL."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        """0 for OK, 1 for WARN, 2 for FAIL."""
        return ("OK", "WARN", "FAIL").index(self.value)


OMIT_IF_NONE = {"omit_if_none": True}
"""Field metadata: JSON (``model.plain``) leaves the field out where it is None, a value only
some findings have."""

FINDING_SEVERITIES: tuple[str, ...] = ("NOTE", "WARN", "FAIL")
"""Mildest first; a NOTE never changes a verdict."""


@dataclass(frozen=True)
class Finding:
    """One reason for a cell's verdict, kept apart so renderers can group one cause across cells."""

    cause: str
    """Stable id of what went wrong (``exp-overflow``, ``gradient-nan``, ...; docs/design.md §7)."""
    severity: str
    """FAIL, WARN or NOTE."""
    message: str
    """What was seen, with its figures, without the cell's name and without the remedy."""
    remedy: str = ""
    """The fix, from the remedy registry (smcheck.findings.remedies); empty when there is none."""
    fix: dict[str, str] = field(default_factory=dict)
    """The cell the remedy switches to, where it names one: ``{"method": "shifted"}``,
    ``{"dtype": "float32"}``; empty for advice that names no cell (label smoothing)."""
    why: str = ""
    """What caused it where the cause has several origins, as the message states it (NaN
    gradients from ``the loss is NaN`` or ``log(p) at p = 0``, NaN probabilities from
    ``inf/inf``, saturated rows whose gradient is ``NaN gradient``); empty where the cause
    says it all. Grouped reports put cells on one line only where they share it, so a line
    never states an origin that is false for some of its cells."""
    masks: bool | None = field(default=None, metadata=OMIT_IF_NONE)
    """For ``masked-row-nan``, which rows it counts: rows of mask sentinels only (True) or rows
    holding logits beyond the format's range (False), as ``became_fully_masked`` counts them
    apart; each kind is remedied as its own. None for every other cause (and absent in JSON)."""

    def text(self) -> str:
        """The message and its remedy: ``... -- remedy``."""
        return f"{self.message} -- {self.remedy}" if self.remedy else self.message

    def sentence(self, where: str) -> str:
        """The finding as one sentence naming its cell: ``naive float16: ... -- remedy``."""
        return f"{where}: {self.text()}"


def join_by_remedy(parts: Iterable[tuple[str, str]]) -> str:
    """``(message, remedy)`` pairs as one text, each remedy once after the messages it fixes:
    ``exp overflows ...; 64 probabilities NaN ... -- use max-shifted ...; the loss is NaN ...
    -- use log_softmax ...`` (remedies in order of first appearance; an empty one adds nothing).
    """
    fixes: dict[str, list[str]] = {}
    for message, remedy in parts:
        fixes.setdefault(remedy, []).append(message)
    return "; ".join("; ".join(ms) + (f" -- {r}" if r else "") for r, ms in fixes.items())
