"""The HTML page: header, per source the verdict grid, findings by cause, figures; one file.

Everything the page needs is inside it (CSS in a ``<style>``, figures as inline ``<svg>``), so it
opens offline and can be attached to a CI run as it is. Every text from the report is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from smcheck.report.grouping import (
    DOCUMENT_FIXES,
    FindingGroup,
    group_findings,
    group_violations,
    source_outcomes,
)
from smcheck.report.html import plotting
from smcheck.report.model import InputSummary, Report, SourceReport
from smcheck.report.phrases import (
    NOT_JUDGED,
    NOT_JUDGED_LEGEND,
    first_of,
    no_findings,
    num,
    of_input,
    operation,
    plural,
    remedy_for,
    row_index,
    use_phrase,
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

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
  max-width: 1100px; margin: 1.5em auto; padding: 0 1em; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .2em; } h2 { margin-top: 1.6em; border-bottom: 2px solid #ddd; }
h3 { margin: 1.2em 0 .4em; font-size: 1.1em; } h4 { margin: 1em 0 .3em; font-size: 1em; }
table { border-collapse: collapse; margin: .4em 0; } th, td { border: 1px solid #d0d0d0;
  padding: .25em .6em; text-align: left; vertical-align: top; } th { background: #f3f3f3; }
.v { display: inline-block; padding: 0 .45em; border-radius: 3px; font-weight: 600;
  color: #fff; font-size: .9em; }
.FAIL { background: #c62828; } .WARN { background: #b26a00; } .OK { background: #2e7d32; }
.NOTE, .INFO { background: #607d8b; } .NA { background: #9e9e9e; }
.sq { display: inline-block; width: .9em; height: .9em; margin-right: 2px; border-radius: 2px; }
.muted { color: #666; } .facts td:first-child { color: #555; }
figure { margin: .6em 0; } figure svg { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
"""


def badge(verdict: str) -> str:
    """A coloured verdict label (FAIL, WARN, OK, NOTE, INFO; grey ``-``: not judged)."""
    v = escape(verdict)
    return f'<span class="v {_css(verdict)}">{v}</span>'


def _css(word: str) -> str:
    """The class a verdict word is coloured by: ``NA`` for :data:`NOT_JUDGED`."""
    return "NA" if word == NOT_JUDGED else escape(word)


def _fully_masked(i: InputSummary) -> str:
    """The rows fully masked in the input by kind: entirely -inf ones are left out of the
    metrics; those of mask values only are finite and judged (not non-finite input)."""
    n, of_masks = i.fully_masked_rows, i.fully_masked_sentinel_rows
    if not n:
        return "none"
    kinds = [f"{n - of_masks} entirely -inf (left out of the metrics)"] if n > of_masks else []
    kinds += [f"{of_masks} of mask values only (judged)"] if of_masks else []
    return ", ".join(kinds) + f"; {first_of(n, i.fully_masked_first_row, 'first row')}"


def _facts(s: SourceReport) -> str:
    i = s.input
    of = escape(of_input(s.softmin))  # the values are -x's under softmin
    nonfinite = f"{i.nan} NaN, {i.posinf} +inf, {i.neginf} -inf"
    rng = "-" if i.min is None else f"{num(i.min, '.6g')} … {num(i.max, '.6g')}"  # no -0 of -x
    lse = (
        "-"
        if i.max_logsumexp is None
        else f"{i.max_logsumexp:.6g}"
        + (f" (row {row_index(i.max_logsumexp_row)})" if s.rows > 1 else "")
    )
    rows = [
        (
            "shape",
            f"{s.shape}, {operation(s.softmin)} over dim {s.dim}: "
            f"{plural(s.rows, 'row')} of length {s.row_length}",
        ),
        (
            "source dtype",
            escape(rows_dtype(s.dtype, s.site)) + (" (softmin: softmax(-x))" if s.softmin else ""),
        ),
        ("use", escape(use_phrase(s))),
        (f"input range{of}", rng),
        (f"max logsumexp{of}", lse),
        (f"non-finite input{of}", nonfinite),
        (f"fully masked input rows{of}", _fully_masked(i)),
    ]
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _input_findings(s: SourceReport) -> str:
    if not s.input.findings:
        return ""
    items = "".join(f"<li>{badge(f.severity)} {escape(f.message)}</li>" for f in s.input.findings)
    return f"<h3>The input itself</h3><ul>{items}</ul>"


def verdict_grid(s: SourceReport) -> str:
    """Methods down, formats across; over a sweep, one square per temperature in each cell."""
    methods = list(dict.fromkeys(c.method for c in s.cells))
    formats = list(dict.fromkeys(c.dtype for c in s.cells))
    temps = list(dict.fromkeys(c.temperature for c in s.cells))
    by = {(c.method, c.dtype, c.temperature): c for c in s.cells}
    head = "".join(f"<th>{escape(d)}</th>" for d in formats)
    rows = []
    for m in methods:
        hypothetical = any(c.hypothetical for c in s.cells if c.method == m)
        name = escape(m) + (' <span class="muted">(not selected)</span>' if hypothetical else "")
        tds = []
        for d in formats:
            cells = [by[(m, d, t)] for t in temps if (m, d, t) in by]
            if len(temps) == 1:
                tds.append("<td>" + "".join(badge(verdict_word(c)) for c in cells) + "</td>")
            else:
                squares = "".join(
                    f'<span class="sq {_css(verdict_word(c))}" '
                    f'title="T={c.temperature:g}: '
                    f'{verdict_word(c) if c.judged else "not judged"}"></span>'
                    for c in cells
                )
                tds.append(f"<td>{squares}</td>")
        rows.append(f"<tr><th>{name}</th>{''.join(tds)}</tr>")
    note = ""
    if len(temps) > 1:
        note = (
            '<p class="muted">One square per temperature, left to right: T = '
            + ", ".join(f"{t:g}" for t in temps)
            + " (hover for each verdict).</p>"
        )
    if any(not c.judged for c in s.cells):
        note += f'<p class="muted">{escape(NOT_JUDGED_LEGEND)}</p>'
    return f'<table class="grid"><tr><th>method</th>{head}</tr>{"".join(rows)}</table>{note}'


def findings_table(s: SourceReport) -> str:
    """One row per cause: severity, where, its most severe message (tagged), the remedy."""
    groups = group_findings(s)
    if not groups:
        if all(c.judged for c in s.cells):
            return "<p>No findings: every cell is within its format's expected accuracy.</p>"
        return f"<p>No findings: {escape(no_findings(s.cells))}.</p>"
    rows = "".join(
        f"<tr><td>{badge(g.severity)}</td><td><code>{escape(g.cause)}</code></td>"
        f"<td>{escape(g.where)}{' (not selected)' if g.hypothetical else ''}</td>"
        f"<td>{escape(g.figure)}</td><td>{_fixes(g) or '-'}</td></tr>"
        for g in groups
    )
    head = "<tr><th></th><th>cause</th><th>cells</th><th>finding</th><th>remedy</th></tr>"
    return f"<table>{head}{rows}</table>"


def _fixes(g: FindingGroup) -> str:
    """A group's remedies, escaped; where its cells' remedies differ, each names the cells it
    is for, one a line."""
    return "<br>".join(
        escape(r if cells is None else remedy_for(r, cells)) for cells, r in g.remedies
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def temperature_tables(s: SourceReport) -> str:
    """The temperature tables of Markdown and the terminal's ``-v``, the same rows: the sweep,
    then the critical temperatures with their caption and remedies; nothing for one T without
    critical temperatures."""
    ta = s.temperature
    if ta is None or not shown(s):
        return ""
    out = [
        f"<h4>{escape(SWEEP_TITLE)}</h4>",
        _table(SWEEP_HEADER, [r.cells for r in sweep_rows(s)]),
        f'<p class="muted">{escape(sweep_caption(s))}.</p>',
    ]
    if ta.critical is not None:
        fixes = "".join(
            f"<li><strong>remedy</strong> {escape(methods)} {escape(rest)}</li>"
            for methods, rest in remedies(ta.critical)
        )
        out += [
            f"<h4>{escape(CRITICAL_TITLE)}</h4>",
            _table(CRITICAL_HEADER, critical_rows(ta)),
            f'<p class="muted">{escape(critical_caption(ta))}</p>',
            f"<ul>{fixes}</ul>" if fixes else "",
        ]
    return "".join(out)


def _figure(svg: str | None, caption: str, missing: str) -> str:
    if svg is None:
        return f'<p class="muted">{missing}</p>'
    return f'<figure>{svg}<figcaption class="muted">{caption}</figcaption></figure>'


def _figures(s: SourceReport, n: int) -> str:
    shown = plotting.shown_temperature(s)
    at = "" if len({c.temperature for c in s.cells}) == 1 else f" at T={shown:g}"
    tables = temperature_tables(s)
    below = " (the critical temperatures are in the table below)" if tables else ""
    return "".join(
        [
            "<h3>Temperature</h3>",
            _figure(
                plotting.temperature_figure(s, f"smcheck-{n}-t"),
                "Solid lines: where the method starts to overflow or give NaN in that format, "
                "on the side its legend entry names (unsafe below or above that T); dotted: "
                "below it every output is exactly one-hot.",
                f"No temperature sweep was run{below}: add <code>--temperature 0.25:4:9</code> "
                "to plot entropy, max probability and effective support against T with each "
                "format's critical temperatures.",
            ),
            tables,
            f"<h3>Error distribution per cell{at}</h3>",
            _figure(
                plotting.ulp_figure(s, f"smcheck-{n}-u"),
                "Elements per power-of-two bin of |p̂ - p| in ulps. Only rows whose output is "
                "finite are measured: a method whose every row overflowed has no line (see the "
                "findings). JSON: metrics.error.ulp_histogram.",
                "No cell has finite outputs to measure.",
            ),
            "<h3>Headroom to overflow and underflow</h3>",
            _figure(
                plotting.headroom_figure(s, f"smcheck-{n}-h"),
                "The worst row of each format: its distance in nats from the format's limit "
                "(the zero line). Left: ln of the format's overflow threshold (the first value "
                "that rounds to +inf, 65520 in float16) - the row's logsumexp; below zero "
                "naive's sum of exp overflows. Right: the row's smallest log p - ln(min "
                "subnormal/2); below zero probabilities round to 0.",
                "No cells.",
            ),
        ]
    )


def source_section(s: SourceReport, n: int) -> str:
    """One source: facts, input findings, verdict grid, findings, figures, notes."""
    notes = "".join(f"<li>{escape(x)}</li>" for x in s.notes)
    return "".join(
        [
            f'<section id="source-{n}"><h2>{escape(s.name)} {badge(s.verdict.value)}</h2>',
            _facts(s),
            _input_findings(s),
            "<h3>Verdicts</h3>",
            verdict_grid(s),
            "<h3>Findings by cause</h3>",
            findings_table(s),
            _figures(s, n),
            f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "",
            "</section>",
        ]
    )


def page(report: Report, title: str, summary: str, extra: str = "") -> str:
    """The whole HTML document: ``summary`` under the title, ``extra`` before the sources."""
    body = "".join(source_section(s, n) for n, s in enumerate(report.sources, 1))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p>{escape(summary)}</p></header>\n"
        f"{extra}{body}\n"
        '<footer><p class="muted">Not shown here: every metric of every cell with its worst row '
        "(faults, accuracy, error bounds, gradients): see <code>--format json</code>. "
        f"smcheck {escape(report.smcheck_version)}.</p></footer>\n</body>\n</html>\n"
    )


def report_html(report: Report) -> str:
    """``smcheck analyze --format html``."""
    plotting.require_plotting()
    return page(report, f"smcheck: {report.verdict.value}", report.summary())


def check_html(result: CheckResult) -> str:
    """``smcheck check --format html`` (and ``--report html=FILE``): the check, then the report."""
    plotting.require_plotting()
    outcomes = "".join(
        f"<tr><td>{escape(o.name)}</td>"
        f"<td>{badge('FAIL' if not o.passed else 'WARN' if o.warnings else 'OK')} "
        f"{'passed' if o.passed else 'failed'}</td><td>{o.errors}</td><td>{o.warnings}</td>"
        f"<td>{o.baselined}</td></tr>"
        for o in source_outcomes(result)
    )
    outcomes += "".join(
        f"<tr><td>{escape(e.source)}</td><td>{badge('FAIL')} not checked: {escape(e.message)}"
        "</td><td></td><td></td><td></td></tr>"
        for e in result.errors
    )
    groups = "".join(
        f"<tr><td>{badge('FAIL' if g.severity.value == 'error' else 'WARN')} "
        f"{escape(g.severity.value)}</td><td>{escape(g.source)}</td>"
        f"<td><code>{escape(g.condition)}</code></td><td>{escape(g.cells)}</td>"
        f"<td>{escape(g.figure)}</td></tr>"
        for g in group_violations(result, DOCUMENT_FIXES)
    )
    extra = (
        "<h2>Check</h2><table><tr><th>source</th><th>result</th><th>errors</th>"
        f"<th>warnings</th><th>baselined</th></tr>{outcomes}</table>"
    )
    if groups:
        extra += (
            "<h3>Violations by source and condition</h3><table><tr><th></th><th>source</th>"
            f"<th>condition</th><th>cells</th><th>worst</th></tr>{groups}</table>"
        )
    title = f"smcheck check: {'PASSED' if result.passed else 'FAILED'}"
    return page(result.report, title, summary_line(result), extra)
