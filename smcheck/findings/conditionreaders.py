"""How each policy condition reads its quantity from a report cell (``Reader``s), and a cell's
remedy for a cause: the readers of :data:`smcheck.findings.policyconditions.METRICS`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from smcheck.findings import remedies
from smcheck.findings.conditiontypes import Hit, Reader
from smcheck.findings.situation import Situation, exact_p_saturates, sums_stalled
from smcheck.report.model import Cell, FlipCount, RowIndex
from smcheck.report.phrases import first_of, plural, row_index, rows_of

NAN_CAUSES = ("masked-row-nan", "probability-nan")
"""The findings of NaN output: rows the format or T masked entirely, and the rest."""


def _get(obj: Any, key: str) -> Any:
    """A field of a dataclass or a dict (gradient metrics may be either)."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _ix(row: Any) -> RowIndex | None:
    return None if row is None else tuple(int(i) for i in row)


def _where(rows: int | None, total: int, row: Any, which: str) -> str:
    """`` in 3/10 rows, worst row [4]``; of one row `` in 1/10 rows, row [4]`` (as findings say);
    ``rows`` None: the row alone."""
    return ("" if rows is None else f" in {rows_of(rows, total)}") + _at(rows, row, which)


def _at(n: int | None, row: Any, which: str) -> str:
    """``, worst row [4]``: the row a phrase gives, ``which`` of the ``n`` rows it is (the worst
    by a figure, or the first); of one row ``, row [4]``; ``n`` None: a maximum's row (``which``
    always); nothing where there is no row."""
    if row is None:
        return ""
    return ", " + (f"{which} {row_index(_ix(row))}" if n is None else first_of(n, _ix(row), which))


def _which(elements: Any, rows: Any) -> str:
    """What a count's row is: the row with the most elements (lowest index on ties), the
    ``worst row`` where some row holds several; where each row counts one (a count of rows,
    such as loss-inf or the rows whose sum overflowed) every row ties, so it is the
    ``first row``."""
    several = elements is not None and rows is not None and elements > rows
    return "worst row" if several else "first row"


def count_of(
    path: str, *noun: str, parts: Callable[[Cell], str] | None = None, masked: bool = False
) -> Reader:
    """A count metric (elements, rows, worst_row) at ``metrics.<path>``; ``parts``: what the
    count is made of, in brackets after it; ``masked``: it counts the rows the format or T
    masks entirely too (``nan``), so its rows are of those and the judged ones."""

    def read(cell: Cell) -> Hit | str:
        c = getattr(cell.metrics, path)
        total = cell.metrics.rows_checked + (cell.metrics.masked_rows if masked else 0)
        made = parts(cell) if parts is not None else ""
        # counts are written with :g here (1e+06 elements), unlike the verdicts: kept as recorded
        detail = plural(float(c.elements), *noun) + f" ({made})" * bool(made)
        detail += _where(c.rows, total, c.worst_row, _which(c.elements, c.rows))
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
    # a row the cast broke lost all of it: the worst, whatever the counts
    which = "worst row" if c.elements else _which(m.overflow.elements, m.overflow.rows)
    detail += _where(rows, m.rows_checked + c.rows, worst, which)
    return Hit(float(n), rows, _ix(worst), detail)


def flips(cell: Cell) -> Hit | str:
    """Flipped rows, and the rows whose argmax is lost: NaN output, or every p̂ 0 after the row
    sum overflowed (no flip is measured there, so analyze does not count the fault twice); only
    rows with a unique exact maximum, as a flip (a row of ties has no argmax to lose)."""
    m = cell.metrics
    f = m.argmax_flips
    lost = f.nan_rows + f.sum_overflow_rows
    n = f.rows + lost
    what = "a flipped or lost argmax" if lost else "a flipped argmax"
    detail = plural(float(n), "row") + f" of {m.rows_checked} with {what}"
    if lost:
        detail += f" ({_lost_rows(f)})"
    # the first flipped row and the first lost one: the first of the two (index order)
    first = min((_ix(r) for r in (f.worst_row, f.lost_first_row) if r is not None), default=None)
    return Hit(float(n), n, first, detail + _at(n, first, "first row"))


def _lost_rows(f: FlipCount) -> str:
    """``NaN output in 1 row, the row sum overflowed in 2 rows``: the rows no accuracy metric
    judges, whose output is lost entirely."""
    parts = [(f.nan_rows, "NaN output"), (f.sum_overflow_rows, "the row sum overflowed")]
    return ", ".join(f"{what} in {plural(float(n), 'row')}" for n, what in parts if n)


def saturated(cell: Cell) -> Hit | str:
    """Rows whose exact top probability rounds to 1 (``metrics.saturated``): a property of the
    probabilities, so measured with gradients or without."""
    s = cell.metrics.saturated
    if s is None:
        return "the report does not count saturated rows"
    detail = plural(float(s.rows), "saturated row") + _where(
        s.rows, cell.metrics.rows_checked, s.worst_row, "first row"
    )
    return Hit(float(s.rows), s.rows, _ix(s.worst_row), detail)


def _gradient_field(cell: Cell, field: str, *, allow_none: bool = False) -> Any:
    """The cell's ``gradient.<field>``, or why there is none (a sentence); ``allow_none``: a
    field that is there may be None (a maximum over no rows)."""
    if cell.gradient is None:
        return "the report has no gradient metrics"
    g = cell.gradient
    there = field in g if isinstance(g, dict) else hasattr(g, field)
    v = _get(g, field)
    if not there or (v is None and not allow_none):
        return "the report's gradient metrics do not include it"
    return v


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
        detail = plural(float(n), *noun) + _where(rows, total, worst, _which(n, rows))
        return Hit(float(n), rows, _ix(worst), detail)

    return read


def accuracy(
    label: str,
    get: Callable[[Cell], tuple[float | None, Any]],
    unit: str,
    all_zero: float = math.inf,
) -> Reader:
    """A max over the judged rows (finite output, the row sum did not overflow); the rows the
    metric skips count too: NaN output as unbounded error, a row whose sum overflowed (every p̂
    0) as ``all_zero`` (|sum(p) - 1| = 1; KL infinite; every digit of every p lost)."""

    def read(cell: Cell) -> Hit | str:
        value, worst = get(cell)
        m = cell.metrics
        nan, zero = m.nan, m.sum_overflow
        if nan.rows:
            # the metric skips rows whose output is NaN: their error is unbounded, not absent
            detail = f"{label} unbounded: NaN output in {plural(float(nan.rows), 'row')}"
            detail += _at(nan.rows, nan.worst_row, _which(nan.elements, nan.rows))
            return Hit(math.inf, nan.rows, _ix(nan.worst_row), detail, causes=NAN_CAUSES)
        if zero.rows and (value is None or value <= all_zero):
            # every p̂ 0: as wrong as NaN, but finite, so the metric skips these rows too
            amount = "unbounded" if math.isinf(all_zero) else f"{all_zero:.4g}{unit}"
            detail = f"{label} {amount}: the row sum overflowed (every probability 0) in "
            detail += plural(float(zero.rows), "row")
            detail += _at(zero.rows, zero.worst_row, _which(zero.elements, zero.rows))
            return Hit(all_zero, zero.rows, _ix(zero.worst_row), detail, causes=("sum-overflow",))
        if value is None:  # no row was judged (all masked or broken upstream)
            return Hit(-math.inf, None, None, f"{label}: no rows judged")
        at = _at(None, worst, "worst row")  # the row of the maximum
        return Hit(float(value), None, _ix(worst), f"{label} {value:.4g}{unit}{at}")

    return read


def lost_mass(cell: Cell) -> Hit | str:
    lm = cell.metrics.lost_mass
    v = lm.max or 0.0
    rows = cell.metrics.underflow.rows
    at = _at(None, lm.worst_row, "worst row")  # the row of the maximum
    return Hit(v, rows, _ix(lm.worst_row), f"lost mass up to {v:.4g}{at}")


def gradient_value(field: str, label: str) -> Reader:
    """A max over the gradient's rows; rows whose gradient holds NaN (left out of the maximum)
    count as unbounded error, as NaN output does for the accuracy thresholds."""

    def read(cell: Cell) -> Hit | str:
        v = _gradient_field(cell, field, allow_none=True)
        if isinstance(v, str):
            return v
        nan = _get(cell.gradient, "nan")
        rows = _get(nan, "rows") if nan is not None else 0
        if rows:
            worst = _get(nan, "worst_row")
            detail = f"{label} unbounded: NaN gradient in {plural(float(rows), 'row')}"
            detail += _at(rows, worst, _which(_get(nan, "elements"), rows))
            return Hit(math.inf, rows, _ix(worst), detail)
        if v is None:  # no row was judged (every target masked)
            return Hit(-math.inf, None, None, f"{label}: no rows judged")
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
    if own:  # each once, and not where another offers it ("..., or compute the softmax in X")
        return "; ".join(
            dict.fromkeys(r for r in own if r and not any(f"or {r}" in o for o in own))
        )
    here = replace(
        situation,
        method=cell.method,
        dtype=cell.dtype,
        model=cell.model,
        temperature=cell.temperature,
        stalled=sums_stalled(cell.accumulation),
        confident=exact_p_saturates(cell.metrics),
    )
    return remedies.remedy(cause, here)
