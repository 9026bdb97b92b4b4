"""Markdown reports (GitHub-flavoured tables, e.g. for ``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import re

from smcheck.report.grouping import (
    DOCUMENT_FIXES,
    ViolationGroup,
    group_findings,
    group_violations,
    source_outcomes,
)
from smcheck.report.model import Report, SourceReport
from smcheck.report.phrases import (
    NOT_JUDGED_LEGEND,
    first_of,
    num,
    of_input,
    operation,
    plural,
    row_index,
    use_phrase,
    verb,
    verdict_word,
)
from smcheck.report.sitemodel import rows_dtype
from smcheck.report.temperaturetables import (
    CRITICAL_HEADER,
    CRITICAL_TITLE,
    SWEEP_HEADER,
    SWEEP_TITLE,
    critical_caption,
    critical_rows,
    remedies,
    shown,
    sweep_caption,
    sweep_rows,
)
from smcheck.report.terminal.check import summary_line
from smcheck.report.violations import CheckResult

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


def _verdict_runs(verdicts: list[tuple[float, str]]) -> str:
    """``FAIL T=0.25–1, OK T=2–4``: consecutive temperatures with the same verdict as one run,
    each T as the findings give it (six digits: close temperatures of a sweep stay apart)."""
    runs: list[list[tuple[float, str]]] = []
    for t, v in verdicts:
        if runs and runs[-1][-1][1] == v:
            runs[-1].append((t, v))
        else:
            runs.append([(t, v)])
    parts = []
    for run in runs:
        lo, hi, v = run[0][0], run[-1][0], run[0][1]
        span = f"T={lo:g}" if lo == hi else f"T={lo:g}–{hi:g}"
        parts.append(f"{_strong(v)} {span}")
    return ", ".join(parts)


def _strong(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ("WARN", "FAIL") else verdict


def verdict_grid(s: SourceReport) -> list[str]:
    """Methods down, formats across; over a sweep, each cell's verdicts by runs of T."""
    methods = list(dict.fromkeys(c.method for c in s.cells))
    formats = list(dict.fromkeys(c.dtype for c in s.cells))
    temps = list(dict.fromkeys(c.temperature for c in s.cells))
    by = {(c.method, c.dtype, c.temperature): c for c in s.cells}
    rows = []
    for m in methods:
        hypothetical = any(c.hypothetical for c in s.cells if c.method == m)
        row = [md(m) + (" (not selected)" if hypothetical else "")]
        for d in formats:
            got = [(t, verdict_word(by[(m, d, t)])) for t in temps if (m, d, t) in by]
            row.append(_strong(got[0][1]) if len(temps) == 1 and got else _verdict_runs(got))
        rows.append(row)
    legend = ["", f"_{md(NOT_JUDGED_LEGEND)}_"] if any(not c.judged for c in s.cells) else []
    return _table(["method", *(md(d) for d in formats)], rows) + legend


def _finding_lines(s: SourceReport) -> list[str]:
    out = [f"- **{f.severity}** input: {md(f.message)}" for f in s.input.findings]
    for g in group_findings(s):
        where = md(g.where) + (" (not selected)" if g.hypothetical else "")
        # where the cells' remedies differ, each names the cells it is for
        fix = ".".join(
            f" Fix: {md(r)}" if cells is None else f" Fix for {md(cells)}: {md(r)}"
            for cells, r in g.remedies
        )
        out.append(f"- **{g.severity}** `{g.cause}` in {where}: {md(g.figure)}.{fix}")
    return out or ["No findings."]


def temperature_lines(s: SourceReport) -> list[str]:
    """The temperature tables of the terminal's ``-v`` (the same rows): the sweep, then the
    critical temperatures with their remedies; nothing for one T without critical temperatures."""
    ta = s.temperature
    if ta is None or not shown(s):
        return []
    sweep = [[md(c) for c in r.cells] for r in sweep_rows(s)]
    out = ["", f"#### {SWEEP_TITLE}", "", *_table([md(h) for h in SWEEP_HEADER], sweep)]
    out += ["", f"_{md(sweep_caption(s))}._"]
    if ta.critical is None:
        return out
    critical = [[md(c) for c in r] for r in critical_rows(ta)]
    out += ["", f"#### {CRITICAL_TITLE}", "", *_table([md(h) for h in CRITICAL_HEADER], critical)]
    out += ["", f"_{md(critical_caption(ta))}_"]
    fixes = [f"- **remedy** {md(methods)} {md(rest)}" for methods, rest in remedies(ta.critical)]
    return out + ["", *fixes] if fixes else out


def _source_lines(s: SourceReport) -> list[str]:
    i = s.input
    facts = (
        f"shape {s.shape}, source dtype {md(rows_dtype(s.dtype, s.site))}, "
        f"{operation(s.softmin)} over dim {s.dim}"
        + (" (softmax(-x))" if s.softmin else "")
        + f": {plural(s.rows, 'row')} of length {s.row_length}; use {md(use_phrase(s))}"
    )
    inp = f"input{of_input(s.softmin)}: "  # the values are -x's under softmin
    inp += (
        "no finite values" if i.min is None else f"range {num(i.min, '.6g')} to {num(i.max, '.6g')}"
    )
    if i.max_logsumexp is not None:  # one row needs no index ("row []" of a 1-D input)
        inp += f", max logsumexp {num(i.max_logsumexp, '.6g')}"
        inp += f" (row {md(row_index(i.max_logsumexp_row))})" if s.rows > 1 else ""
    inp += f"; {i.nan} NaN, {i.posinf} +inf, {i.neginf} -inf"
    # the rows the terminal's input line names, with the first of each
    if i.upstream_rows:
        first = md(first_of(i.upstream_rows, i.upstream_first_row))
        inp += f"; {plural(i.upstream_rows, 'row')} with NaN/+inf ({first})"
    if i.fully_masked_rows:
        first = md(first_of(i.fully_masked_rows, i.fully_masked_first_row))
        inp += f"; {plural(i.fully_masked_rows, 'fully masked row')} ({first})"
    return [
        f"### {md(s.name)}: {s.verdict.value}",
        "",
        facts,
        "",
        inp,
        "",
        # the notes the terminal's -v prints under the input (a capture's sample, a rebuilt site)
        *([*(f"- note: {md(n)}" for n in s.notes), ""] if s.notes else []),
        *verdict_grid(s),
        "",
        *_finding_lines(s),
        *temperature_lines(s),
    ]


OMITTED = (
    "_Not shown: the per-cell metrics (faults, accuracy, error bounds, gradients) and their worst "
    "rows; see `--format json`, or `--format html` for figures._"
)


def report_markdown(report: Report) -> str:
    """``smcheck analyze --format markdown``: per source the verdict grid, findings by cause and,
    over several temperatures or with critical temperatures, the temperature tables."""
    out = [f"## smcheck: {report.verdict.value}", "", md(report.summary())]
    for s in report.sources:
        out += ["", *_source_lines(s)]
    out += ["", OMITTED]
    return "\n".join(out) + "\n"


def _group_row(g: ViolationGroup) -> list[str]:
    return [g.severity.value, md(g.source), f"`{g.condition}`", md(g.cells), md(g.figure)]


def check_markdown(result: CheckResult) -> str:
    """``smcheck check --format markdown``: the outcome, the violations by source and condition,
    and each source's result under the policy."""
    out = ["## smcheck check", "", f"**{md(summary_line(result))}**", ""]
    groups = group_violations(result, DOCUMENT_FIXES)
    if groups:
        out += _table(
            ["severity", "source", "condition", "cells", "worst"],
            [_group_row(g) for g in groups],
        )
        out.append("")
    if result.errors:
        out += ["### Sources that could not be checked", ""]
        out += [f"- {md(e.line)}" for e in result.errors[:MAX_ROWS]]
        out.append("")
    b = result.baseline
    if b is not None:
        gone = f"{len(b.fixed)} no longer {verb(len(b.fixed), 'occurs', 'occur')}"
        unchecked = f", {b.unchecked} not checked by this run" if b.unchecked else ""
        out.append(f"Baseline {md(b.file)}: {b.known} known, {b.new} new, {gone}{unchecked}.")
        out.append("")
    for u in result.unmeasured:
        out += [f"- not measured: `{u.condition}` in {plural(u.cells, 'cell')} ({md(u.reason)})"]
    out += [f"- note: {md(n)}" for n in result.notes]
    if result.report.sources:
        rows = [
            [
                md(o.name),
                "passed" if o.passed else "**failed**",
                str(o.errors),
                str(o.warnings),
                str(o.baselined),
                str(o.cells),
            ]
            for o in source_outcomes(result)
        ]
        header = ["source", "check", "errors", "warnings", "baselined", "cells"]
        if out[-1]:  # a blank line ends the list above, or the HTML block would join it
            out.append("")
        out += ["<details><summary>Sources checked</summary>", "", *_table(header, rows)]
        out += ["", "</details>"]
    out += [
        "",
        "_Every violation with its figures: `--format json`; figures: `--report html=FILE`._",
    ]
    return "\n".join(out).rstrip() + "\n"
