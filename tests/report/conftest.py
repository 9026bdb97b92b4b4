"""Canned reports, built by hand, so renderer tests need no analysis run."""

from __future__ import annotations

import dataclasses

import pytest

from smcheck.report import model as rm

NO_ROW = rm.Count(0, 0, None)


def metrics(*, overflow: int = 0, nan: int = 0, rows: int = 2) -> rm.CellMetrics:
    """Cell metrics with ``overflow`` and ``nan`` elements in one row (the first), else clean."""
    bad = (0,) if overflow or nan else None
    return rm.CellMetrics(
        overflow=rm.Count(overflow, int(bool(overflow)), bad),
        temperature_overflow=NO_ROW,
        exp_overflow=rm.Count(overflow, int(bool(overflow)), bad),
        sum_overflow=NO_ROW,
        cast_overflow=NO_ROW,
        nan=rm.NanCount(nan, int(bool(nan)), bad, {"inf/inf": nan} if nan else {}),
        underflow=NO_ROW,
        exact_zero=NO_ROW,
        log_nonfinite=rm.Count(nan, int(bool(nan)), bad),
        log_of_zero=NO_ROW,
        lost_mass=rm.Extreme(0.0, None),
        error=rm.ErrorMetric(0.5, 0.0, 0.25, (1,)),
        sum_error=rm.Extreme(1e-4, (1,)),
        argmax_flips=rm.FlipCount(0, None),
        kl=rm.KLMetric(1e-6, 5e-7, (1,)),
        headroom=rm.Headroom(-1.5 if overflow else 3.0, (0,), 10.0, (1,)),
        rows_checked=rows,
    )


def cell(method: str, verdict: rm.Verdict, reasons: tuple[str, ...] = (), **kw: int) -> rm.Cell:
    """A float16 cell at T = 1 under the torch model."""
    return rm.Cell(method, "float16", 1.0, "torch", verdict, reasons, metrics(**kw))


def source(cells: list[rm.Cell], name: str = "canned.npy") -> rm.SourceReport:
    """A 2 x 4 float32 source holding ``cells``."""
    return rm.SourceReport(
        name=name,
        shape=[2, 4],
        dtype="float32",
        dim=-1,
        rows=2,
        row_length=4,
        softmin=False,
        reference={"float16": "float64"},
        input=rm.InputSummary(-3.0, 12.0, 0, 0, 0, 0, 0, 12.5, (0,)),
        input_rounding=[rm.InputRounding("float16", True, 0, None, None, None, NO_ROW)],
        cells=cells,
    )


@pytest.fixture
def ok_report() -> rm.Report:
    """One source, one OK cell (shifted)."""
    return rm.Report([source([cell("shifted", rm.Verdict.OK)])], "0+canned")


@pytest.fixture
def fail_report() -> rm.Report:
    """One source: naive overflows to NaN (FAIL), shifted is OK."""
    found = rm.Finding("exp-overflow", "FAIL", "exp overflows", "use max-shifted softmax")
    naive = cell("naive", rm.Verdict.FAIL, (found.sentence("naive float16"),), overflow=1, nan=1)
    cells = [
        dataclasses.replace(naive, findings=(found,)),
        cell("shifted", rm.Verdict.OK),
    ]
    return rm.Report([source(cells)], "0+canned")
