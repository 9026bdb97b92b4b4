"""Golden outputs: the reports of the bundled samples and classic cases, byte for byte.

The cases and the re-recording command live in tests/golden/cases.py. A failure here means a
change altered what users see; if that was intended, re-record and review the diff.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "golden"))
from cases import OUT, cases, run_case  # noqa: E402


@pytest.mark.parametrize(("stem", "argv"), cases(), ids=[c[0] for c in cases()])
def test_output_is_unchanged(stem: str, argv: list[str]) -> None:
    expected = (OUT / stem).read_text(encoding="utf-8")
    got = run_case(argv)
    if got != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), got.splitlines(True), "recorded", "now", n=1
            )
        )
        pytest.fail(
            f"{stem} changed (python tests/golden/cases.py --update if intended):\n" + diff[:4000]
        )
