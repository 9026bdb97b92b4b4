"""The error-bound findings: sentences name the row, whose fault the error is, and the remedy."""

from __future__ import annotations

from dataclasses import replace

from smcheck.dtypes import get_format
from smcheck.findings.errorbounds import bound_reasons, stall_notes
from smcheck.report import model as rm


def test_reasons_name_the_row_and_the_remedy() -> None:
    fmt = get_format("float16")
    worst = rm.WorstError((3,), 9.0, 40.0, 30.0, 4.0)
    check = rm.BoundCheck(
        "(n + 2c + 2D)u",
        1.0,
        10,
        rm.RowCount(0, None),
        rm.RowCount(0, None),
        rm.Extreme(0.2, (3,)),
        rm.Extreme(4.0, (3,)),
        worst,
        "input",
    )
    (text,) = bound_reasons("shifted float16", "shifted", check, None, fmt, 10)
    assert "row [3] is ill-conditioned (condition number 4)" in text
    (text,) = bound_reasons("x", "lse-direct", replace(check, reading="algorithm"), None, fmt, 10)
    assert "within its bound 40u" in text and "logdomain" in text
    vac = replace(check, reading="algorithm", worst=replace(worst, bound_u=None))
    (text,) = bound_reasons("x", "naive", vac, None, fmt, 10)
    assert "vacuous" in text and "2048" in text


def test_stall_note_names_the_formats_the_rows_reach() -> None:
    fmts = [get_format("float16"), get_format("float32")]
    assert stall_notes(100, fmts) == []
    (note,) = stall_notes(4096, fmts)
    assert "(2048 in float16)" in note
