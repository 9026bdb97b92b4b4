"""smcheck.assert_stable and the policy check behind the smcheck_capture fixture."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import smcheck
from smcheck.capture.assertions import check_captured
from smcheck.check.policy import Policy, parse_conditions
from smcheck.check.run import run_check
from smcheck.errors import ConfigError


def check_messages(x: np.ndarray, path: Path, fail_on: list[str]) -> list[str]:
    """The messages of ``smcheck check``'s failing violations on ``x`` saved at ``path``."""
    np.save(path, x)
    result = run_check([str(path)], Policy(fail_on=tuple(parse_conditions(fail_on))))
    return [v.message for v in result.failing]


def test_assert_stable_passes_a_stable_softmax_and_returns_the_report() -> None:
    report = smcheck.assert_stable([[1.0, 2.0, 3.0]], dtypes=["float32"], use="probs")
    assert report.verdict.value == "OK"


def test_assert_stable_raises_with_the_findings() -> None:
    with pytest.raises(AssertionError, match=r"violation.*\n.*naive float16.*overflow") as e:
        smcheck.assert_stable([[1.0, 2.0, 30.0]], dtypes=["float16"], methods=["naive"])
    # the reasons of the FAIL, not the saturation NOTE beside them (it changes no verdict), and
    # the cell named once, not again in each reason
    assert "rounds to 1" not in str(e.value) and "log(softmax)" in str(e.value)
    assert "<array> naive float16 T=1: exp overflows" in str(e.value)
    assert "naive float16: " not in str(e.value)


def test_assert_stable_follows_fail_on() -> None:
    smcheck.assert_stable([[1.0, 2.0, 30.0]], dtypes=["float16"], fail_on=["never"])
    # by default only torch is judged (naive is a comparison): its float16 softmax is fine
    smcheck.assert_stable([[1.0, 2.0, 30.0]], dtypes=["float16"], fail_on=["overflow"])
    with pytest.raises(AssertionError, match=r"1 overflow to \+inf \(exp 1\)"):
        smcheck.assert_stable(
            [[1.0, 2.0, 30.0]], dtypes=["float16"], methods=["naive"], fail_on=["overflow"]
        )


@pytest.mark.parametrize(
    ("rows", "fail_on"),
    [
        ([[1.0, 2.0, np.inf], [1.0, 2.0, 3.0]], ["fail", "input"]),
        ([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]], ["warn", "fully-masked"]),
    ],
)
def test_assert_stable_counts_an_input_problem_once_as_check_does(
    tmp_path: Path, rows: list[list[float]], fail_on: list[str]
) -> None:
    # it raised "2 violations": the input finding listed by itself, then again as the input
    # condition's violation, where check reports one
    x = np.array(rows)
    expected = check_messages(x, tmp_path / "x.npy", fail_on)
    assert len(expected) == 1
    with pytest.raises(AssertionError) as e:
        smcheck.assert_stable(x, fail_on=fail_on)
    assert str(e.value) == (
        f"smcheck: 1 violation of fail_on={','.join(fail_on)!r}:\n  <array>: {expected[0]}"
    )


def test_assert_stable_refuses_an_empty_fail_on() -> None:
    # fail_on=[] checked nothing and passed everything; never is the way to ask for that
    with pytest.raises(ConfigError, match="the list is empty; name at least one condition"):
        smcheck.assert_stable([[1.0, 2.0, 30.0]], dtypes=["float16"], fail_on=[])


def test_assert_stable_takes_fail_on_as_one_comma_separated_string_as_fail_on_does() -> None:
    # fail_on="nan" was read one character at a time: "unknown condition 'n'"
    smcheck.assert_stable([[1.0, 2.0, 3.0]], dtypes=["float16"], methods=["naive"], fail_on="nan")
    # named as the API's argument (it said "--fail-on", the command line's flag)
    with pytest.raises(AssertionError, match=r"^smcheck: 2 violations of fail_on='nan,overflow':"):
        smcheck.assert_stable(
            [[1.0, 2.0, 30.0]], dtypes=["float16"], methods=["naive"], fail_on="nan, overflow"
        )


def test_assert_stable_refuses_warn_on_in_one_sentence() -> None:
    # it raised "analyze() got an unexpected keyword argument 'warn_on'"
    with pytest.raises(ConfigError, match="^assert_stable takes no warn_on: a warning never "):
        smcheck.assert_stable([[1.0, 2.0]], warn_on=["nan"])


def test_assert_stable_judges_a_capture_by_what_the_model_ran() -> None:
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 30.0]], dtype=torch.float16), dim=-1)
    smcheck.assert_stable(cap)  # torch's own kernel is fine; naive would overflow (hypothetical)
    with pytest.raises(AssertionError, match="naive float16"):
        smcheck.assert_stable(cap, methods=["naive", "torch"])


def test_assert_stable_fails_a_capture_that_recorded_no_softmax() -> None:
    # it passed: an assertion that had checked nothing (here the softmax ran on another thread)
    with smcheck.capture() as cap:
        worker = threading.Thread(target=torch.softmax, args=(torch.ones(2, 3), -1))
        worker.start()
        worker.join()
    with pytest.raises(AssertionError) as e:
        smcheck.assert_stable(cap)
    assert str(e.value).startswith("smcheck: no softmax call was captured, so nothing was checked")
    assert "on the thread that entered the capture" in str(e.value)
    assert "allow_empty=True" in str(e.value)
    assert smcheck.assert_stable(cap, allow_empty=True).sources == []


def test_captured_sites_are_checked_against_the_nearest_policy(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nfail-on = ["nan"]\n')
    x = torch.tensor([[0.0, float("-inf")], [float("-inf"), float("-inf")]], dtype=torch.float16)
    with smcheck.capture() as cap:
        torch.softmax(x, dim=-1)
    found = check_captured(cap, tmp_path)
    assert len(found) == 1 and "returned NaN in 1 row" in found[0]
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nfail-on = ["overflow"]\n')
    assert check_captured(cap, tmp_path) == []


UPSTREAM_ROW = [[1.0, 2.0, float("inf")]]
"""One float16 row with +inf before the softmax: torch returns NaN for it."""


def test_captured_sites_count_an_input_problem_once_as_check_does(tmp_path: Path) -> None:
    # the upstream row was listed twice beside the NaN the model returned (its input finding,
    # then the input condition's violation), and three times under fail-on fail (both findings,
    # then the violation joining them); check reports the row once. Then twice: the NaN the
    # model returned for that row, and the row, one problem
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor(UPSTREAM_ROW, dtype=torch.float16), -1)
    source = cap.analyze().sources[0]
    [returned] = [f.message for f in source.input.findings if f.kind == "observed_nan"]
    up = np.array(UPSTREAM_ROW, np.float16)

    def lines(fail_on: list[str]) -> list[str]:
        (tmp_path / "pyproject.toml").write_text(f"[tool.smcheck]\nfail-on = {fail_on!r}\n")
        return [line.removeprefix(f"{source.name}: ") for line in check_captured(cap, tmp_path)]

    [upstream] = check_messages(up, tmp_path / "up.npy", ["fail", "input"])
    assert lines(["fail", "input"]) == [upstream]  # the NaN returned is that row's
    [upstream] = check_messages(up, tmp_path / "up.npy", ["fail"])
    assert lines(["fail"]) == [f"{returned}; {upstream}"]
    # nan reports the NaN the model returned, so fail leaves that finding out
    assert lines(["fail", "nan"]) == [upstream, returned]


def test_a_strict_config_analyses_captured_sites_and_a_refusal_names_the_file(
    tmp_path: Path,
) -> None:
    # `model = "strict"` in the config was refused ("method 'torch' has no 'strict' form")
    # without naming the file, though no method was asked for
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nmodel = "strict"\n')
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    assert check_captured(cap, tmp_path) == []
    (tmp_path / "pyproject.toml").write_text(
        '[tool.smcheck]\nmodel = "strict"\nmethods = ["torch"]\n'
    )
    with pytest.raises(ConfigError, match=r"no 'strict' form.*\(config '.*pyproject.toml' sets "):
        check_captured(cap, tmp_path)


FIXTURE_TESTS = """
import torch

def test_clean(smcheck_capture):
    torch.softmax(torch.tensor([[1.0, 2.0]]), dim=-1)

def test_nan(smcheck_capture):
    torch.softmax(torch.full((1, 3), float("-inf")), dim=-1)

def test_empty(smcheck_capture):
    torch.ones(2, 3).exp()
"""


def _pytest_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """Run pytest on ``folder``'s tests in a fresh process (the plugin loads as installed)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_pytest_fixture_fails_the_unstable_test_and_the_one_that_captured_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nfail-on = ["fail"]\n')
    (tmp_path / "test_model.py").write_text(FIXTURE_TESTS)
    r = _pytest_in(tmp_path)
    assert "2 failed, 1 passed" in r.stdout, r.stdout
    assert "test_nan" in r.stdout and "returned NaN" in r.stdout
    assert "FAILED test_model.py::test_empty" in r.stdout
    assert "smcheck: the test ran no softmax call that smcheck_capture records" in r.stdout


@pytest.mark.slow
def test_the_pytest_fixture_counts_an_input_problem_once_as_check_does(tmp_path: Path) -> None:
    # it listed the upstream row twice beside the NaN the model returned (three lines)
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nfail-on = ["fail", "input"]\n')
    (tmp_path / "test_model.py").write_text(
        "import torch\n\ndef test_upstream(smcheck_capture):\n"
        "    torch.softmax(torch.tensor([[1.0, 2.0, float('inf')]], dtype=torch.float16), -1)\n"
    )
    r = _pytest_in(tmp_path)
    head = "smcheck: captured softmax sites violate the policy:\n"
    assert "1 failed" in r.stdout and head in r.stdout, r.stdout
    listed = r.stdout.split(head, 1)[1].split("\n")
    [upstream] = check_messages(np.array(UPSTREAM_ROW, np.float16), tmp_path / "up.npy", ["input"])
    assert "returned NaN in 1 row of 1" in listed[0] and listed[1].endswith(f": {upstream}")
    assert not listed[2].startswith("  ")  # two lines, no third
