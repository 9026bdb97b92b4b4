"""wrap_line: where a stderr line or a source name breaks, at every width."""

from __future__ import annotations

import re

import pytest

from smcheck.report.phrases import (
    SUMMARY_BREAKS,
    WORDS,
    wrap_line,
)

VIOLATION = (
    "smcheck: <top>:softmax in float16 (/tmp/ov.py:3) naive float16 T=1: 1 overflow to +inf "
    "(exp 1) in 1/2 rows, row [1]; it made 1 probability NaN -- compute the softmax in float32"
)
SUMMARY = "smcheck: 3 sources, 48 cells: 10 FAIL, 2 WARN, 36 OK; 1 source not judged (x)"
ENDS_IN_NUMBER = re.compile(r"(?<!\S)[\d./]+$")


@pytest.mark.parametrize(("text", "breaks"), [(VIOLATION, (WORDS,)), (SUMMARY, SUMMARY_BREAKS)])
@pytest.mark.parametrize("width", [20, 30, 40, 64, 65, 66, 67, 80, 100, 101])
def test_no_wrapped_line_ends_in_a_bare_number_where_the_text_continues(
    text: str, breaks: tuple[str, ...], width: int
) -> None:
    # "... in 1/2" then "rows, row [1]"; "T=1: 1" then "overflow to +inf"; "; 1" then "source"
    lines = wrap_line(text, width, breaks).splitlines()
    assert [ln for ln in lines[:-1] if ENDS_IN_NUMBER.search(ln)] == []
    assert " ".join(ln.strip() for ln in lines) == text


def test_a_number_stays_with_its_noun_in_the_summary_at_width_20() -> None:
    assert wrap_line(SUMMARY, 20, SUMMARY_BREAKS).splitlines() == [
        "smcheck: 3 sources,",
        "  48 cells: 10 FAIL,",
        "  2 WARN, 36 OK;",
        "  1 source not",
        "  judged (x)",
    ]
