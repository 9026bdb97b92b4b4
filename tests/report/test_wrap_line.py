"""wrap_line: where a stderr line or a source name breaks, at every width."""

from __future__ import annotations

import re

import pytest

from smcheck.report.phrases import (
    PATH_BREAKS,
    SUMMARY_BREAKS,
    WORDS,
    _pieces,
    wrap_line,
)

VIOLATION = (
    "smcheck: <top>:softmax in float16 (/tmp/ov.py:3) naive float16 T=1: 1 overflow to +inf "
    "(exp 1) in 1/2 rows, row [1]; it made 1 probability NaN -- compute the softmax in float32"
)
SUMMARY = "smcheck: 3 sources, 48 cells: 10 FAIL, 2 WARN, 36 OK; 1 source not judged (x)"
MEMORY = (
    "gen:normal: shape 2x100000 needs 7.63 MiB to generate (40 bytes per element), more than "
    "--memory-budget 1 (MiB) allows; needs 1.001 MiB of working memory (512 bytes per element)"
)
ENDS_IN_NUMBER = re.compile(r"(?<![^\s(\[])[\d./]+$")


@pytest.mark.parametrize(("text", "breaks"), [(VIOLATION, (WORDS,)), (SUMMARY, SUMMARY_BREAKS)])
@pytest.mark.parametrize("width", [20, 30, 40, 64, 65, 66, 67, 80, 100, 101])
def test_no_wrapped_line_ends_in_a_bare_number_where_the_text_continues(
    text: str, breaks: tuple[str, ...], width: int
) -> None:
    # "... in 1/2" then "rows, row [1]"; "T=1: 1" then "overflow to +inf"; "; 1" then "source"
    lines = wrap_line(text, width, breaks).splitlines()
    assert [ln for ln in lines[:-1] if ENDS_IN_NUMBER.search(ln)] == []
    assert " ".join(ln.strip() for ln in lines) == text


def test_a_number_after_a_parenthesis_stays_with_its_unit_at_every_width() -> None:
    # "... to generate (40" then "bytes per element)": the number after "(" was not bare
    for width in range(16, 130):
        lines = wrap_line(MEMORY, width).splitlines()
        assert [ln for ln in lines[:-1] if ENDS_IN_NUMBER.search(ln)] == [], width
        assert " ".join(ln.strip() for ln in lines) == MEMORY


def test_a_path_of_numbered_folders_still_breaks_at_its_slashes() -> None:
    # a folder "2024/" ends in no digit: it is no number to keep with the next piece
    lines = wrap_line("runs/2024/12/05/17/30/00/logits_of_layer.npy", 20, PATH_BREAKS, indent="")
    assert max(map(len, lines.splitlines())) <= 20


def test_a_number_stays_with_its_noun_in_the_summary_at_width_20() -> None:
    assert wrap_line(SUMMARY, 20, SUMMARY_BREAKS).splitlines() == [
        "smcheck: 3 sources,",
        "  48 cells: 10 FAIL,",
        "  2 WARN, 36 OK;",
        "  1 source not",
        "  judged (x)",
    ]


def test_a_source_name_breaks_before_a_dot_keeping_the_suffix_whole() -> None:
    # it broke after the dot: "attention_scores_layer_12_head_3." and "npy" alone
    lines = wrap_line("attention_scores_layer_12_head_3.npy", 34, PATH_BREAKS, indent="")
    assert lines.splitlines() == ["attention_scores_layer_12_head_3", ".npy"]


def test_the_first_piece_is_measured_against_the_whole_width_as_it_has_no_indent() -> None:
    # the first part (18 columns) fits an 18-column first line; only a continued line has 16
    pieces = _pieces("smcheck: 1 source; x", 16, SUMMARY_BREAKS, 0, first=18)
    assert pieces == ["smcheck: 1 source; ", "x"]
    assert _pieces("smcheck: 1 source; x", 16, SUMMARY_BREAKS, 0, first=16)[0] == "smcheck: "
