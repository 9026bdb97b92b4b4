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


def test_the_gradients_help_says_only_use_loss_judges_them() -> None:
    # review 40c: --gradients on a masked input (auto use: probs) reported NaN gradients only as
    # notes beside OK verdicts, and its help did not say gradients are judged under loss only
    for command in ("analyze", "check"):
        r = CliRunner().invoke(cli, [command, "--help"], catch_exceptions=False)
        shown = " ".join(r.stdout.split())  # as wrapped for the terminal
        assert (
            "Only --use loss judges the loss and gradients: under another use their findings "
            "are notes and leave the verdicts as they are."
        ) in shown, command
