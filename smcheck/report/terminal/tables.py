"""The tables of ``-v/--details``: input, formats, faults, accuracy, gradients, findings.

Every table is wrapped in :class:`Fit`, so at any width its numbers are split, never cut.
"""

from __future__ import annotations

from collections.abc import Callable

from rich import box
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from smcheck.dtypes import get_format
from smcheck.report.model import Cell, Count, InputRounding, Report, SourceReport, Verdict
from smcheck.report.phrases import (
    first_of,
    no_findings,
    num,
    of_input,
    operation,
    overflow_limit,
    plural,
    row_index,
)
from smcheck.report.sitemodel import rows_dtype
from smcheck.report.terminal.bounds import bounds_tables
from smcheck.report.terminal.cellformat import legend, verdict_text
from smcheck.report.terminal.concise import SourceName
from smcheck.report.terminal.findinglines import finding_lines
from smcheck.report.terminal.fit import Fit
from smcheck.report.terminal.masks import mask_renderables
from smcheck.report.terminal.temperature import temperature_section, verdict_grids
from smcheck.report.terminal.values import gradient_values_table, values_tables


def _count(c: Count) -> str:
    return "0" if c.elements == 0 else f"{c.elements}/{c.rows}r"


def input_summary(s: SourceReport) -> Table:
    """Shape, rows, range and non-finite values of the source, and its notes."""
    t = Table(box=box.SIMPLE, show_header=False)  # the name above it: SourceName
    t.add_column(style="dim")
    t.add_column()
    i = s.input
    over = f"{operation(s.softmin)} over dim {s.dim}"
    t.add_row("shape", f"{s.shape}  (source dtype {rows_dtype(s.dtype, s.site)}, {over})")
    t.add_row(
        "rows",
        f"{plural(s.rows, 'row')} of length {s.row_length}"
        + ("  (softmin: analysing -x)" if s.softmin else ""),
    )
    of = of_input(s.softmin)  # the values are -x's under softmin
    t.add_row(f"range{of}", f"{num(i.min, '.6g')} .. {num(i.max, '.6g')}")
    t.add_row(
        f"max logsumexp{of}",
        num(i.max_logsumexp, ".6g")  # one row needs no index ("row []" of a 1-D input)
        + (
            f" (row {row_index(i.max_logsumexp_row)})"
            if s.rows > 1 and i.max_logsumexp_row is not None  # none: "-", not "- (row -)"
            else ""
        ),
    )
    t.add_row(f"non-finite{of}", f"{i.nan} NaN, {i.posinf} +inf, {i.neginf} -inf (masks)")
    # fully masked rows of mask values only are judged (a finite softmax), the -inf ones not;
    # the first row given is of both kinds, so it is named only beside one kind
    of_masks = i.fully_masked_sentinel_rows
    neginf_rows = i.fully_masked_rows - of_masks
    if neginf_rows or i.upstream_rows:
        t.add_row(
            f"excluded rows{of}",
            f"{i.upstream_rows} with NaN/+inf from upstream"
            + (f" ({first_of(i.upstream_rows, i.upstream_first_row)})" if i.upstream_rows else "")
            + f", {neginf_rows} fully masked"
            + (
                f" ({first_of(neginf_rows, i.fully_masked_first_row)})"
                if neginf_rows and not of_masks
                else ""
            ),
        )
    if of_masks:
        t.add_row(
            f"fully masked{of}",
            f"{of_masks} of mask values only, judged"
            + ("" if neginf_rows else f" ({first_of(of_masks, i.fully_masked_first_row)})"),
        )
    for note in s.notes:
        t.add_row("note", note)
    return t


def format_table(s: SourceReport) -> Fit:
    """Per dtype: limits, headroom of the worst row, and the effect of rounding the input (the
    cast, and at each T the rounding of x/T: its normwise change of p in units of u)."""
    # the overflow room is ln(the first value that rounds to +inf) - the worst row's logsumexp:
    # room to naive's sum of exp overflowing, not its largest exp (eight 10s in float16: -0.989,
    # while exp(10) is 1.09 nats below "exp overflows >")
    t = Table(title="Formats", box=box.SIMPLE_HEAD, title_justify="left")
    divided = any(r.division for r in s.input_rounding)  # some T != 1 in a format up to float32
    cols = ["dtype", "T", "exp overflows >", "sum overflow room", "underflow room", "input Δlog p"]
    for col in [*cols, "cast ±inf", *(["x/T Δp"] if divided else [])]:
        t.add_column(col, justify="right" if col != "dtype" else "left")
    rounding = {r.dtype: r for r in s.input_rounding}
    first: dict[tuple[str, float], Cell] = {}
    for c in s.cells:  # one row per format and T (the headroom is theirs, not a method's)
        first.setdefault((c.dtype, c.temperature), c)
    cells = list(first.values())
    temperatures = {c.temperature for c in cells}
    # the cast's Δlog p is of softmax(x) (T = 1), not of x/T: given once per format, in its
    # T = 1 row or else its first
    dlogp_at = {c.dtype: c.temperature for c in reversed(cells)} | {
        c.dtype: 1.0 for c in cells if c.temperature == 1
    }
    for c in cells:
        h = c.metrics.headroom
        r = rounding[c.dtype]
        dlogp = "exact" if r.exact else num(r.max_abs_dlogp, ".2e")
        t.add_row(
            c.dtype,
            num(c.temperature, "g"),
            overflow_limit(get_format(c.dtype).exp_overflow_x),
            num(h.overflow_nats, ".3g"),
            num(h.underflow_nats, ".3g"),
            dlogp if dlogp_at[c.dtype] == c.temperature else "",
            _count(r.cast_overflow),
            *([_division(r, c.temperature)] if divided else []),
        )
    t.caption = _format_caption(
        temperatures != {1.0}, bool(s.input.sentinels), len(temperatures) > 1
    )
    t.caption_justify = "left"
    return Fit(t, keys=2)  # a split repeats dtype and T


def _format_caption(other_t: bool, sentinels: bool, several: bool) -> str:
    """What the Formats table's rows are, and of what its cast columns speak."""
    rows = "each format at each T" if several else "each format"
    return (
        f"rows: {rows}; the rooms are the worst row's; input Δlog p"
        + (" (at T = 1, given once per format)" if other_t else "")
        + ", cast ±inf: what the cast does to the logits"
        # -1e4 -> -9984 in bfloat16 would read as 16 nats of the logits'
        + (" (mask sentinels left out)" if sentinels else "")
    )


def _division(r: InputRounding, temperature: float) -> str:
    """``31.8u``: what rounding x/T moves p by at this T; ``exact``; ``-`` where not measured."""
    d = next((d for d in r.division if d.temperature == temperature), None)
    if d is None or d.normwise_u is None:
        return "-"
    return "exact" if d.changed_elements == 0 else num(d.normwise_u, ".3g") + "u"


def grid(s: SourceReport) -> Fit:
    """Method × dtype verdicts (one column per dtype and temperature)."""
    cols = list(dict.fromkeys((c.dtype, c.temperature) for c in s.cells))
    multi_t = len({t for _, t in cols}) > 1
    t = Table(title="Verdicts", box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("method")
    for d, temp in cols:
        t.add_column(f"{d}" + (f"\nT={temp:g}" if multi_t else ""), justify="center")
    by = {(c.method, c.dtype, c.temperature): c for c in s.cells}
    for m in dict.fromkeys(c.method for c in s.cells):
        t.add_row(m, *(verdict_text(by[(m, d, temp)]) for d, temp in cols))
    return Fit(t)


def _cell_table(
    s: SourceReport, title: str, heads: list[str], values: Callable[[Cell], list[str]]
) -> Fit:
    """A method × dtype (× T) table of ``values(cell)`` columns."""
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    multi_t = len({c.temperature for c in s.cells}) > 1
    for h in ["method", "dtype", *(["T"] if multi_t else []), "verdict"]:
        t.add_column(h, no_wrap=True)
    for h in heads:
        t.add_column(h, justify="right", no_wrap=True)
    for c in s.cells:
        lead = [c.method, c.dtype, *([num(c.temperature, "g")] if multi_t else [])]
        t.add_row(*lead, verdict_text(c), *values(c))
    return Fit(t, keys=4 if multi_t else 3)


def metrics_tables(s: SourceReport) -> list[Fit]:
    """What broke (counts as elements/rows) and how accurate the rest is.

    The overflow column counts every +inf, the cast's too (each a ``cast-overflow`` FAIL of the
    cell), as check's ``overflow`` condition does: a FAIL cell never reads 0 there.
    """
    faults = _cell_table(
        s,
        "Faults (elements/rows)",
        ["overflow", "NaN", "inf/NaN logp", "underflow", "exact 0", "lost", "flips"],
        lambda c: [
            _count(c.metrics.overflow_with_cast),
            _count(c.metrics.nan),
            _count(c.metrics.log_nonfinite),
            _count(c.metrics.underflow),
            _count(c.metrics.exact_zero),
            num(c.metrics.lost_mass.max, ".2g"),
            str(c.metrics.argmax_flips.rows),
        ],
    )
    accuracy = _cell_table(
        s,
        "Accuracy of finite outputs",
        ["max ulp", "median ulp", "normwise u", "|sum-1|", "KL max", "KL mean"],
        lambda c: [
            num(c.metrics.error.max_ulp, ".3g"),
            num(c.metrics.error.median_ulp, ".3g"),
            num(c.metrics.error.normwise_u, ".3g"),
            num(c.metrics.sum_error.max, ".2g"),
            num(c.metrics.kl.max, ".2g"),
            num(c.metrics.kl.mean, ".2g"),
        ],
    )
    return [faults, accuracy]


def _rows(n: int) -> str:
    """A row count beside element/row counts: ``4r`` (0 alone)."""
    return f"{n}r" if n else "0"


def gradient_table(s: SourceReport) -> Fit | None:
    """Per method × dtype: what back-propagating the cross-entropy loss did (None if not run)."""
    g0 = next((c.gradient for c in s.cells if c.gradient is not None), None)
    if g0 is None:
        return None
    skipped = f", {plural(g0.masked_target_rows, 'row')} with a masked target left out" * bool(
        g0.masked_target_rows
    )

    def values(c: Cell) -> list[str]:
        """The gradient columns of one cell."""
        g = c.gradient
        if g is None:
            return ["-"] * 8
        return [
            _rows(g.loss_inf.rows),
            _rows(g.loss_nan.rows),
            _count(g.nan),
            _count(g.dead),
            str(g.vanished_rows),
            str(g.saturated_rows),
            num(g.max_rel_error, ".1e"),
            num(g.loss_error.max_abs, ".1e"),
        ]

    return _cell_table(
        s,
        escape(
            f"Gradients of -log p[target] (targets: {g0.target}{skipped}; elements/rows, "
            "r: rows; grad error: max over rows of max|ĝ - g| / max|g|, 1 where a tiny g rounds "
            "to 0; loss error in nats)"
        ),
        ["loss\ninf", "loss\nNaN", "grad\nNaN", "dead", "van-\nished", "satu-\nrated"]
        + ["grad\nerror", "loss\nerror"],
        values,
    )


def findings(s: SourceReport) -> list[RenderableType]:
    """Every finding, notes too, grouped by cause and remedy; or a line saying all is OK."""
    lines = finding_lines(s, {"FAIL", "WARN", "NOTE"}, every=True)
    cells = no_findings(s.cells)
    if not lines and s.verdict is not Verdict.OK:  # the input's own findings (all NaN, masks)
        return [Text(f"Findings: {s.verdict.value} from the input findings above; {cells}.")]
    if not lines:
        return [Text(f"No findings: {cells}.", style="green")]
    return [Text("Findings", style="bold"), *lines]


def build_tables(report: Report) -> list[RenderableType]:
    """Everything ``-v/--details`` shows, as rich renderables in order."""
    out: list[RenderableType] = []
    for k, s in enumerate(report.sources):
        multi_t = len({c.temperature for c in s.cells}) > 1
        out += [
            *([Text("")] if k else []),  # a blank line between sources, as the default report
            SourceName(s.name),
            input_summary(s),
            *mask_renderables(s),
            verdict_grids(s) if multi_t else grid(s),
            *legend(s.cells),
            format_table(s),
            *metrics_tables(s),
            *bounds_tables(s),
            *values_tables(s),
            *temperature_section(s),
        ]
        out += [r for r in (gradient_table(s), gradient_values_table(s)) if r is not None]
        out += findings(s)
    return out
