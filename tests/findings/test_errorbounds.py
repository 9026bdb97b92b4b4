"""The error-bound findings: sentences name the row, whose fault the error is, and the remedy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from smcheck import analyze
from smcheck.dtypes import get_format
from smcheck.findings.errorbounds import bound_findings, stall_notes
from smcheck.report import model as rm


def test_findings_name_the_row_the_cause_and_the_remedy() -> None:
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
    (f,) = bound_findings("shifted", check, None, fmt, 10)
    assert f.cause == "ill-conditioned" and f.severity == "WARN"
    assert "row [3] is ill-conditioned (condition number 4)" in f.message
    (f,) = bound_findings("lse-direct", replace(check, reading="algorithm"), None, fmt, 10)
    assert "within its bound 40u" in f.message and "logdomain" in f.remedy
    vac = replace(check, reading="algorithm", worst=replace(worst, bound_u=None))
    (f,) = bound_findings("naive", vac, None, fmt, 10)
    assert f.cause == "vacuous-bound" and "vacuous" in f.message and "2048" in f.message


def test_a_bound_violation_and_a_stall_in_one_row_of_one_say_1_1_row() -> None:
    # they said "in 1/1 rows"; the verdicts' rows_of says "1/1 row"
    fmt = get_format("bfloat16")
    check = rm.BoundCheck(
        "(n + 1 + 2c)u",
        1.0,
        1,
        rm.RowCount(1, (0,)),
        rm.RowCount(0, None),
        rm.Extreme(2.0, (0,)),
        rm.Extreme(1.0, (0,)),
        None,
        "implementation",
    )
    acc = rm.Accumulation(256, rm.RowCount(1, (0,)), rm.Extreme(0.5, (0,)))
    violated, stall = bound_findings("naive", check, acc, fmt, 1)
    assert " in 1/1 row (row [0]: 2x)" in violated.message
    assert "the running bfloat16 sum stalled in 1/1 row: up to 50.0%" in stall.message


def test_stall_note_names_the_formats_the_rows_reach() -> None:
    fmts = [get_format("float16"), get_format("float32")]
    assert stall_notes(100, fmts) == []
    (note,) = stall_notes(4096, fmts)
    assert "(2048 in float16)" in note


def test_stall_note_counts_live_entries_not_masks() -> None:
    # rows of 600 entries, 500 of them -inf, were noted as reaching bfloat16's stall length 256,
    # while -inf adds exact zeros: the strict model's own count shows no row can stall
    x = np.random.default_rng(0).normal(size=(4, 600))
    x[:, 100:] = -np.inf
    src = analyze(x, dtypes=["bfloat16"], model="strict", gradients=False).sources[0]
    assert not [n for n in src.notes if "stall" in n]
    assert all(c.accumulation.stalled.rows == 0 for c in src.cells if c.accumulation)
    x[:, 100:300] = -1e9  # mask sentinels are no terms either
    x[0, 300:600] = 1.0  # 400 live in row 0
    src = analyze(x, dtypes=["bfloat16"], model="strict", gradients=False).sources[0]
    (note,) = [n for n in src.notes if "stall" in n]
    assert note.startswith(
        "rows of 600 elements (up to 400 of them live, the rest masks) reach the accumulation "
        "stall length (256 in bfloat16)"
    )
    assert stall_notes(600, [get_format("bfloat16")], live=255) == []
