"""The default terminal report: a header, the input line, the verdict grid, findings by cause.

One screen per source: what was judged and why, the verdict of each method × format (and
temperature), one line per cause of WARN/FAIL, and a count of what ``-v/--details`` adds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from smcheck.report.findingmodel import Verdict
from smcheck.report.phrases import (
    NO_ROW_JUDGED,
    NOT_JUDGED,
    PATH_BREAKS,
    bisected_t,
    first_of,
    never_down_to,
    no_findings,
    num,
    plural,
    row_index,
    softmax_input,
    swept_t,
    unbroken,
    use_phrase,
    value_text,
    wrap_line,
)
from smcheck.report.sitemodel import rows_dtype
from smcheck.report.terminal.cellformat import STYLE, legend, verdict_text
from smcheck.report.terminal.findinglines import (
    Lines,
    finding_lines,
    omitted_fixes,
    omitted_notes,
)
from smcheck.report.terminal.fit import Fit
from smcheck.report.terminal.masks import fate

if TYPE_CHECKING:  # the model imports these views (notebook): types only here
    from smcheck.report.model import Cell, Report, SourceReport

LETTER = {Verdict.OK: ".", Verdict.WARN: "W", Verdict.FAIL: "F"}
"""A sweep's verdict strip: one character per temperature (``-`` where a cell judged no row)."""
GROUP = 5
"""Temperatures per group in a verdict strip (a space between groups)."""


class SourceName:
    """A source's name in bold, broken after a "/" of its path (or between words) where it is
    wider than the line: rich would cut a file name mid-word ("atten" / "tion_scores.npy")."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, Text(self.name))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in wrap_line(self.name, options.max_width, PATH_BREAKS, indent="").split("\n"):
            yield Text(line, style="bold")


class SourceLine:
    """``name  [2, 8, 8] float32, dim -1: 16 rows of 8`` on one line where it fits, else the name
    and then the rest on a line of its own: wrapped as one text, it could end on a lone "8"."""

    def __init__(self, name: str, rest: str) -> None:
        self.name, self.rest = name, rest

    def _line(self) -> Text:
        return Text.assemble((self.name, "bold"), "  ", self.rest)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._line())

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = self._line()
        if line.cell_len <= options.max_width:
            yield line
        else:
            yield SourceName(self.name)
            yield Text("  " + self.rest)


def header(s: SourceReport) -> list[RenderableType]:
    """The source line, then what is judged."""
    plain_rows = len(s.shape) < 2 or len(s.shape) == 2 and s.dim in (-1, 1)
    rows = "" if plain_rows else f": {plural(s.rows, 'row')} of {s.row_length}"
    softmin = " (softmin: analysing -x)" if s.softmin else ""
    return [
        SourceLine(s.name, f"{s.shape} {rows_dtype(s.dtype, s.site)}, dim {s.dim}{rows}{softmin}"),
        Lines([(Text("use", "dim"), Text(use_phrase(s), "dim"))]),
    ]


def _non_finite(s: SourceReport) -> str:
    i = s.input
    counts = [(i.nan, "NaN"), (i.posinf, "+inf"), (i.neginf, "-inf")]
    found = [unbroken(f"{n} {name}") for n, name in counts if n]
    return ", ".join(found) if found else "all finite"


def input_line(s: SourceReport) -> Lines:
    """Range, max logsumexp, non-finite counts, excluded rows and mask sentinels, wrapped: of
    the softmax's input, -x under softmin (``input -x``); a count stays on the line of its
    noun, a row index on that of its word."""
    i = s.input
    parts = [
        f"range {num(i.min, '.6g')}..{num(i.max, '.6g')}",
        f"max logsumexp {num(i.max_logsumexp, '.6g')}"
        + (
            f" ({unbroken(f'row {row_index(i.max_logsumexp_row)}')})"
            if s.rows > 1 and i.max_logsumexp_row is not None  # no row: "-", not "(row -)"
            else ""
        ),
        _non_finite(s),
    ]
    if i.upstream_rows:
        first = unbroken(first_of(i.upstream_rows, i.upstream_first_row))
        parts.append(f"{unbroken(plural(i.upstream_rows, 'row'))} with NaN/+inf ({first})")
    if i.fully_masked_rows:
        first = unbroken(first_of(i.fully_masked_rows, i.fully_masked_first_row))
        parts.append(f"{unbroken(f'{i.fully_masked_rows} fully masked')} ({first})")
    dtypes = list(dict.fromkeys(c.dtype for c in s.cells))
    for sen in i.sentinels:
        fates = ", ".join(f"{d} {fate(sen, d)}" for d in dtypes)
        parts.append(
            f"mask {value_text(sen.value)} in {unbroken(plural(sen.elements, 'entry'))} "
            f"of {unbroken(plural(sen.rows, 'row'))} ({fates})"
        )
    key = "input " + (softmax_input(divided=False, softmin=True) + " " if s.softmin else "")
    return Lines([(Text(key, "bold"), Text("; ".join(parts)))])


def grid(s: SourceReport) -> Fit:
    """Method × dtype verdicts at one temperature."""
    dtypes = list(dict.fromkeys(c.dtype for c in s.cells))
    t = Table(box=None, pad_edge=False)
    t.add_column("method", no_wrap=True)
    for d in dtypes:
        t.add_column(d, justify="center", no_wrap=True)
    by = {(c.method, c.dtype): c for c in s.cells}
    for m in dict.fromkeys(c.method for c in s.cells):
        cells = (by.get((m, d)) for d in dtypes)
        t.add_row(m, *(verdict_text(c, comparison=c.hypothetical) if c else "" for c in cells))
    return Fit(t)


def _strip(cells: list[Cell]) -> Text:
    """One character per temperature, grouped by five: ``FFFFF WW... .....``; in brackets for
    a comparison the user did not select (``[FF..]``, as its ``[FAIL]``: dimming alone is lost
    when piped)."""
    comparison = all(c.hypothetical for c in cells)
    text = Text("[" if comparison else "", "dim")
    for k, c in enumerate(cells):
        if k and k % GROUP == 0:
            text.append(" ")
        if not c.judged:
            text.append(NOT_JUDGED, "dim" if c.hypothetical else "")
            continue
        style = "dim" if c.hypothetical else STYLE[c.verdict]
        text.append(LETTER[c.verdict], style)
    return text.append("]" if comparison else "", "dim")


def _safe(s: SourceReport) -> dict[tuple[str, str], str]:
    """Below which T each method × dtype overflows or gives NaN, when that was searched ("never
    (>= 1e-06)": not down to the scan's bottom, which it names; "every T": at every T of the
    scan), and above which where the scan's top fails but a lower T does not ("≈7.23e-05 and
    above ≈64.3", "above ≈15"; "no row judged" where the scan had none). Only those causes:
    "safe" would claim more than the search looked for (the letters judge the rest)."""
    ta = s.temperature
    if ta is None or ta.critical is None:
        return {}
    assert ta.scan is not None
    out = {}
    for c in ta.critical:
        if not c.judged:  # its NaNs claim nothing: neither safe nor unsafe
            out[(c.method, c.dtype)] = NO_ROW_JUDGED
            continue
        v = c.min_safe
        if v is None:
            shown = never_down_to(ta.scan.lo)
        elif math.isinf(v):
            shown = "every T"
        else:  # the critical table's safe figure, rounded up: T just below it may be safe (≈)
            shown = "≈" + bisected_t(v, ta.scan.rel_tol, up=True)
        if c.max_safe is not None:
            above = "above ≈" + bisected_t(c.max_safe, ta.scan.rel_tol, up=False)
            shown = above if v is None else f"{shown} and {above}"
        out[(c.method, c.dtype)] = shown
    return out


def _spacing(temps: list[float]) -> str:
    """`` (20, log)`` when the temperatures are a log range (equal ratios), else nothing."""
    if len(temps) < 3 or temps[0] <= 0:
        return ""
    ratios = [b / a for a, b in zip(temps, temps[1:], strict=False)]
    even = max(ratios) - min(ratios) <= 1e-6 * max(ratios)
    return f" ({len(temps)}, log)" if even else ""


def sweep_grid(s: SourceReport) -> list[RenderableType]:
    """Per method × dtype a strip of verdicts over the temperatures (F FAIL, W WARN, . OK), and
    the lowest T without overflow or NaN when critical temperatures were searched."""
    temps = sorted(dict.fromkeys(c.temperature for c in s.cells))
    by = {(c.method, c.dtype, c.temperature): c for c in s.cells}
    safe = _safe(s)
    t = Table(box=None, pad_edge=False)
    t.add_column("method", no_wrap=True)
    t.add_column("dtype", no_wrap=True)
    lo, hi = (swept_t(x, temps, least=4) for x in (temps[0], temps[-1]))
    span_t = lo + (f"..{hi}" if len(temps) > 1 else "")
    t.add_column(f"F/W/. at T={span_t}{_spacing(temps)}", overflow="fold")
    if safe:
        # "or above" where an entry names a ceiling ("above ≈15"), not only a floor ("≈0.9978")
        above = ", or above" if any("above" in v for v in safe.values()) else ""
        t.add_column(f"overflow/NaN below T{above}", justify="right", no_wrap=True)
    for m, d in dict.fromkeys((c.method, c.dtype) for c in s.cells):
        strip = _strip([by[(m, d, x)] for x in temps])
        t.add_row(m, d, strip, *([safe.get((m, d), "-")] if safe else []))
    if _spacing(temps) or len(temps) == 1:  # the header says it all
        return [Fit(t, keys=2)]
    legend = "one column per T: " + ", ".join(swept_t(x, temps, least=4) for x in temps)
    return [Fit(t, keys=2), Text(legend, style="dim")]


def omitted(s: SourceReport) -> Text:
    """What ``-v/--details`` adds: the notes and fixes counted here, and every table."""
    counted = [
        plural(omitted_notes(s) + len(s.notes), "note"),
        plural(omitted_fixes(s, {"FAIL", "WARN"}), "more fix", "more fixes"),
    ]
    what = "".join(f"{c}, " for c in counted if not c.startswith("0 "))
    return Text(f"-v/--details shows {what}every table", style="dim")


def source_summary(s: SourceReport) -> list[RenderableType]:
    """One source's concise report."""
    multi_t = len({c.temperature for c in s.cells}) > 1
    out: list[RenderableType] = [*header(s), input_line(s)]
    out += sweep_grid(s) if multi_t or _safe(s) else [grid(s)]
    out += [*legend(s.cells), Text("")]
    found = finding_lines(s, {"FAIL", "WARN"}, every=False)
    out += found or [Text(f"No findings: {no_findings(s.cells)}.", style="green")]
    out.append(omitted(s))
    return out


def build_summary(report: Report) -> list[RenderableType]:
    """The concise report of every source, a blank line between sources."""
    out: list[RenderableType] = []
    for k, s in enumerate(report.sources):
        out += ([Text("")] if k else []) + source_summary(s)
    return out
