"""docs/ci.md stays in sync: its policy example parses and it lists every condition."""

from __future__ import annotations

import re
from pathlib import Path

from smcheck.check.policy import read_policy
from smcheck.findings.inputconditions import INPUT_METRICS
from smcheck.findings.policyconditions import LEVELS, METRICS
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")


def test_policy_example_parses(tmp_path: Path) -> None:
    toml = re.search(r"```toml\n(.*?)```", DOC, re.S)
    assert toml is not None
    path = tmp_path / "pyproject.toml"
    path.write_text(toml.group(1))
    policy = read_policy(path)
    assert policy.methods == ("torch",) and policy.dtypes == ("bfloat16",)
    assert [c.name for c in policy.fail_on] == ["nan", "overflow", "dead-gradient", "loss-inf"]


def test_every_condition_is_documented() -> None:
    rows = set(re.findall(r"^\| `([a-z-]+)(?:>X)?` \|", DOC, re.M))
    assert rows == set(METRICS) | set(INPUT_METRICS) | set(LEVELS)


def test_exit_code_table_covers_every_code() -> None:
    from smcheck.errors import ExitCode

    assert {int(c) for c in re.findall(r"^\| (\d+) \|", DOC, re.M)} == {int(c) for c in ExitCode}
