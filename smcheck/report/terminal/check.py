"""The terminal report of ``smcheck check``: violations by condition, a summary (never prints)."""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.text import Text

from smcheck.report.grouping import ViolationGroup
from smcheck.report.phrases import plural, unbroken, verb
from smcheck.report.terminal.cellspan import Axes, span
from smcheck.report.terminal.findinglines import Lines
from smcheck.report.violations import (
    INPUT,
    BaselineDiff,
    CheckResult,
    Severity,
    Violation,
    cell_name,
)

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}
LABEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARN"}
NOT_CHECKED = "NOT CHECKED"
"""The label of a source that could not be checked: not ERROR, the label of a policy error."""


def violation_text(v: Violation) -> Text:
    """``condition  source  cell: message`` (``-v``: one line per violation)."""
    text = Text.assemble((v.condition, "cyan"), "  ", (v.source, "bold"), "  ", v.placed_message)
    if v.baselined:
        text.append(" (baselined)", "dim")
    return text


def group_text(group: list[Violation], axes: Axes, sweep: tuple[float, ...]) -> Text:
    """One condition of one source: every cell it hits, and the message of the largest measured
    value, tagged with its cell where the messages differ (as Markdown and HTML show it);
    ``sweep``: the temperatures the source was analysed at."""
    first = group[0]
    g = ViolationGroup(first.source, first.condition, first.severity, tuple(group), sweep)
    keys = [(v.method, v.dtype, v.temperature) for v in group]
    # the input is checked once per source, at no cell's format or temperature
    where = INPUT if all(v.method == INPUT for v in group) else span(keys, axes)
    figure, more = g.figure_parts  # "(-v: 2 more fixes)" kept on one line
    return Text.assemble(
        (g.condition, "cyan"),
        "  ",
        (g.source, "bold"),
        "  ",
        f"{where}: " if first.place else "",  # an input condition's message names the input
        figure + (" " + unbroken(more) if more else ""),
    )


def violation_rows(result: CheckResult, details: bool) -> list[tuple[Text, Text]]:
    """By default one row per source and condition; with ``details`` one per violation."""
    shown = [v for v in result.violations if details or not v.baselined]
    if details:
        return [(Text(LABEL[v.severity], STYLE[v.severity]), violation_text(v)) for v in shown]
    groups: dict[tuple[Severity, str, str], list[Violation]] = {}
    for v in shown:
        groups.setdefault((v.severity, v.source, v.condition), []).append(v)
    cells = {
        s.name: [(c.method, c.dtype, c.temperature) for c in s.cells] for s in result.report.sources
    }
    sweeps = {s.name: s.sweep for s in result.report.sources}
    # a violation of the input is named (input, the source's dtype, T=1): not always a cell's
    mine = {
        src: [(v.method, v.dtype, v.temperature) for v in shown if v.source == src] for src in cells
    }
    return [
        (
            Text(LABEL[sev], STYLE[sev]),
            group_text(
                g,
                Axes.of(
                    [*cells.get(src, []), *mine.get(src, [])]
                    or [(v.method, v.dtype, v.temperature) for v in g]
                ),
                sweeps.get(src, ()),
            ),
        )
        for (sev, src, _), g in groups.items()
    ]


def summary_line(result: CheckResult) -> str:
    """``FAILED: 2 errors, 1 warning in 1 of 3 sources (48 cells checked)`` and the like; with
    sources that could not be checked, ``INCOMPLETE: 1 of 2 sources not checked (unreadable or
    unusable input); policy: 1 error, 0 warnings in 1 of 1 checked source (...)``: the sources
    not checked are counted apart from the policy's errors, never as one of them."""
    c = result.counts()
    # hypothetical comparison cells are analysed but never checked
    selected = [cell for cell in result.report.cells if not cell.hypothetical]
    idle = sum(not cell.judged for cell in selected)  # every row kept out: nothing to violate
    cells = f"{plural(len(selected), 'cell')} checked" + (f", {idle} on no row" if idle else "")
    checked = len(result.report.sources)
    n_src = plural(checked, "checked source" if result.errors else "source")
    if c["error"] or c["warning"]:
        hit = len({v.source for v in result.failing + result.warnings})
        text = (
            f"{plural(c['error'], 'error')}, {plural(c['warning'], 'warning')} in "
            f"{hit} of {n_src} ({cells})"
        )
    else:
        text = f"no violations in {n_src} ({cells})"
    if c["baselined"]:
        text += f", {c['baselined']} baselined"
    if result.errors:
        bad = f"{len(result.errors)} of {plural(checked + len(result.errors), 'source')}"
        return f"INCOMPLETE: {bad} not checked (unreadable or unusable input); policy: {text}"
    return f"{'FAILED' if result.exit_code else 'PASSED'}: {text}"


def _baseline_line(b: BaselineDiff, details: bool) -> Text:
    """Known and new violations, and the entries that no longer occur (10 of them unless -v)."""
    line = f"baseline {b.file}: {b.known} known, {b.new} new"
    if b.fixed:
        listed = b.fixed if details else b.fixed[:10]
        shown = "; ".join(
            f"{e['path']}{':' + e['key'] if e['key'] else ''} "
            f"{cell_name(e['method'], e['dtype'], e['temperature'])} {e['condition']}"
            for e in listed
        )
        more = f" and {len(b.fixed) - len(listed)} more (-v)" if len(b.fixed) > len(listed) else ""
        line += f"; {len(b.fixed)} no longer {verb(len(b.fixed), 'occurs', 'occur')} "
        line += f"({shown}{more}): update the baseline"
    if b.unchecked:  # another source, cell or condition than this run's: neither kept nor fixed
        line += f"; {b.unchecked} not checked by this run"
    return Text(line, style="dim")


def build_check_text(result: CheckResult, details: bool = False) -> list[RenderableType]:
    """The violations (grouped by source and condition unless ``details``), unreadable sources,
    the baseline, and the summary line; every line wraps within the width."""
    rows = violation_rows(result, details)
    rows += [(Text(NOT_CHECKED, "bold red"), Text(e.line)) for e in result.errors]
    out: list[RenderableType] = []
    if rows:
        out += [Lines(rows), Text("")]
    by_cond = Counter((v.condition, v.severity) for v in result.violations if not v.baselined)
    if by_cond:
        parts = [f"{cond} {plural(n, sev.value)}" for (cond, sev), n in sorted(by_cond.items())]
        out.append(Text("by condition: " + ", ".join(parts), style="dim"))
    if result.baseline is not None:
        out.append(_baseline_line(result.baseline, details))
    for u in result.unmeasured:
        out.append(
            Text(f"not measured: {u.condition} in {plural(u.cells, 'cell')} ({u.reason})", "yellow")
        )
    out += [Text(f"note: {n}", style="dim") for n in result.notes]
    style = {0: "bold green", 1: "bold red", 2: "bold red"}[result.exit_code]
    out.append(Text(summary_line(result), style=style))
    return out
