"""Figures of the HTML report as inline SVG, drawn with matplotlib (the optional ``html`` extra).

matplotlib is imported only here and only when a page is rendered: ``smcheck --help`` and every
other format never load it. Figures are built on ``matplotlib.figure.Figure`` (no pyplot, so no
global backend or open-figure state), and saved with a fixed hash salt and no date, so the same
report gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

from smcheck.errors import ConfigError
from smcheck.report.model import Cell, SourceReport
from smcheck.report.phrases import bisected_t
from smcheck.report.temperaturemodel import TemperatureAnalysis

FORMAT_COLOURS = {
    "float16": "#d62728",
    "bfloat16": "#ff7f0e",
    "float32": "#1f77b4",
    "float64": "#2ca02c",
}
METHOD_COLOURS = ("#1b1b1b", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")


def require_plotting(option: str = "--format html") -> None:
    """Raise the one-line error naming the extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(
            f'{option} needs the plotting extra: pip install "smcheck-softmax[html]"'
        ) from None


def _figure(width: float, height: float, **subplots: Any) -> tuple[Any, Any]:
    require_plotting()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=None)
    return fig, fig.subplots(squeeze=False, **subplots)


def svg(fig: Any, salt: str) -> str:
    """The figure as a deterministic ``<svg>`` element; ``salt`` keeps its ids unique on a page.

    Cropped to what is drawn (``bbox_inches="tight"``): half the cost of a constrained layout.
    """
    import matplotlib

    buf = io.StringIO()
    # glyphs as paths: the figure looks the same in every browser, whatever fonts it has
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(
            buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
        )
    text = buf.getvalue()
    # matplotlib numbers its elements per figure (figure_1, axes_1, ...): prefix every id and
    # every reference to one with the salt, so several figures in one page never share an id
    text = re.sub(r'(id="|href="#|url\(#)', lambda m: f"{m.group(1)}{salt}-", text)
    return text[text.index("<svg") :]


def _colour(dtype: str) -> str:
    return FORMAT_COLOURS.get(dtype, "#555555")


def temperature_figure(source: SourceReport, salt: str) -> str | None:
    """Entropy, max probability and effective support against T, critical temperatures marked.

    None when the sweep has fewer than two temperatures (there is no curve to draw).
    """
    t = source.temperature
    points = [p for p in t.sweep if p.entropy_mean is not None] if t else []
    if t is None or len(points) < 2:
        return None
    fig, axes = _figure(8.0, 6.6, nrows=3, sharex=True)
    fig.subplots_adjust(hspace=0.12)
    temps = [p.temperature for p in points]
    series = [
        ("entropy (nats)", [p.entropy_mean for p in points]),
        ("max probability", [p.max_prob_mean for p in points]),
        ("effective support\n(classes)", [p.effective_support_mean for p in points]),
    ]
    for ax, (label, ys) in zip(axes[:, 0], series, strict=True):
        ax.plot(temps, ys, color="black", marker="o", markersize=3, linewidth=1.5)
        ax.set_ylabel(label)
        ax.grid(True, which="major", alpha=0.3)
    ax0 = axes[0, 0]
    temperature_axis(ax0, temps)
    lo, hi = min(temps), max(temps)
    marked = _mark_critical(axes[:, 0], t, lo, hi)
    axes[-1, 0].set_xlabel("temperature T (log scale)")
    if marked:
        fig.legend(
            *marked,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=2,
            fontsize="small",
            frameon=False,
        )
    ax0.set_title("mean over rows of softmax(x / T), exact")
    return svg(fig, salt)


def temperature_axis(ax: Any, temps: list[float]) -> None:
    """A log axis of T labelled with plain numbers: the sweep's own values when they are few."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(temps) <= 9:
        ax.set_xticks(temps)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: f"{t:.3g}"))


def _mark_critical(axes: Sequence[Any], ta: TemperatureAnalysis, lo: float, hi: float) -> Any:
    """Vertical lines at each format's critical temperatures inside [lo, hi], as the critical
    table gives them (:func:`~smcheck.report.phrases.bisected_t`); legend handles."""
    from matplotlib.lines import Line2D

    if ta.critical is None or ta.scan is None:
        return None
    found: dict[tuple[str, str, str], list[str]] = {}
    for c in ta.critical:
        # the safe ends, rounded into the safe range: the edge is near, not at, them (≈)
        for kind, value in (
            ("unsafe below T≈", c.min_safe),
            ("unsafe above T≈", c.max_safe),
            ("one-hot below T=", c.one_hot_below),
        ):
            if value is not None and math.isfinite(value) and lo <= value <= hi:
                shown = bisected_t(value, ta.scan.rel_tol, up=kind == "unsafe below T≈")
                found.setdefault((c.dtype, kind, shown), []).append(c.method)
    handles, labels = [], []
    for (dtype, kind, shown), methods in found.items():
        style = ":" if kind.startswith("one-hot") else "-"
        for ax in axes:
            ax.axvline(float(shown), color=_colour(dtype), linestyle=style, linewidth=1.2)
        handles.append(Line2D([], [], color=_colour(dtype), linestyle=style))
        labels.append(f"{dtype} {', '.join(methods)}: {kind}{shown}")
    return (handles, labels) if handles else None


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_two(e: int) -> str:
    """``2⁻¹⁰``: plain text, as matplotlib's mathtext would take seconds per figure to lay out."""
    return "2" + str(e).translate(SUPERSCRIPT)


def shown_temperature(source: SourceReport) -> float:
    """The temperature whose cells the per-cell figures show: 1 when analysed, else the nearest."""
    temps = sorted({c.temperature for c in source.cells}) or [1.0]
    return min(temps, key=lambda t: (abs(math.log(t)) if t > 0 else math.inf, t))


def ulp_figure(source: SourceReport, salt: str) -> str | None:
    """Per format, one step line per method: how many elements have each ulp error."""
    temperature = shown_temperature(source)
    cells = [
        c
        for c in source.cells
        if c.temperature == temperature and c.metrics.error.ulp_histogram is not None
    ]
    formats = list(dict.fromkeys(c.dtype for c in cells))
    if not formats:
        return None
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = _figure(2.5 * len(formats) + 1.4, 3.0, ncols=len(formats), sharey=True)
    fig.subplots_adjust(right=0.88, wspace=0.08)
    methods = list(dict.fromkeys(c.method for c in source.cells))
    first = cells[0].metrics.error.ulp_histogram
    assert first is not None
    n = len(first.counts)
    tall = max(max(h.counts) for c in cells if (h := c.metrics.error.ulp_histogram)) >= 50
    ticks = [k for k in range(1, n) if (first.lo_log2 + k - 1) % 5 == 0]
    for ax, dtype in zip(axes[0], formats, strict=True):
        for c in (c for c in cells if c.dtype == dtype):
            _ulp_steps(ax, c, METHOD_COLOURS[methods.index(c.method) % len(METHOD_COLOURS)])
        ax.set_title(dtype, color=_colour(dtype))
        if tall:  # counts over decades: a log axis keeps the tails in sight
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, axis="y", alpha=0.3)
        # bin k spans [k - 0.5, k + 0.5) on the axis and starts at 2^(lo_log2 + k - 1) ulp
        ax.axvline(-first.lo_log2 - 0.5, color="grey", linewidth=0.8)  # 2^-1: 0.5 ulp
        ax.set_xticks(
            [k - 0.5 for k in ticks], [power_of_two(first.lo_log2 + k - 1) for k in ticks]
        )
        ax.set_xlim(-0.5, n - 0.5)
    axes[0, 0].set_ylabel("elements")
    fig.supxlabel(
        f"|p̂ - p| in ulps of the format (left bin: below {power_of_two(first.lo_log2)}; "
        "grey line: 0.5 ulp, correct rounding)",
        fontsize="medium",
        y=-0.06,
    )
    legend = {}  # one entry per method, whichever formats it ran in, in the report's order
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    order = sorted(legend, key=lambda label: methods.index(label.split(" ")[0]))
    fig.legend(
        [legend[k] for k in order],
        order,
        loc="upper left",
        bbox_to_anchor=(0.9, 0.88),
        fontsize="small",
        frameon=False,
    )
    return svg(fig, salt)


def _ulp_steps(ax: Any, c: Cell, colour: str) -> None:
    h = c.metrics.error.ulp_histogram
    assert h is not None
    label = c.method + (" (not selected)" if c.hypothetical else "")
    edges = [k - 0.5 for k in range(len(h.counts) + 1)]
    ax.stairs(h.counts, edges, color=colour, linewidth=1.4, label=label)


def headroom_figure(source: SourceReport, salt: str) -> str | None:
    """Nats from each format's overflow and underflow limits: bars at one T, lines over a sweep."""
    shared: dict[tuple[str, float], Any] = {}
    for c in source.cells:  # headroom belongs to the format and T, not to a method
        shared.setdefault((c.dtype, c.temperature), c.metrics.headroom)
    formats = list(dict.fromkeys(d for d, _ in shared))
    temps = sorted({t for _, t in shared})
    if not formats:
        return None
    fig, axes = _figure(8.0, 3.4, ncols=2)
    fig.subplots_adjust(wspace=0.3)
    # the overflow side is of the row's sum of exp, not of one exp: eight 10s in float16 have
    # ln 65520 - logsumexp = -0.989 while each exp(10) is finite
    sides = (
        (
            "overflow_nats",
            "to overflow of the sum of exp(x/T)\n(ln overflow threshold - worst row logsumexp)",
        ),
        ("underflow_nats", "to underflow of p\n(smallest log p - ln(min subnormal/2))"),
    )
    for ax, (attr, title) in zip(axes[0], sides, strict=True):
        ax.axhline(0.0, color="black", linewidth=1.0)
        if len(temps) == 1:
            ys = [getattr(shared[(d, temps[0])], attr) for d in formats]
            bars = [0.0 if y is None else y for y in ys]
            colours = [_colour(d) for d in formats]
            ax.bar(formats, bars, color=colours, edgecolor="black", linewidth=0.5)
            for x, y in enumerate(ys):
                text = "n/a" if y is None else f"{y:.3g}"
                ax.annotate(text, (x, bars[x]), ha="center", va="bottom", fontsize="small")
        else:
            for d in formats:
                ys = [getattr(shared[(d, t)], attr) for t in temps if (d, t) in shared]
                xs = [t for t in temps if (d, t) in shared]
                ys = [math.nan if y is None else y for y in ys]
                ax.plot(xs, ys, color=_colour(d), marker="o", markersize=3, label=d)
            temperature_axis(ax, temps)
            ax.set_xlabel("temperature T (log scale)")
        ax.set_title("headroom " + title, fontsize="medium")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("nats (below 0: past the format's limit)")
    if len(temps) > 1:
        axes[0, 1].legend(fontsize="small")
    return svg(fig, salt)
