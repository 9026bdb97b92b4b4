"""The limits table of ``smcheck thresholds`` (rows from :func:`smcheck.dtypes.format_limits`)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from smcheck.report.phrases import overflow_limit

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("max", "largest finite value", ".6g"),
    ("smallest_normal", "smallest normal", ".6g"),
    ("smallest_subnormal", "smallest subnormal", ".6g"),
    ("eps", "eps (spacing at 1)", ".6g"),
    ("u", "unit roundoff u = 2^-t", ".6g"),
    ("exp_overflow_above", "exp(x) = inf for x >", "up"),  # overflow_limit: rounded up
    ("exp_subnormal_below", "exp(x) subnormal, x <", ".6g"),
    ("exp_zero_below", "exp(x) = 0 for x <=", ".6g"),
    ("underflow_gap_nats", "p = 0 for lse - x_i >=", ".6g"),
    ("subnormal_gap_nats", "p subnormal, lse - x_i >", ".6g"),
    ("sum_stall_length", "sum of ones stalls at n =", "d"),
)


def limits_table(rows: list[dict[str, Any]]) -> Table:
    """Formats as columns, limits as rows (fits 100 columns for all four formats)."""
    t = Table(title="Floating-point limits for softmax", box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("limit")
    for r in rows:
        t.add_column(f"{r['dtype']} (t={r['precision_bits']})", justify="right")
    for key, label, spec in COLUMNS:
        t.add_row(label, *(_text(r[key], spec) for r in rows))
    return t


def _text(v: float, spec: str) -> str:
    """``v`` in the column's format spec; ``up``: exp's overflow limit as every report shows it."""
    return overflow_limit(v) if spec == "up" else format(v, spec)
