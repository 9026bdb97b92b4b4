"""Markdown reports (GitHub-flavoured tables, e.g. for ``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import re

from smcheck.report.model import Report, SourceReport
from smcheck.report.phrases import plural
from smcheck.report.terminal.check import summary_line
from smcheck.report.violations import CheckResult, Violation

MAX_ROWS = 200
"""Table rows shown before "... and N more" (GitHub caps a step summary at 1 MiB)."""

_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md(text: object) -> str:
    """Plain text made safe inside a Markdown table cell (no HTML, no markup, one line)."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", s)


def _table(header: list[str], rows: list[list[str]], limit: int = MAX_ROWS) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more rows (see the JSON report)")
    return lines


def _verdicts(s: SourceReport) -> list[str]:
    rows = [
        [
            md(c.method),
            md(c.dtype),
            f"{c.temperature:g}",
            f"**{c.verdict.value}**" if c.verdict.value != "OK" else "OK",
            md("; ".join(c.reasons)) or "",
        ]
        for c in s.cells
    ]
    return _table(["method", "dtype", "T", "verdict", "findings"], rows)


def report_markdown(report: Report) -> str:
    """``smcheck analyze --format markdown``: per source, the verdict of every cell."""
    c = report.counts()
    out = [
        f"## smcheck: {report.verdict.value}",
        "",
        f"{plural(len(report.sources), 'source')}, {plural(sum(c.values()), 'cell')}: "
        f"{c['FAIL']} FAIL, {c['WARN']} WARN, {c['OK']} OK",
    ]
    for s in report.sources:
        out += [
            "",
            f"### {md(s.name)}",
            "",
            f"shape {s.shape}, source dtype {md(s.dtype)}, softmax over dim {s.dim}: "
            f"{plural(s.rows, 'row')} of length {s.row_length}",
            "",
            *_verdicts(s),
        ]
    return "\n".join(out) + "\n"


def _violation_row(v: Violation) -> list[str]:
    return [v.severity.value, md(v.source), md(v.cell), f"`{v.condition}`", md(v.message)]


def check_markdown(result: CheckResult) -> str:
    """``smcheck check --format markdown``: the outcome, then one row per violation."""
    out = ["## smcheck check", "", f"**{md(summary_line(result))}**", ""]
    shown = [v for v in result.violations if not v.baselined]
    if shown:
        out += _table(
            ["severity", "source", "cell", "condition", "detail"],
            [_violation_row(v) for v in shown],
        )
        out.append("")
    if result.errors:
        out += ["### Sources that could not be checked", ""]
        out += [f"- {md(e.source)}: {md(e.message)}" for e in result.errors[:MAX_ROWS]]
        out.append("")
    b = result.baseline
    if b is not None:
        out.append(
            f"Baseline {md(b.file)}: {b.known} known, {b.new} new, {len(b.fixed)} no longer occur."
        )
        out.append("")
    for u in result.unmeasured:
        out += [f"- not measured: `{u.condition}` in {plural(u.cells, 'cell')} ({md(u.reason)})"]
    out += [f"- note: {md(n)}" for n in result.notes]
    if result.report.sources:
        rows = [
            [
                md(s.name),
                s.verdict.value,
                str(len(s.cells)),
                str(sum(v.source == s.name for v in shown)),
            ]
            for s in result.report.sources
        ]
        out += [
            "",
            "<details><summary>Sources checked</summary>",
            "",
            *_table(["source", "verdict", "cells", "violations"], rows),
            "",
            "</details>",
        ]
    return "\n".join(out).rstrip() + "\n"
