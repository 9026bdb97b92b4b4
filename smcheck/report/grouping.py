"""Findings grouped across cells: one entry per thing that went wrong, for the concise reports.

A sweep of 20 temperatures repeats a cause in up to 20 × methods × formats cells; a concise report
shows it once, naming where it happens, the figures of its most severe occurrence and the remedy.
The same for ``check``: its violations by source and condition, and each source's outcome under
the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smcheck.report.findingmodel import FINDING_SEVERITIES
from smcheck.report.model import Cell, SourceReport
from smcheck.report.phrases import (
    figures_for,
    more_fixes,
    plural,
    remedy_for,
    tagged,
    weight,
)
from smcheck.report.violations import INPUT, CheckResult, Severity, Violation

CellKey = tuple[str, str, float]
"""(method, dtype, temperature)."""

DOCUMENT_FIXES = "--format json"
"""What shows, beside a Markdown or HTML check report, the fixes its grouped violations leave
out (each violation with its own message)."""

CELLS_NAMED = 6
"""Cells a group's ``where`` phrase names before "and N more cells"."""


@dataclass(frozen=True)
class FindingGroup:
    """One cause, from one origin, in every cell of a source where it occurs."""

    cause: str
    severity: str
    """Its cells' severity (FAIL, WARN or NOTE): a cause at two severities is two groups."""
    cells: tuple[CellKey, ...]
    """The cells it occurs in, in the report's order."""
    methods: tuple[str, ...]
    formats: tuple[str, ...]
    temperatures: tuple[float, ...]
    message: str
    """The message of its most severe occurrence (:func:`weight`; the first of equals)."""
    message_cell: CellKey | None
    """That occurrence's cell where the cells' messages differ; None where they are all the
    same (then the message is true of every cell)."""
    fixes: tuple[tuple[str, tuple[CellKey, ...]], ...]
    """Each remedy its cells take and those cells: that occurrence's first, then in order of
    appearance (cells without a remedy are in none)."""
    hypothetical: bool
    """Every cell it occurs in is a comparison the user did not select."""
    sweep: tuple[float, ...]
    """The source's temperatures (:attr:`SourceReport.sweep`): where several, its cells and tag
    name T, T = 1 too, whichever temperatures this cause hits, to the digits that tell them
    apart."""

    @property
    def swept(self) -> bool:
        """Several temperatures were analysed (:attr:`SourceReport.swept`)."""
        return len(self.sweep) > 1

    @property
    def figure(self) -> str:
        """The message as a grouped line states it: naming its cell, ``(figures for naive
        float16)``, where the cells' messages differ (one format's limit, 11.09, is not
        another's; nor is another cell's figure bounded by this one's)."""
        tag = figures_for(*self.message_cell, self.sweep) if self.message_cell else ""
        return tagged([(self.message, tag)])

    @property
    def where(self) -> str:
        """The cells in a few words (:func:`cells_text`)."""
        return cells_text(self.cells, self.swept)

    @property
    def remedy(self) -> str:
        """The remedy shown first: that occurrence's, else the first among the cells."""
        return self.fixes[0][0] if self.fixes else ""

    @property
    def remedies(self) -> list[tuple[str | None, str]]:
        """(the cells it is for, in words, remedy) for each remedy: the cells are None where
        every cell of the group takes the one remedy (then it is true of the whole entry)."""
        if len(self.fixes) == 1 and len(self.fixes[0][1]) == len(self.cells):
            return [(None, self.fixes[0][0])]
        return [(fix_cells(cells, self.cells, self.swept), r) for r, cells in self.fixes]


def fix_cells(cells: Sequence[CellKey], every: Sequence[CellKey], swept: bool) -> str:
    """The ``cells`` a remedy is for, in words (:func:`cells_text`); without T where ``every``
    cell of the entry is at one T, which the entry names already."""
    if len({t for *_, t in every}) == 1:
        return cells_text([(m, d, 1.0) for m, d, _ in cells], swept=False)
    return cells_text(cells, swept)


def cells_text(cells: Sequence[CellKey], swept: bool) -> str:
    """Cells in a few words: ``naive × float16, bfloat16``, over a sweep ``× T=0.5, 1``; when
    they are not such a product, per method and format: ``naive float16 T=0.5, 1``.

    Args:
        cells: (method, dtype, T), in the report's order.
        swept: The source was analysed at several temperatures: T is named, T = 1 too.
    """
    swept = swept or any(t != 1 for *_, t in cells)
    methods, formats, temperatures = (_unique([k[i] for k in cells]) for i in range(3))
    if len(methods) * len(formats) * len(temperatures) == len(cells):
        parts = [", ".join(methods), ", ".join(formats)]
        if swept:
            parts.append(temperatures_text(temperatures))
        return " × ".join(parts)
    pairs: dict[tuple[str, str], list[float]] = {}
    for m, d, t in cells:
        pairs.setdefault((m, d), []).append(t)
    named = [
        f"{m} {d}" + (f" {temperatures_text(ts)}" if swept else "") for (m, d), ts in pairs.items()
    ]
    if len(named) > CELLS_NAMED:
        rest = len(named) - CELLS_NAMED + 1
        named = [*named[: CELLS_NAMED - 1], f"and {rest} more method × format pairs"]
    return ", ".join(named)


TEMPERATURES_LISTED = 4
"""Temperatures listed one by one; more are given as a range and a count."""


def temperatures_text(ts: Sequence[float]) -> str:
    """``T=0.5, 1`` or, past TEMPERATURES_LISTED values, ``T=0.25…4 (9 values)``; each T
    as the findings give it (six digits: close temperatures of a sweep stay apart)."""
    if len(ts) <= TEMPERATURES_LISTED:
        return "T=" + ", ".join(f"{t:g}" for t in ts)
    return f"T={min(ts):g}…{max(ts):g} ({len(ts)} values)"


def _unique(items: list) -> tuple:  # type: ignore[type-arg]
    return tuple(dict.fromkeys(items))


def group_findings(source: SourceReport) -> list[FindingGroup]:
    """The source's cell findings by cause, origin (``Finding.why``: NaN gradients from a NaN
    loss are not on the line of those from log(p) at p = 0), severity and selection (a NOTE of
    torch is not in a comparison's WARN): those of selected cells first, the worst severity
    first, then in order of appearance; each with its most severe message (:func:`weight`)."""
    hits: dict[tuple[str, str, str, bool], list[tuple[Cell, int]]] = {}
    for cell in source.cells:
        for i, f in enumerate(cell.findings):
            hits.setdefault((f.cause, f.why, f.severity, cell.hypothetical), []).append((cell, i))
    groups = []
    for (cause, _, severity, _), found in hits.items():
        at, k = max(found, key=lambda hit: weight(hit[0].findings[hit[1]].message))
        worst = at.findings[k]
        differ = len({c.findings[i].message for c, i in found}) > 1
        fixes: dict[str, list[CellKey]] = {worst.remedy: []}
        for c, i in found:
            fixes.setdefault(c.findings[i].remedy, []).append((c.method, c.dtype, c.temperature))
        keys = [(c.method, c.dtype, c.temperature) for c, _ in found]
        groups.append(
            FindingGroup(
                cause=cause,
                severity=severity,
                cells=_unique(keys),
                methods=_unique([k[0] for k in keys]),
                formats=_unique([k[1] for k in keys]),
                temperatures=_unique([k[2] for k in keys]),
                message=worst.message,
                message_cell=(at.method, at.dtype, at.temperature) if differ else None,
                fixes=tuple((r, _unique(ks)) for r, ks in fixes.items() if r),
                hypothetical=all(c.hypothetical for c, _ in found),
                sweep=source.sweep,
            )
        )
    # a stable sort: equal keys keep their order of appearance
    return sorted(groups, key=lambda g: (g.hypothetical, -FINDING_SEVERITIES.index(g.severity)))


@dataclass(frozen=True)
class ViolationGroup:
    """One condition met by one or more cells of one source (baselined violations left out)."""

    source: str
    condition: str
    severity: Severity
    violations: tuple[Violation, ...]
    sweep: tuple[float, ...]
    """The source's temperatures: where several, the tag names T, T = 1 too."""
    shown_by: str = "-v"
    """What shows the fixes of the cells its figure's remedy is not for (``-v`` in the terminal;
    ``--format json`` in a document)."""

    @property
    def swept(self) -> bool:
        """Several temperatures were analysed (:attr:`SourceReport.swept`)."""
        return len(self.sweep) > 1

    @property
    def worst(self) -> Violation:
        """The violation with the largest measured value (the first of them)."""
        return max(self.violations, key=lambda v: v.value)

    @property
    def figure(self) -> str:
        """The worst violation's message, tagged ``(figures for torch bfloat16)`` where the
        cells' messages differ: its measured value is the group's largest, but its other
        figures (rows, worst row, counts beside it) are that cell's, not maxima over the group.

        Where the cells' remedies differ, the remedy names the cells it is for and counts the
        others': ``... (figures for naive float16) -- for naive × float16: <remedy> (-v: 1 more
        fix)``; a message stating its fixes among its findings (a verdict level's) is tagged
        ``(figures and fixes for naive float16; -v: each cell's)`` instead.
        """
        text, more = self.figure_parts
        return f"{text} {more}" if more else text

    @property
    def figure_parts(self) -> tuple[str, str]:
        """:attr:`figure`, and apart its count of the other cells' fixes (``(-v: 2 more
        fixes)``, else empty), which the terminal keeps on one line."""
        w = self.worst
        fixes = list(dict.fromkeys(v.remedy for v in self.violations))
        if len(fixes) == 1:
            same = len({v.message for v in self.violations}) == 1
            return tagged([(w.message, "" if same else self._tag("figures"))]), ""
        if not w.remedy:  # the worst cell has no fix: the others' are counted, not claimed
            others = sum(bool(r) for r in fixes)
            return f"{w.message} {self._tag('figures')}", more_fixes(others, self.shown_by)
        end = f" -- {w.remedy}"
        if not w.message.endswith(end):  # fixes among its findings
            note = f"; {self.shown_by}: each cell's"
            return f"{w.message} {self._tag('figures and fixes', note)}", ""
        keys = [(v.method, v.dtype, v.temperature) for v in self.violations]
        mine = [k for k, v in zip(keys, self.violations, strict=True) if v.remedy == w.remedy]
        same = len({v.message.removesuffix(f" -- {v.remedy}") for v in self.violations}) == 1
        head = tagged([(w.message.removesuffix(end), "" if same else self._tag("figures"))])
        text = f"{head} -- {remedy_for(w.remedy, fix_cells(mine, keys, self.swept))}"
        more = sum(r not in ("", w.remedy) for r in fixes)
        return text, more_fixes(more, self.shown_by) if more else ""

    def _tag(self, what: str, note: str = "") -> str:
        """``(figures for torch bfloat16)``: what the line states of the worst violation's
        cell; ``note`` ends it."""
        w = self.worst
        if w.method == INPUT:  # checked once per source, at no cell's format
            return f"({what} for the input{note})"
        return figures_for(w.method, w.dtype, w.temperature, self.sweep, what, note)

    @property
    def cells(self) -> str:
        """The cells, ``naive float16 T=1, torch float16 T=1`` (at most CELLS_NAMED named)."""
        named = [v.cell for v in self.violations]
        if len(named) > CELLS_NAMED:
            rest = len(named) - CELLS_NAMED + 1
            named = [*named[: CELLS_NAMED - 1], f"and {plural(rest, 'more cell')}"]
        return ", ".join(named)


def group_violations(result: CheckResult, shown_by: str = "-v") -> list[ViolationGroup]:
    """Errors first, then warnings; within each, by (source, condition) in order of appearance;
    ``shown_by``: what shows the fixes their figures leave out (:attr:`ViolationGroup.shown_by`)."""
    found: dict[tuple[str, str, Severity], list[Violation]] = {}
    for v in result.violations:
        if not v.baselined:
            found.setdefault((v.source, v.condition, v.severity), []).append(v)
    sweeps = {s.name: s.sweep for s in result.report.sources}
    groups = [
        ViolationGroup(s, c, sev, tuple(vs), sweeps.get(s, ()), shown_by)
        for (s, c, sev), vs in found.items()
    ]
    return sorted(groups, key=lambda g: g.severity is not Severity.ERROR)


@dataclass(frozen=True)
class SourceOutcome:
    """What the check concluded for one source: failed when a violation it does not baseline is
    an error of the policy (``fail-on``), whatever the analysis verdict of its cells."""

    name: str
    passed: bool
    errors: int
    warnings: int
    baselined: int
    cells: int
    """The cells checked: the judged ones (a bracketed comparison is analysed, never checked)."""


def source_outcomes(result: CheckResult) -> list[SourceOutcome]:
    """Each checked source's outcome under the policy, in the report's order."""
    out = []
    for s in result.report.sources:
        mine = [v for v in result.violations if v.source == s.name]
        errors = sum(v.severity is Severity.ERROR and not v.baselined for v in mine)
        warnings = sum(v.severity is Severity.WARNING and not v.baselined for v in mine)
        baselined = sum(v.baselined for v in mine)
        cells = sum(not c.hypothetical for c in s.cells)
        out.append(SourceOutcome(s.name, errors == 0, errors, warnings, baselined, cells))
    return out
