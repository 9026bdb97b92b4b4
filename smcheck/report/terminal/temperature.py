"""The temperature section of the terminal report: per-T verdicts, entropy chart, critical T."""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from smcheck.report.model import SourceReport
from smcheck.report.temperaturetables import (
    CRITICAL_HEADER,
    CRITICAL_TITLE,
    SWEEP_HEADER,
    SWEEP_TITLE,
    critical_caption,
    critical_rows,
    remedies,
    shown,
    sweep_rows,
    temperature_text,
    uniform_entropy,
    uniform_text,
)
from smcheck.report.terminal.cellformat import verdict_text
from smcheck.report.terminal.fit import Fit

BAR_WIDTH = 28
BLOCKS = " ▏▎▍▌▋▊▉█"


def verdict_grids(s: SourceReport) -> Fit:
    """Verdict words with method × dtype as rows and temperatures as columns (split to fit);
    a comparison's in brackets, as in the concise grid."""
    temps = list(dict.fromkeys(c.temperature for c in s.cells))
    pairs = list(dict.fromkeys((c.method, c.dtype) for c in s.cells))
    by = {(c.method, c.dtype, c.temperature): c for c in s.cells}
    t = Table(
        title="Verdicts by temperature T", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False
    )
    t.add_column("method", no_wrap=True)
    t.add_column("dtype", no_wrap=True)
    for temp in temps:
        t.add_column(temperature_text(temp, temps), justify="center", no_wrap=True)
    for m, d in pairs:
        cells = [by[(m, d, x)] for x in temps]
        t.add_row(m, d, *(verdict_text(c, comparison=c.hypothetical) for c in cells))
    return Fit(t, keys=2)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``fraction`` (clipped to [0, 1]) of ``width`` cells, in eighths."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[rest] if rest else "")).ljust(width)


def sweep_table(s: SourceReport) -> Fit:
    """Mean entropy, max probability and effective support per T, with entropy as bars."""
    top = uniform_entropy(s)
    # rows of one element: ln(1) = 0 is no width, the bars (all empty) are drawn against 1 nat
    full = f"{uniform_text(s)} nats (uniform)" if top else f"1 nat (uniform: {uniform_text(s)})"
    t = Table(
        title=SWEEP_TITLE,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption=f"bar: mean entropy, full width = {full}",
        caption_justify="left",
    )
    for head in SWEEP_HEADER:
        t.add_column(head, justify="right")
    t.add_column("mean entropy")
    for row in sweep_rows(s):
        f = row.entropy_fraction
        t.add_row(*row.cells, Text(bar(f) if f is not None else "", style="cyan"))
    return Fit(t)


def critical_table(s: SourceReport) -> list[RenderableType]:
    """Per method × dtype: the lowest safe T and the one-hot T, then the remedies and a blank
    line (a table ends on one; the next section's title must not follow them directly)."""
    ta = s.temperature
    assert ta is not None and ta.critical is not None
    t = Table(
        title=CRITICAL_TITLE,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption=critical_caption(ta),
        caption_justify="left",
    )
    for head in CRITICAL_HEADER:
        t.add_column(head, justify="left" if head in ("method", "dtype", "fails by") else "right")
    for row in critical_rows(ta):
        t.add_row(*row)
    remedy_lines = [
        Text.assemble(("remedy ", "bold"), methods, " ", rest)
        for methods, rest in remedies(ta.critical)
    ]
    return [Fit(t, keys=2), *remedy_lines, *([Text("")] if remedy_lines else [])]


def temperature_section(s: SourceReport) -> list[RenderableType]:
    """Shown when several temperatures were analysed or critical temperatures were asked for."""
    ta = s.temperature
    if ta is None or not shown(s):
        return []
    out: list[RenderableType] = [sweep_table(s)]
    if ta.critical is not None:
        out += critical_table(s)
    return out
