"""smcheck.assert_stable and the policy check behind the smcheck_capture fixture."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import smcheck
from smcheck.capture.assertions import check_captured
from smcheck.errors import ConfigError


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


@pytest.mark.slow
def test_the_pytest_fixture_fails_the_unstable_test_and_the_one_that_captured_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nfail-on = ["fail"]\n')
    (tmp_path / "test_model.py").write_text(FIXTURE_TESTS)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "2 failed, 1 passed" in r.stdout, r.stdout
    assert "test_nan" in r.stdout and "returned NaN" in r.stdout
    assert "FAILED test_model.py::test_empty" in r.stdout
    assert "smcheck: the test ran no softmax call that smcheck_capture records" in r.stdout
