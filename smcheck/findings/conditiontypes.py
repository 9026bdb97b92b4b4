"""What a policy condition tests and what it measured: shared by the cell and input conditions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smcheck.report.model import Cell, InputSummary, RowIndex


@dataclass(frozen=True)
class Hit:
    """What a condition measured in one cell: the value compared with the limit, and where."""

    value: float
    rows: int | None
    worst_row: RowIndex | None
    detail: str
    """A short phrase: ``3 elements in 2/8 rows, worst row [0]``."""
    remedy: str = ""
    """The cell's remedy for what was hit, ending the violation message (set by ``check``; by an
    input condition's reader where the remedy reads the source's format); a
    verdict level's: its findings' remedies, each once, ``; ``-joined (its message states each
    after the findings it fixes)."""
    causes: tuple[str, ...] = ()
    """The findings that made the hit where the reader knows them (a limit met by rows whose
    sum overflowed: ``sum-overflow``), first first: their remedies end the message, not the
    metric's (no accuracy remedy cures an overflow); empty: the metric's ``causes``."""


Reader = Callable[[Cell], "Hit | str"]
"""Reads a metric from a cell: the hit, or why the report does not hold it (no gradients)."""

InputReader = Callable[[InputSummary, bool, "str | None"], Hit]
"""Reads an input condition from the source's InputSummary; the flag: the source is analysed
under softmin, whose summary counts -x (the logits' +inf masks are its -inf); the string: the
source's stored format, which a remedy may read."""


@dataclass(frozen=True)
class Metric:
    """A quantity a condition can test: counts default to ``> 0``; thresholds need a limit."""

    name: str
    what: str
    """What the quantity is, for messages and ``--help``."""
    read: Reader | InputReader
    """Reads a cell, or for an input condition the source's InputSummary."""
    hint: str
    """A cell condition: the cause (in ``smcheck.findings.remedies``) whose remedy ends violation
    messages where the cell has no finding of ``causes``; an input condition: the remedy itself."""
    default_limit: float | None = 0.0
    """``overflow`` means ``overflow>0``; None: the condition must give a limit."""
    causes: tuple[str, ...] = ()
    """A cell condition: the findings whose counts the quantity adds up, first step first; the
    remedies of those the cell has end violation messages (empty: ``hint`` alone)."""
