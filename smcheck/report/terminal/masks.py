"""Rich renderables for input findings and mask sentinels; building them never prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from smcheck.dtypes import get_format
from smcheck.report.maskmodel import Sentinel
from smcheck.report.phrases import of_input, value_text
from smcheck.report.terminal.findinglines import SEVERITY_STYLE, Lines
from smcheck.report.terminal.fit import Fit

if TYPE_CHECKING:  # the model imports these views (notebook): types only here
    from smcheck.report.model import SourceReport


def input_findings(s: SourceReport) -> RenderableType | None:
    """One line per finding about the input itself, severity as a word and a colour."""
    found = s.input.findings
    if not found:
        return None
    rows = [(Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")), Text(f.message))
            for f in found]  # fmt: skip
    return Group(Text("Input findings", style="bold"), Lines(rows), Text(""))


def fate(sen: Sentinel, dtype: str) -> str:
    """What a format does to a sentinel: ok, -inf (not representable), N -> -inf, leaks (more
    than u: the sentinel_weak WARN), leaks ... <= u (within the format's rounding, yet a leak the
    format holds: -1e4 at T=1000 keeps 3.2e-4 of a row in float16 too)."""
    parts = []
    cast = 0
    for c in sen.casts:
        if c.dtype != dtype:
            continue
        cast = c.to_neginf.elements
        if not c.representable:
            parts.append("-inf")
        elif c.to_neginf.elements:
            parts.append(f"{c.to_neginf.elements} -> -inf")
    scaled = [e for e in sen.effects if e.dtype == dtype and e.to_neginf.elements > cast]
    if scaled:
        parts.append("-inf at T=" + ",".join(f"{e.temperature:g}" for e in scaled))
    # a leak that rounds to 0 in the format is no leak there; "ok" is for those alone
    floor = get_format(dtype).smallest_subnormal / 2
    leaks = [e for e in sen.effects if e.dtype == dtype and (e.leak.max or 0.0) > floor]
    weak = [e for e in leaks if e.weak.rows]
    if leaks:
        worst = max(weak or leaks, key=lambda e: e.leak.max or 0.0)
        parts.append(f"leaks {worst.leak.max:.2g}" + ("" if weak else " <= u"))
    return ", ".join(parts) or "ok"


def sentinel_table(s: SourceReport) -> Fit | None:
    """The sentinels found (-x's under softmin), and per format whether they survive the cast
    and still mask."""
    sens = s.input.sentinels
    if not sens:
        return None
    dtypes = list(dict.fromkeys(c.dtype for c in s.cells))
    title = "Mask sentinels" + of_input(s.softmin)
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("sentinel", no_wrap=True)
    t.add_column("known as", overflow="fold", min_width=12)
    t.add_column("entries", justify="right", no_wrap=True)  # min/max are in the JSON
    for d in dtypes:
        t.add_column(d, justify="right")
    for sen in sens:
        label = (sen.label or "--mask-value").replace("torch.", "")
        t.add_row(
            value_text(sen.value),
            label,
            f"{sen.elements}/{sen.rows}r",
            *(fate(sen, d) for d in dtypes),
        )
    return Fit(t, keys=1)


def mask_renderables(s: SourceReport) -> list[RenderableType]:
    """What the report shows about masks, after the input summary (possibly nothing)."""
    return [r for r in (input_findings(s), sentinel_table(s)) if r is not None]
