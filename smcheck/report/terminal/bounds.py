"""Rich table of the error-bound checks and accumulation stalls (cells that have them)."""

from __future__ import annotations

from rich import box
from rich.table import Table

from smcheck.report.model import SourceReport
from smcheck.report.terminal.fit import Fit


def _num(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def bounds_tables(s: SourceReport) -> list[Fit]:
    """Observed error against the Blanchard-Higham-Higham bound per cell, and the stall."""
    cells = [c for c in s.cells if c.bounds is not None or c.accumulation is not None]
    if not cells:
        return []
    multi_t = len({c.temperature for c in s.cells}) > 1
    t = Table(
        title="Error bounds (Blanchard, Higham & Higham 2021). E: worst row's normwise error "
        "and B its bound, in units of u; E/B: largest ratio; κ: largest condition number",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        padding=(0, 1),
        pad_edge=False,
    )
    # the stall is measured under the strict model only: without it the column would be all "-"
    stall = any(c.accumulation is not None for c in cells)
    # a reading names what a violated or vacuous bound means: a column of "none" says nothing
    reading = any(c.bounds is not None and c.bounds.reading != "none" for c in cells)
    heads = ["method", "dtype", "viol", "vac", "E/B", "E", "B", "κ"] + ["reading"] * reading
    heads += ["absorbed"] * stall
    if multi_t:
        heads.insert(2, "T")
    for h in heads:
        left = h in ("method", "dtype", "reading")
        t.add_column(h, justify="left" if left else "right", no_wrap=True)
    for c in cells:
        b, a = c.bounds, c.accumulation
        row = [c.method, c.dtype] + ([format(c.temperature, "g")] if multi_t else [])
        if b is None:
            row += ["-"] * (6 + reading)
        else:
            w = b.worst
            row += [
                str(b.violations.rows),
                str(b.vacuous.rows),
                _num(b.max_ratio.max, ".2g"),
                _num(w.error_u if w else None),
                "vacuous" if w and w.bound_u is None else _num(w.bound_u if w else None),
                _num(b.cond_max.max, ".2g"),
                *[b.reading] * reading,
            ]
        if stall:
            row.append("-" if a is None else _num(a.max_absorbed.max, ".1%"))
        t.add_row(*row)
    formulas = dict.fromkeys(f"{c.method}: {c.bounds.bound}" for c in cells if c.bounds)
    rises = any(c.method == "online" for c in cells if c.bounds)  # r is in online's bound only
    where = (
        " (n: live entries, c: one exp or log's error in u, D = x_max - x_min, b = logsumexp(x) "
        f"- x_max{', r: rises of the running max' * rises}; vacuous: B reaches 1/u)"
    )
    t.caption = "B: " + "; ".join(formulas) + where if formulas else None
    t.caption_justify = "left"
    return [Fit(t, keys=3 if multi_t else 2)]
