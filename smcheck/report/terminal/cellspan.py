"""A set of cells named in a few words: ``naive, shifted × float16..float64 at T=0.05..0.3``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smcheck.report.phrases import runs, swept_t

SPAN_WIDTH = 64
"""Longer exact spans give way to the union of their methods, formats and temperatures."""


@dataclass(frozen=True)
class Axes:
    """The order of a source's methods, formats and temperatures (report order)."""

    methods: list[str]
    dtypes: list[str]
    temperatures: list[float]

    @classmethod
    def of(cls, keys: Sequence[tuple[str, str, float]]) -> Axes:
        """The axes of (method, dtype, temperature) keys, each in first-seen order."""
        return cls(
            list(dict.fromkeys(k[0] for k in keys)),
            list(dict.fromkeys(k[1] for k in keys)),
            list(dict.fromkeys(k[2] for k in keys)),
        )


def temperature_text(temps: Sequence[float], axes: Axes) -> str:
    """`` at T=0.05..0.3, 2``; nothing when the source has one temperature (or T=1 only)."""
    if len(axes.temperatures) == 1:
        t = axes.temperatures[0]
        return "" if t == 1 else f" at T={t:g}"
    names = [swept_t(t, axes.temperatures) for t in axes.temperatures]
    return " at T=" + runs([names[axes.temperatures.index(t)] for t in temps], names, 2)


def _exact(keys: list[tuple[str, str, float]], axes: Axes) -> str:
    """Every cell named: methods sharing formats together, per set of temperatures."""
    temps: dict[tuple[str, str], list[float]] = {}
    for m, d, t in keys:
        temps.setdefault((m, d), []).append(t)
    by_t: dict[str, list[tuple[str, str]]] = {}
    for (m, d), ts in temps.items():
        by_t.setdefault(temperature_text(ts, axes), []).append((m, d))
    parts = []
    for t_text, pairs in by_t.items():
        dtypes: dict[str, list[str]] = {}
        for m, d in pairs:
            dtypes.setdefault(m, []).append(d)
        methods: dict[str, list[str]] = {}
        for m, ds in dtypes.items():
            methods.setdefault(runs(ds, axes.dtypes), []).append(m)
        cells = "; ".join(f"{', '.join(ms)} × {ds}" for ds, ms in methods.items())
        parts.append(cells + t_text)
    return "; ".join(parts)


def span(keys: Sequence[tuple[str, str, float]], axes: Axes) -> str:
    """The cells ``keys`` (method, dtype, temperature) in words, exactly where that is short.

    Otherwise the number of cells within the envelope of their methods, formats and
    temperatures (``12 cells of naive, torch × float16, bfloat16 at T=0.05..0.4``); the
    envelope names T as the exact form does, wherever a source has a T other than 1: cells
    that span every T of a sweep are not at one of them.
    """
    keys = list(dict.fromkeys(keys))
    exact = _exact(keys, axes)
    if len(exact) <= SPAN_WIDTH:
        return exact
    methods = [m for m in axes.methods if any(k[0] == m for k in keys)]
    named = "every method" if len(methods) == len(axes.methods) > 2 else ", ".join(methods)
    dtypes = runs(list(dict.fromkeys(k[1] for k in keys)), axes.dtypes)
    temps = sorted({k[2] for k in keys})
    lo, hi = (swept_t(t, axes.temperatures) for t in (temps[0], temps[-1]))
    envelope = f" at T={lo}" + (f"..{hi}" if len(temps) > 1 else "")
    temps_text = "" if axes.temperatures == [1] else envelope
    return f"{len(keys)} cells of {named} × {dtypes}{temps_text}"
