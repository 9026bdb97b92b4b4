"""The temperature tables as text: titles, headers, rows and remedies, built once here so the
terminal (rich), Markdown and HTML reports show the same figures, each drawing them its own way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from smcheck.report.model import SourceReport
from smcheck.report.phrases import (
    NO_ROW_JUDGED,
    bisected_digits,
    bisected_t,
    never_down_to,
    num,
    row_index,
    swept_t,
)
from smcheck.report.temperaturemodel import CriticalTemperature, TemperatureAnalysis

SWEEP_TITLE = "Entropy vs temperature (exact, from the source values)"
SWEEP_HEADER = ("T", "entropy", "max p", "support")
CRITICAL_TITLE = "Critical temperatures"
CRITICAL_HEADER = (
    "method",
    "dtype",
    "safe for T >=",
    "fails by",
    "in row",
    "one-hot below T",
    "last row",
)


def shown(s: SourceReport) -> bool:
    """Whether a source has temperature tables: several temperatures analysed, or critical
    temperatures asked for (one T's sweep is a single row, which says nothing)."""
    ta = s.temperature
    return ta is not None and (len(ta.sweep) >= 2 or ta.critical is not None)


def temperature_text(t: float, temps: Sequence[float]) -> str:
    """A temperature of the sweep ``temps`` as a table heading or cell: three significant
    digits, more where the sweep needs them to tell its temperatures apart (:func:`swept_t`)."""
    return swept_t(t, temps)


@dataclass(frozen=True)
class SweepRow:
    """One temperature of the sweep, as the cells of :data:`SWEEP_HEADER`."""

    cells: tuple[str, str, str, str]
    """T, mean entropy (nats), mean max probability, mean effective support."""
    entropy_fraction: float | None
    """Mean entropy over :func:`entropy_scale` (None when no row was averaged)."""


def uniform_entropy(s: SourceReport) -> float:
    """ln(row length), the entropy of the uniform distribution (0 for rows of one element)."""
    return math.log(s.row_length) if s.row_length > 1 else 0.0


def entropy_scale(s: SourceReport) -> float:
    """The full scale of the sweep's entropy bars: :func:`uniform_entropy`, or 1 nat for rows of
    one element, whose entropy is always 0 (there is no ln(N) to divide by)."""
    return uniform_entropy(s) or 1.0


def uniform_text(s: SourceReport) -> str:
    """``ln(4) = 1.39``: the uniform entropy, as it is (``ln(1) = 0``)."""
    return f"ln({s.row_length}) = {uniform_entropy(s):.3g}"


def sweep_caption(s: SourceReport) -> str:
    """What the sweep's figures are: ``Means over the rows; entropy in nats, ln(4) = 1.39 if
    uniform`` (the terminal draws its own, about its bars)."""
    return f"Means over the rows; entropy in nats, {uniform_text(s)} if uniform"


def sweep_rows(s: SourceReport) -> list[SweepRow]:
    """The sweep by increasing T."""
    assert s.temperature is not None
    top = entropy_scale(s)
    temps = [p.temperature for p in s.temperature.sweep]
    return [
        SweepRow(
            (
                temperature_text(p.temperature, temps),
                num(p.entropy_mean),
                num(p.max_prob_mean),
                num(p.effective_support_mean),
            ),
            None if p.entropy_mean is None else p.entropy_mean / top,
        )
        for p in sorted(s.temperature.sweep, key=lambda p: p.temperature)
    ]


def _bound(v: float | None, ta: TemperatureAnalysis, none: str, at_top: str, *, up: bool) -> str:
    if v is None:
        return none
    assert ta.scan is not None
    return at_top if math.isinf(v) else bisected_t(v, ta.scan.rel_tol, up=up)


def _scan_ends(ta: TemperatureAnalysis) -> tuple[str, str]:
    """The scan's bottom as a swept T is written (1e-06, or the lowest swept T: 1e-306), and its
    top."""
    assert ta.scan is not None
    return f"{ta.scan.lo:g}", f"{ta.scan.hi:.0e}"


def _grid_text(grid: list[float]) -> str:
    """``one T per decade``, or where the scan went on below its decades to a swept T, ``one T
    per decade down to 1e-06 and each swept T below it``."""
    last = 0
    while last + 1 < len(grid) and math.isclose(grid[last] / grid[last + 1], 10):
        last += 1
    if last + 1 == len(grid):
        return "one T per decade"
    return f"one T per decade down to {grid[last]:g} and each swept T below it"


def critical_caption(ta: TemperatureAnalysis) -> str:
    """What "safe" and "one-hot" mean, and how the temperatures were searched."""
    assert ta.scan is not None
    lo, hi = _scan_ends(ta)
    digits = bisected_digits(ta.scan.rel_tol)
    ceiling = ta.critical is not None and any(c.max_safe is not None for c in ta.critical)
    safe = "into the safe range" if ceiling else "up where safe"
    return (
        f"safe: no overflow and no NaN probability on any row (underflow, -inf log p and "
        f"the gradients are judged in the verdicts, not here); scanned {lo}..{hi}, "
        f"{_grid_text(ta.scan.grid)}, then bisection on log T to {ta.scan.rel_tol:.1%}, so T "
        f"to {digits} "
        f"significant digits, rounded {safe} and down where one-hot; one-hot: every "
        "row's output exactly one-hot"
    )


def critical_rows(ta: TemperatureAnalysis) -> list[tuple[str, ...]]:
    """Per method × dtype, the cells of :data:`CRITICAL_HEADER`."""
    assert ta.critical is not None
    lo, hi = _scan_ends(ta)
    return [
        (
            c.method,
            c.dtype,
            "none" if {"cast_overflow", "cast_masked"} & set(c.causes) else _safe_range(c, ta),
            *_failing(c),
            _bound(c.one_hot_below, ta, never_down_to(ta.scan.lo), f"all (<= {hi})", up=False),
            row_index(c.one_hot_row),
        )
        if c.judged
        else (c.method, c.dtype, NO_ROW_JUDGED, "-", "-", NO_ROW_JUDGED, "-")
        for c in ta.critical
    ]


def _safe_range(c: CriticalTemperature, ta: TemperatureAnalysis) -> str:
    """The "safe for T >=" cell: ``0.998``, ``all (>= 1e-06)``, ``none (<= 1e+03)``, or with a
    ceiling ``7.23e-05, <= 64.3`` (``1e-06, <= 0.941`` safe down to the scan's bottom)."""
    lo, hi = _scan_ends(ta)
    if c.max_safe is None:
        return _bound(c.min_safe, ta, f"all (>= {lo})", f"none (<= {hi})", up=True)
    assert ta.scan is not None
    low = _bound(c.min_safe, ta, lo, f"none (<= {hi})", up=True)
    return f"{low}, <= {bisected_t(c.max_safe, ta.scan.rel_tol, up=False)}"


def _failing(c: CriticalTemperature) -> tuple[str, str]:
    """The "fails by" and "in row" cells: below min_safe, then above max_safe (``sum overflow
    above``, ``[1] above``)."""
    causes = [", ".join(_short(x) for x in c.causes)] if c.min_safe is not None else []
    rows = [row_index(c.min_safe_row)] if c.min_safe is not None else []
    if c.max_safe is not None:
        causes.append(", ".join(_short(x) for x in c.max_safe_causes) + " above")
        rows.append(f"{row_index(c.max_safe_row)} above")
    return "; ".join(causes) or "-", "; ".join(rows) or "-"


def _short(cause: str) -> str:
    short = {
        "temperature_overflow": "x/T overflow",
        "exp_overflow": "exp overflow",
        "temperature_zero": "T rounds to 0",
    }
    return short.get(cause, cause.replace("_", " "))


def remedies(critical: list[CriticalTemperature]) -> list[tuple[str, str]]:
    """One (methods, remedy) per distinct remedy, the methods sharing it named together:
    ``("shifted, torch", "float16: below T=0.0001689 ...")``."""
    groups: dict[str, list[str]] = {}
    for c in critical:
        if c.advice:  # "{method} {dtype}: ..." -- group on what follows the method
            groups.setdefault(c.advice[len(c.method) + 1 :], []).append(c.method)
    return [(", ".join(ms), rest) for rest, ms in groups.items()]
