"""Meta-tests: every command has help, README's --help block is current, every sample runs."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from click.testing import CliRunner

from smcheck.cli import cli
from smcheck.sources.loaders import EXTENSIONS
from tests.conftest import ROOT, SAMPLES

SAMPLE_COMMANDS = re.findall(r"`smcheck (analyze [^`]+)`", (SAMPLES / "README.md").read_text())


def help_text(*args: str) -> str:
    r = CliRunner().invoke(cli, [*args, "--help"], prog_name="smcheck", terminal_width=100)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    text = help_text(name)
    assert cli.commands[name].help and "Example" in text


def test_readme_help_block_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"```\n\$ smcheck --help\n(.*?)```", readme, re.S)
    assert m, "README.md has no '$ smcheck --help' block"
    assert m.group(1) == help_text(), "update README.md's --help block from `smcheck --help`"


def test_every_sample_file_has_a_command() -> None:
    files = {
        p.name
        for p in SAMPLES.iterdir()
        if p.suffix in EXTENSIONS and not p.name.startswith("LICENSE")
    }
    mentioned = {shlex.split(c)[1].split("/")[-1].split(":")[0] for c in SAMPLE_COMMANDS}
    assert files <= mentioned, files - mentioned


@pytest.mark.parametrize("command", SAMPLE_COMMANDS)
def test_sample_command_runs(command: str) -> None:
    args = shlex.split(command)
    r = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    src = json.loads(r.stdout)["sources"][0]
    assert src["cells"], command


def test_readme_says_the_strict_models_default_methods() -> None:
    # "The first four run by default" had no qualifier: under --model strict it is three
    from smcheck.methods import DEFAULT_METHODS, STRICT_DEFAULT_METHODS

    text = " ".join((ROOT / "README.md").read_text().split())
    assert len(DEFAULT_METHODS) == 4 and len(STRICT_DEFAULT_METHODS) == 3
    assert "The first four run by default, and under `--model strict` the first three" in text


def test_capture_help_states_each_sites_own_use_and_targets_as_the_defaults() -> None:
    # it said "[default: auto]" for --use, but a site is judged under its op's use unless --use
    # is given (a softmax site: probs, where auto gives loss to an unmasked input)
    shown = " ".join(help_text("capture").split())
    assert "[default: auto]" not in shown and "[default: argmax]" not in shown
    assert (
        "Default: each site's op's own use: probs for softmax, softmin and "
        "scaled_dot_product_attention, logprobs for log_softmax, loss for cross_entropy and "
        "nll_loss."
    ) in shown
    assert "default: a loss site's own class targets, else argmax." in shown
    analyze = " ".join(help_text("analyze").split())
    assert "[default: auto]" in analyze  # a file's default
    # ... but analyze reads a saved capture's sites under their ops' uses, as capture does
    assert "(a saved capture's sites: each op's own use)." in analyze
