"""Findings grouped by cause: one line names every cell a cause hits, its figures, the fix.

A cause repeated over formats, methods and temperatures is one line, not one per cell (the
concise report groups by severity and cause; ``--details`` also splits a cause by remedy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from smcheck.report.findingmodel import Finding
from smcheck.report.phrases import (
    NBSP,
    figures_tag,
    more_fixes,
    remedy_for,
    tagged,
    unbroken,
    weight,
)
from smcheck.report.terminal.cellspan import Axes, span

if TYPE_CHECKING:  # the model imports these views (notebook): types only here
    from smcheck.report.model import Cell, SourceReport

SEVERITY_STYLE = {"FAIL": "bold red", "WARN": "yellow", "NOTE": "cyan", "INFO": "cyan"}
INDENT = 2
"""Columns a finding's continuation lines are indented by."""
CellKey = tuple[str, str, float]
"""(method, dtype, temperature)."""
RANK = {"FAIL": 0, "WARN": 1, "NOTE": 2, "INFO": 2}
_HELD = "\ue000"
"""A private-use character, one cell wide and no space, an NBSP stands as while rich wraps."""


@dataclass
class Group:
    """Every finding of one cause and origin (``Finding.why``), severity, selection and, in
    details, remedy."""

    severity: str
    cause: str
    hypothetical: bool
    hits: list[tuple[Cell, Finding]] = field(default_factory=list)

    @property
    def worst(self) -> tuple[Cell, Finding]:
        """The hit with the most rows (first in report order among equals)."""
        return max(self.hits, key=lambda h: weight(h[1].message))

    @property
    def remedies(self) -> list[str]:
        """The distinct remedies, the worst hit's first."""
        return [
            r for r in dict.fromkeys([self.worst[1].remedy, *(f.remedy for _, f in self.hits)]) if r
        ]

    @property
    def remedy_cells(self) -> tuple[CellKey, ...] | None:
        """The cells whose remedy is the one shown (``remedies[0]``) where the cells' remedies
        differ (float16's "in float32" is not bfloat16's); None where every cell takes it."""
        if len({f.remedy for _, f in self.hits}) <= 1 or not self.remedies:
            return None
        shown = self.remedies[0]
        return tuple(dict.fromkeys(_key(c) for c, f in self.hits if f.remedy == shown))


def _from_reasons(c: Cell) -> tuple[Finding, ...]:
    """A cell's reasons as findings where it has no findings as data (never shown as clean)."""
    return tuple(Finding("verdict", c.verdict.value, r) for r in c.reasons if c.verdict.rank)


def group_findings(cells: Iterable[Cell], severities: set[str], by_remedy: bool) -> list[Group]:
    """The findings of ``cells`` of the given severities grouped by cause, worst severity first.

    Cells share a group only where their findings share the origin too (``Finding.why``): a
    group's line states its worst finding's, which must be true of every cell on it.
    """
    groups: dict[tuple[str, ...], Group] = {}
    for c in cells:
        for f in c.findings or _from_reasons(c):
            if f.severity not in severities:
                continue
            key = (f.severity, f.cause, f.why, str(c.hypothetical))
            key += (f.remedy,) if by_remedy else ()
            g = groups.setdefault(key, Group(f.severity, f.cause, c.hypothetical))
            g.hits.append((c, f))
    return sorted(groups.values(), key=lambda g: (g.hypothetical, RANK[g.severity]))


def _key(c: Cell) -> CellKey:
    return c.method, c.dtype, c.temperature


def _keys(g: Group) -> list[CellKey]:
    return list(dict.fromkeys(_key(c) for c, _ in g.hits))


def _figure(g: Group, sweep: Sequence[float]) -> tuple[str, str]:
    """The message :func:`weight` ranks first, and its cell's tag where the messages differ."""
    cell, worst = g.worst
    messages = (f.message for _, f in g.hits)
    return worst.message, figures_tag(messages, cell.method, cell.dtype, cell.temperature, sweep)


def group_text(groups: list[Group], axes: Axes) -> Text:
    """``exp-overflow  naive × float16: <message> (figures for ...) -- remedy``; where the
    cells' remedies differ, ``-- for naive × float16: remedy (-v: 1 more fix)``: a remedy is
    never stated for a cell that needs another.

    ``groups`` hit the same cells with the same shown remedy, for the same cells: one line names
    all their causes, and a tag their messages share once (:func:`tagged`).
    """
    g = groups[0]
    causes = ", ".join(x.cause for x in groups)
    text = Text.assemble((causes, "bold"), "  ", span(_keys(g), axes), ": ")
    text.append(tagged([_figure(x, axes.temperatures) for x in groups]))
    if g.remedies:
        text.append(" -- " + _remedy_text(groups, axes))
    if g.hypothetical:
        text.stylize("dim")
    return text


def _remedy_text(groups: list[Group], axes: Axes) -> str:
    """The line's remedy: as it is where every cell takes it; else naming the cells it is for
    and counting the others' (of every group on the line)."""
    g = groups[0]
    cells = g.remedy_cells
    if cells is None:
        return g.remedies[0]
    if len({t for *_, t in _keys(g)}) == 1:  # the line names its one T already: not twice
        cells = tuple((m, d, 1.0) for m, d, _ in cells)
        axes = Axes(axes.methods, axes.dtypes, [1.0])
    text = remedy_for(g.remedies[0], span(cells, axes))
    more = len(dict.fromkeys(r for x in groups for r in x.remedies)) - 1
    return text + (" " + unbroken(more_fixes(more, "-v")) if more else "")


def merged(groups: list[Group]) -> list[list[Group]]:
    """Groups of one severity that hit the same cells with the same shown remedy (for the same
    cells), together."""
    out: dict[tuple[object, ...], list[Group]] = {}
    for g in groups:
        key = (g.severity, g.hypothetical, tuple(_keys(g)), tuple(g.remedies[:1]), g.remedy_cells)
        out.setdefault(key, []).append(g)
    return list(out.values())


def severity_word(severity: str, hypothetical: bool = False) -> Text:
    """``FAIL`` in its colour; ``[FAIL]`` dimmed for a comparison the user did not select."""
    if hypothetical:
        return Text(f"[{severity}]", style="dim")
    return Text(severity, style=SEVERITY_STYLE.get(severity, ""))


class Lines:
    """``LABEL text`` lines wrapped at the width, continuations indented by :data:`INDENT`."""

    def __init__(self, rows: list[tuple[Text, Text]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, 20 + INDENT)
        for label, body in self.rows:
            text = Text.assemble(label, " ", body)
            text.expand_tabs()  # as wrap would: the offsets below count the wrapped characters
            # rich breaks at any Unicode space, NBSP too: hold it as a non-space while wrapping
            text.plain = text.plain.replace(NBSP, _HELD)
            first = text.wrap(console, width, overflow="fold")[0]
            yield _spaced(first)
            # the rest wrapped anew in the narrower column (from the word after the first line)
            n = len(first.plain)
            n += len(text.plain[n:]) - len(text.plain[n:].lstrip())
            if n < len(text.plain):
                rest = text.divide([n])[1]
                for line in rest.wrap(console, width - INDENT, overflow="fold"):
                    yield Text(" " * INDENT) + _spaced(line)


def _spaced(line: Text) -> Text:
    """A wrapped line with its held NBSPs printed as plain spaces (same length: styles stay)."""
    line.plain = line.plain.replace(_HELD, " ")
    return line


def input_lines(s: SourceReport, severities: set[str]) -> list[tuple[Text, Text]]:
    """Input findings of ``severities``: one per kind, the others counted on its line."""
    kinds: dict[tuple[str, str], list[str]] = {}
    for f in s.input.findings:
        if f.severity in severities:
            kinds.setdefault((f.kind, f.severity), []).append(f.message)
    out = []
    for (_, sev), messages in kinds.items():
        text = Text.assemble(("input  ", "bold"), messages[0])
        if len(messages) > 1:
            text.append(f" (+{len(messages) - 1} like it: -v)", "dim")
        out.append((severity_word(sev), text))
    return out


def finding_lines(s: SourceReport, severities: set[str], every: bool) -> list[Lines]:
    """The input findings, then the cells' findings grouped by cause (nothing if none).

    ``every`` (details, which list the input findings in their own section): the cells'
    findings only, a cause split by remedy; else one line per kind of input finding and cause.
    """
    axes = Axes.of([(c.method, c.dtype, c.temperature) for c in s.cells])
    rows = [] if every else input_lines(s, severities)
    found = group_findings(s.cells, severities, every)
    rows += [
        (severity_word(gs[0].severity, gs[0].hypothetical), group_text(gs, axes))
        for gs in (merged(found) if not every else [[g] for g in found])
    ]
    rows.sort(key=lambda r: (r[0].plain.startswith("["), RANK[r[0].plain.strip("[]")]))
    return [Lines(rows)] if rows else []


def omitted_notes(s: SourceReport) -> int:
    """The lines of notes ``-v`` prints and the default leaves out: the cells' NOTE findings
    grouped by cause and remedy as there (one line for a note of 12 cells, not 12), and the
    input's INFO findings, a line each."""
    cells = len(group_findings(s.cells, {"NOTE"}, by_remedy=True))
    return cells + sum(f.severity == "INFO" for f in s.input.findings)


def omitted_fixes(s: SourceReport, severities: set[str]) -> int:
    """Remedies beyond the one shown on each cause's line (``-v`` splits causes by remedy)."""
    return sum(
        len(g.remedies) - 1 for g in group_findings(s.cells, severities, False) if g.remedies
    )
