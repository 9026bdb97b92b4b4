"""How each policy condition reads its quantity from a report cell (``Reader``s), and a cell's
remedy for a cause: the readers of :data:`smcheck.findings.policyconditions.METRICS`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from smcheck.findings import remedies
from smcheck.findings.conditiontypes import Hit, Reader
from smcheck.findings.remedies import Situation
from smcheck.report.model import Cell, RowIndex
from smcheck.report.phrases import first_of, plural, row_index, rows_of


def _get(obj: Any, key: str) -> Any:
    """A field of a dataclass or a dict (gradient metrics may be either)."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _ix(row: Any) -> RowIndex | None:
    return None if row is None else tuple(int(i) for i in row)


def _where(rows: int | None, total: int, worst: Any) -> str:
    """`` in 3/10 rows, worst row [4]``; of one row `` in 1/10 rows, row [4]`` (as findings say)."""
    if worst is None:
        at = ""
    elif rows is None:
        at = f", worst row {row_index(_ix(worst))}"
    else:
        at = ", " + first_of(rows, _ix(worst), "worst row")
    return ("" if rows is None else f" in {rows_of(rows, total)}") + at


def count_of(path: str, *noun: str, parts: Callable[[Cell], str] | None = None) -> Reader:
    """A count metric (elements, rows, worst_row) at ``metrics.<path>``; ``parts``: what the
    count is made of, in brackets after it."""

    def read(cell: Cell) -> Hit | str:
        c = getattr(cell.metrics, path)
        total = cell.metrics.rows_checked
        made = parts(cell) if parts is not None else ""
        # counts are written with :g here (1e+06 elements), unlike the verdicts: kept as recorded
        detail = plural(float(c.elements), *noun) + f" ({made})" * bool(made)
        detail += _where(c.rows, total, c.worst_row)
        return Hit(float(c.elements), c.rows, _ix(c.worst_row), detail)

    return read


def _overflow_parts(cell: Cell) -> str:
    """``exp 472, row sum 4``: an overflowed row sum is no element of the row."""
    m = cell.metrics
    parts = [(m.exp_overflow, "exp"), (m.sum_overflow, "row sum"), (m.temperature_overflow, "x/T")]
    parts.append((m.cast_overflow, "cast"))
    return ", ".join(f"{name} {p.elements}" for p, name in parts if p.elements)


def overflows(cell: Cell) -> Hit:
    """Overflows to +inf of the judged rows (``metrics.overflow``) and of the cast, whose rows
    no method can judge (``metrics.cast_overflow``: not in ``rows_checked``)."""
    m = cell.metrics
    c, both = m.cast_overflow, m.overflow_with_cast
    n, rows, worst = both.elements, both.rows, both.worst_row
    made = _overflow_parts(cell)
    detail = plural(float(n), "overflow to +inf", "overflows to +inf") + f" ({made})" * bool(made)
    detail += _where(rows, m.rows_checked + c.rows, worst)
    return Hit(float(n), rows, _ix(worst), detail)


def flips(cell: Cell) -> Hit | str:
    f = cell.metrics.argmax_flips
    detail = plural(float(f.rows), "row") + f" of {cell.metrics.rows_checked} with a flipped argmax"
    return Hit(float(f.rows), f.rows, _ix(f.worst_row), detail + _where(None, 0, f.worst_row))


def _gradient_field(cell: Cell, field: str) -> Any:
    """The cell's ``gradient.<field>``, or why there is none (a sentence)."""
    if cell.gradient is None:
        return "the report has no gradient metrics"
    v = _get(cell.gradient, field)
    return f"the report's gradient metrics have no {field!r}" if v is None else v


def gradient_count(field: str, *noun: str) -> Reader:
    """A gradient count (issue 3's ``gradient.<field>``: {elements, rows, worst_row} or an int)."""

    def read(cell: Cell) -> Hit | str:
        c = _gradient_field(cell, field)
        if isinstance(c, str):
            return c
        if isinstance(c, (int, float)):  # a plain row count such as vanished_rows
            n, rows, worst = c, int(c), None
        else:
            rows, worst = _get(c, "rows"), _get(c, "worst_row")
            n = _get(c, "elements") if _get(c, "elements") is not None else rows
        total = cell.metrics.rows_checked
        detail = plural(float(n), *noun) + _where(rows, total, worst)
        return Hit(float(n), rows, _ix(worst), detail)

    return read


def accuracy(label: str, get: Callable[[Cell], tuple[float | None, Any]], unit: str) -> Reader:
    """A max over rows with finite output; rows whose output is NaN count as unbounded error."""

    def read(cell: Cell) -> Hit | str:
        value, worst = get(cell)
        nan = cell.metrics.nan
        if nan.rows:
            # the metric skips rows whose output is NaN: their error is unbounded, not absent
            detail = f"{label} unbounded: NaN output in {plural(float(nan.rows), 'row')}"
            return Hit(
                math.inf, nan.rows, _ix(nan.worst_row), detail + _where(None, 0, nan.worst_row)
            )
        if value is None:  # no row was judged (all masked or broken upstream)
            return Hit(-math.inf, None, None, f"{label}: no rows judged")
        return Hit(
            float(value), None, _ix(worst), f"{label} {value:.4g}{unit}" + _where(None, 0, worst)
        )

    return read


def lost_mass(cell: Cell) -> Hit | str:
    lm = cell.metrics.lost_mass
    v = lm.max or 0.0
    rows = cell.metrics.underflow.rows
    return Hit(
        v, rows, _ix(lm.worst_row), f"lost mass up to {v:.4g}" + _where(None, 0, lm.worst_row)
    )


def gradient_value(field: str, label: str) -> Reader:
    def read(cell: Cell) -> Hit | str:
        v = _gradient_field(cell, field)
        if isinstance(v, str):
            return v
        v = float(v) if isinstance(v, (int, float)) else float(_get(v, "max"))
        return Hit(v, None, None, f"{label} {v:.4g}")

    return read


max_ulp = lambda c: (c.metrics.error.max_ulp, c.metrics.error.worst_row)  # noqa: E731


def cell_remedy(cause: str, cell: Cell, situation: Situation, among: Sequence[str] = ()) -> str:
    """The remedies of the cell's own findings of the causes ``among`` (``cause`` alone when
    empty), as settled, each once, in that order; where the cell has none of them (a limit met
    below the finding's), the registry's first for ``cause`` in the source's ``situation`` (its
    use, masks and softmin: :func:`smcheck.findings.settling.source_situation`)."""
    own = [f.remedy for c in among or (cause,) for f in cell.findings if f.cause == c]
    if own:
        return "; ".join(dict.fromkeys(r for r in own if r))
    here = replace(situation, method=cell.method, dtype=cell.dtype, model=cell.model)
    return remedies.remedy(cause, here)
