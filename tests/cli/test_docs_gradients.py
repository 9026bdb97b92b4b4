"""docs/gradients.md stays in sync: its transcript is the tool's output, its table every field."""

from __future__ import annotations

import dataclasses
import re
import shlex

from click.testing import CliRunner

from smcheck.cli import cli
from smcheck.report.model import GradientMetrics
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "gradients.md").read_text(encoding="utf-8")


def test_transcript_is_the_tools_output() -> None:
    block = re.search(r"```console\n\$ smcheck (.*?)\n\.\.\.\n(.*?)```", DOC, re.S)
    assert block is not None
    r = CliRunner().invoke(cli, shlex.split(block.group(1)), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = [line.rstrip() for line in r.stdout.splitlines()]
    shown = block.group(2).rstrip("\n").splitlines()
    start = out.index(shown[0])
    assert out[start : start + len(shown)] == shown


def test_every_gradient_field_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC))
    for f in dataclasses.fields(GradientMetrics):
        assert f.name in documented or f.name.endswith("_row"), f.name
