"""Golden outputs: the reports of the bundled samples and classic cases, exactly but for noise.

The cases, the pinned vector code they run with and the re-recording command live in
tests/golden/cases.py; what counts as last-bit noise (and why) in tests/golden/compare.py. A
failure here means a change altered what users see; if that was intended, re-record and review
the diff. The second half holds the comparison to failing on real changes.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import selected_params

sys.path.insert(0, str(Path(__file__).parent.parent / "golden"))
from cases import CAPABILITY, OUT, cases, record  # noqa: E402
from compare import LOSS_ULP, RTOL, differences  # noqa: E402


@pytest.fixture(scope="module")
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The selected cases, run once in one pinned child process (torch and numpy read the
    pins at import)."""
    stems = sorted(str(stem) for stem in selected_params(request, "stem"))
    dest = tmp_path_factory.mktemp("golden")
    level = record(dest, stems)
    if level != CAPABILITY:
        pytest.skip(f"torch ran at {level}, not {CAPABILITY} (no AVX2): its cells round apart")
    return dest


@pytest.mark.parametrize(("stem", "argv"), cases(), ids=[c[0] for c in cases()])
def test_output_is_unchanged(stem: str, argv: list[str], recorded: Path) -> None:
    expected = (OUT / stem).read_text(encoding="utf-8")
    got = (recorded / stem).read_text(encoding="utf-8")
    found = differences(expected, got, json_case=stem.endswith(".json"))
    if found:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), got.splitlines(True), "recorded", "now", n=1
            )
        )
        pytest.fail(
            f"{stem} changed (python tests/golden/cases.py --update if intended):\n"
            + "\n".join(found[:20])
            + "\n"
            + diff[:4000]
        )


# The comparison itself, on recorded outputs: noise passes, a real change fails.


def _recorded(stem: str) -> str:
    return (OUT / stem).read_text(encoding="utf-8")


def _replace_once(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced; fails the test if there is none to replace."""
    assert old in text, old
    return text.replace(old, new, 1)


def _map_floats(x: Any, f: Any) -> Any:
    if isinstance(x, dict):
        return {k: _map_floats(v, f) for k, v in x.items()}
    if isinstance(x, list):
        return [_map_floats(v, f) for v in x]
    return f(x) if isinstance(x, float) else x


def _with_json(text: str, f: Any) -> str:
    """A recorded JSON case with every float of its stdout replaced by ``f(float)``."""
    head, rest = text.split("--- stdout\n")
    body, tail = rest.split("--- stderr\n")
    body = json.dumps(_map_floats(json.loads(body), f), indent=2)
    return f"{head}--- stdout\n{body}\n--- stderr\n{tail}"


def test_a_recording_matches_itself_and_last_bit_noise() -> None:
    text = _recorded("check.json")
    assert differences(text, text, json_case=True) == []
    one_ulp = _with_json(text, lambda x: math.nextafter(x, math.inf) if x else x)
    assert one_ulp != text
    assert differences(text, one_ulp, json_case=True) == []
    near = _with_json(text, lambda x: x * (1 + RTOL / 2))
    assert differences(text, near, json_case=True) == []


def test_a_float_beyond_the_tolerance_fails() -> None:
    text = _recorded("check.json")
    old = re.search(r"\b[1-9]\d*\.\d{12,}\b", text).group()  # a full-precision float
    found = differences(
        text, _replace_once(text, old, repr(float(old) * (1 + 4 * RTOL))), json_case=True
    )
    assert len(found) == 1 and found[0].endswith(f"(beyond {RTOL:g})"), found


def test_a_loss_error_may_move_by_a_small_loss_s_last_bit_and_no_more() -> None:
    text = _recorded("classifier-sweep.json")
    old = re.search(r'"loss_error": \{\s*"max_abs": ([0-9.e-]+e-1[5-7])', text).group(1)
    moved = repr(float(old) + LOSS_ULP / 16)  # one ulp of a loss near 2^-12
    assert differences(text, _replace_once(text, old, moved), json_case=True) == []
    beyond = repr(float(old) + 4 * LOSS_ULP)
    found = differences(text, _replace_once(text, old, beyond), json_case=True)
    assert len(found) == 1 and "loss_error.max_abs" in found[0], found
    # only there: the same shift of a float as small elsewhere is a change
    kl = re.search(r'"kl": \{\s*"max": ([0-9.e-]+e-(?:1[5-9]|[2-9]\d))', text).group(1)
    kl_moved = repr(float(kl) + LOSS_ULP / 16)
    assert differences(text, _replace_once(text, kl, kl_moved), json_case=True)


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        ("a count", '"FAIL": 8', '"FAIL": 9'),
        ("a verdict", '"verdict": "OK"', '"verdict": "WARN"'),
        ("a key", '"median_ulp"', '"median_ulps"'),
        ("a null", '"worst_row": null', '"worst_row": 0'),
        ("an int that became a float", '"FAIL": 8', '"FAIL": 8.0'),
        (
            "a list's length",
            '"shape": [\n        5\n      ]',
            '"shape": [\n        5,\n        1\n      ]',
        ),
        ("the exit code", "exit 0", "exit 1"),
        ("a word on stderr", "--- stderr\n", "--- stderr\nwarning\n"),
    ],
)
def test_a_change_in_json_fails(what: str, old: str, new: str) -> None:
    text = _recorded("minus999.json")
    assert differences(text, _replace_once(text, old, new), json_case=True), what


@pytest.mark.parametrize(
    ("what", "old", "new", "fails"),
    [
        ("a figure's last digit (noise)", "4.36 ", "4.37 ", False),
        ("a figure's last digit, exponent form", "2.6e-07", "2.7e-07", False),
        ("a figure by two units", "4.36 ", "4.38 ", True),
        ("a figure's precision", "4.36 ", "4.361", True),
        ("a figure's form", "2.6e-07", "0.00000026", True),
        ("an exponent", "2.6e-07", "2.6e-06", True),
        ("a count", "694 gradient", "695 gradient", True),
        ("a word", "Findings", "Finding", True),
        ("a verdict", "float32    OK ", "float32    WARN ", True),
        ("the layout", "  naive       float32", " naive        float32", True),
        ("a line", "\nFindings\n", "\nFindings\n\n", True),
    ],
)
def test_a_change_in_text(what: str, old: str, new: str, fails: bool) -> None:
    text = _recorded("mnist-details.txt")
    assert bool(differences(text, _replace_once(text, old, new), json_case=False)) is fails, what


def test_a_figure_that_gains_a_digit_may_realign_its_column() -> None:
    line = "  torch       float32    OK            9.99        0.537         4.39\n"
    rounded = "  torch       float32    OK              10        0.537         4.39\n"
    assert differences(line, rounded, json_case=False) == []
    assert differences(line, rounded.replace("10", "11"), json_case=False)
    assert differences(line, line.replace("9.99", "9.97"), json_case=False)
    assert differences("  count 9\n", "  count 10\n", json_case=False)
