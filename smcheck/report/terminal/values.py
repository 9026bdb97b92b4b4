"""Per-value tables of small inputs: every probability, log-probability, loss and gradient.

Each is one wide table (a row per method and softmax row, a column per class) when that fits
the width, else one table per format transposed to a row per class, split by columns if needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from smcheck.report.model import SourceReport
from smcheck.report.phrases import num
from smcheck.report.terminal.fit import Fit

Series = tuple[str, list[list[float]]]
"""(name, rows of values): the exact values or one method's, for one format and T."""


def _name(name: str) -> Text:
    return Text(name, style="bold" if name == "exact" else "")


def _wide(
    title: str, groups: list[tuple[str, list[Series]]], multi_row: bool, lead: str | None
) -> Table:
    """A row per (format, series, softmax row), a column per class (``lead`` first)."""
    t = Table(title=Text(str(title)), box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("dtype", no_wrap=True)
    t.add_column("method", no_wrap=True)
    if multi_row:
        t.add_column("row", justify="right", no_wrap=True)
    if lead is not None:
        t.add_column(lead, justify="right", no_wrap=True)
    n = max((len(v) for _, series in groups for _, rows in series for v in rows), default=0)
    for j in range(n - (lead is not None)):
        t.add_column(f"[{j}]", justify="right", no_wrap=True)
    for tag, series in groups:
        for name, rows in series:
            for r, vals in enumerate(rows):
                lead_row = [str(r)] if multi_row else []
                t.add_row(tag, _name(name), *lead_row, *_texts(vals, lead is not None))
        t.add_section()
    return t


def _texts(vals: Sequence[float], lead: bool) -> list[str]:
    """Values to 5 digits; a leading loss to 12, where methods differ in the last places."""
    return [num(v, ".12g" if lead and j == 0 else ".5g") for j, v in enumerate(vals)]


def _tall(title: str, series: list[Series], multi_row: bool, lead: str | None) -> Table:
    """One format: a row per class (``lead`` first), a column per series and softmax row."""
    t = Table(title=Text(title), box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("class", justify="right", no_wrap=True)
    cols = [(name, r, vals) for name, rows in series for r, vals in enumerate(rows)]
    for name, r, _ in cols:
        head = _name(name)
        if multi_row:
            head.append(f"\nrow {r}")
        t.add_column(head, justify="right", no_wrap=True)
    n = max((len(v) for *_, v in cols), default=0)
    labels = ([lead] if lead is not None else []) + [
        f"[{j}]" for j in range(n - (lead is not None))
    ]
    texts = [_texts(v, lead is not None) for *_, v in cols]
    for j, label in enumerate(labels):
        t.add_row(label, *(col[j] for col in texts))
    return t


def _fit(
    title: str, groups: list[tuple[str, list[Series]]], multi_row: bool, lead: str | None
) -> Fit:
    """The wide table, else the tall one of each format."""
    tall = [_tall(f"{title}, {tag}", series, multi_row, lead) for tag, series in groups]
    return Fit(_wide(title, groups, multi_row, lead), tall, keys=1)


def _tag(dtype: str, temperature: float) -> str:
    return dtype + ("" if temperature == 1 else f" T={temperature:g}")


def values_tables(s: SourceReport) -> list[Fit]:
    """For small inputs: each method's probabilities and log-probabilities beside the exact ones."""
    if not s.exact:
        return []
    out = []
    for label, attr in (
        ("Probabilities", "probabilities"),
        ("Log-probabilities", "log_probabilities"),
    ):
        groups = []
        for e in s.exact:
            series: list[Series] = [("exact", getattr(e, attr))]
            series += [
                (c.method, getattr(c, attr) or [])
                for c in s.cells
                if c.dtype == e.dtype and c.temperature == e.temperature
            ]
            groups.append((_tag(e.dtype, e.temperature), series))
        out.append(_fit(label, groups, s.rows > 1, None))
    return out


def gradient_values_table(s: SourceReport) -> Fit | None:
    """For small inputs: each method's loss and gradient beside the exact ones."""
    cells = [c for c in s.cells if c.gradient is not None and c.gradient.gradients is not None]
    if not cells:
        return None
    groups = []
    for key in dict.fromkeys((c.dtype, c.temperature) for c in cells):
        group = [c for c in cells if (c.dtype, c.temperature) == key]
        g0 = group[0].gradient
        assert g0 is not None and g0.exact_losses is not None and g0.exact_gradients is not None
        series: list[Series] = [
            ("exact", [[lo, *g] for lo, g in zip(g0.exact_losses, g0.exact_gradients, strict=True)])
        ]
        for c in group:
            g = c.gradient
            assert g is not None
            rows = zip(g.losses or [], g.gradients or [], strict=True)
            series.append((c.method, [[lo, *grad] for lo, grad in rows]))
        groups.append((_tag(*key), series))
    title = "Cross-entropy loss -log p[target] and its gradient (w.r.t. x/T)"
    return _fit(title, groups, s.rows > 1, "loss")
