"""The temperature section of the terminal report: per-T verdicts, entropy chart, critical T."""

from __future__ import annotations

import math

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from smcheck.report.model import CriticalTemperature, SourceReport
from smcheck.report.phrases import row_index
from smcheck.report.terminal.cellformat import num, verdict_text
from smcheck.report.terminal.fit import Fit

BAR_WIDTH = 28
BLOCKS = " ▏▎▍▌▋▊▉█"


def _t(v: float) -> str:
    return format(v, ".3g")


def verdict_grids(s: SourceReport) -> Fit:
    """Verdict words with method × dtype as rows and temperatures as columns (split to fit)."""
    temps = list(dict.fromkeys(c.temperature for c in s.cells))
    pairs = list(dict.fromkeys((c.method, c.dtype) for c in s.cells))
    by = {(c.method, c.dtype, c.temperature): c.verdict for c in s.cells}
    t = Table(
        title="Verdicts by temperature T", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False
    )
    t.add_column("method", no_wrap=True)
    t.add_column("dtype", no_wrap=True)
    for temp in temps:
        t.add_column(_t(temp), justify="center", no_wrap=True)
    for m, d in pairs:
        t.add_row(m, d, *(verdict_text(by[(m, d, x)]) for x in temps))
    return Fit(t, keys=2)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``fraction`` (clipped to [0, 1]) of ``width`` cells, in eighths."""
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[rest] if rest else "")).ljust(width)


def sweep_table(s: SourceReport) -> Fit:
    """Mean entropy, max probability and effective support per T, with entropy as bars."""
    assert s.temperature is not None
    top = math.log(s.row_length) if s.row_length > 1 else 1.0
    t = Table(
        title="Entropy vs temperature (exact, from the source values)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption=f"bar: mean entropy, full width = ln({s.row_length}) = {top:.3g} nats (uniform)",
        caption_justify="left",
    )
    for head in ("T", "entropy", "max p", "support"):
        t.add_column(head, justify="right")
    t.add_column("mean entropy")
    for p in sorted(s.temperature.sweep, key=lambda p: p.temperature):
        h = p.entropy_mean
        t.add_row(
            _t(p.temperature),
            num(h),
            num(p.max_prob_mean),
            num(p.effective_support_mean),
            Text(bar(h / top) if h is not None else "", style="cyan"),
        )
    return Fit(t)


def _bound(v: float | None, none: str, at_top: str) -> str:
    if v is None:
        return none
    return at_top if math.isinf(v) else format(v, ".4g")


def critical_table(s: SourceReport) -> list[RenderableType]:
    """Per method × dtype: the lowest safe T and the one-hot T, then the remedies."""
    ta = s.temperature
    assert ta is not None and ta.critical is not None and ta.scan is not None
    lo, hi = f"{ta.scan.lo:.0e}", f"{ta.scan.hi:.0e}"
    t = Table(
        title="Critical temperatures",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption=(
            f"safe: no overflow and no NaN probability on any row (underflow, -inf log p and "
            f"the gradients are judged in the verdicts, not here); scanned {lo}..{hi}, one T "
            f"per decade, then bisection on log T to {ta.scan.rel_tol:.1%}; one-hot: every "
            "row's output exactly one-hot"
        ),
        caption_justify="left",
    )
    heads = (
        "method",
        "dtype",
        "safe for T >=",
        "fails by",
        "in row",
        "one-hot below T",
        "last row",
    )
    for head in heads:
        t.add_column(head, justify="left" if head in ("method", "dtype", "fails by") else "right")
    for c in ta.critical:
        t.add_row(
            c.method,
            c.dtype,
            "none"
            if "cast_overflow" in c.causes
            else _bound(c.min_safe, f"all (>= {lo})", f"none (<= {hi})"),
            ", ".join(_short(x) for x in c.causes) or "-",
            row_index(c.min_safe_row),
            _bound(c.one_hot_below, "never", f"all (<= {hi})"),
            row_index(c.one_hot_row),
        )
    return [Fit(t, keys=2), *_advice(ta.critical)]


def _short(cause: str) -> str:
    return {"temperature_overflow": "x/T overflow", "exp_overflow": "exp overflow"}.get(
        cause, cause.replace("_", " ")
    )


def _advice(critical: list[CriticalTemperature]) -> list[Text]:
    """One line per distinct remedy; methods sharing it are named together."""
    groups: dict[str, list[str]] = {}
    for c in critical:
        if c.advice:  # "{method} {dtype}: ..." -- group on what follows the method
            groups.setdefault(c.advice[len(c.method) + 1 :], []).append(c.method)
    return [
        Text.assemble(("remedy ", "bold"), ", ".join(ms), " ", rest) for rest, ms in groups.items()
    ]


def temperature_section(s: SourceReport) -> list[RenderableType]:
    """Shown when several temperatures were analysed or critical temperatures were asked for."""
    ta = s.temperature
    if ta is None or (len(ta.sweep) < 2 and ta.critical is None):
        return []
    out: list[RenderableType] = [sweep_table(s)]
    if ta.critical is not None:
        out += critical_table(s)
    return out
