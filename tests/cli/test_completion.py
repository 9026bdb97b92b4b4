"""Shell completion through click: the bash script, what the list options and sources complete."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete
from click.testing import CliRunner

from smcheck.cli import cli
from smcheck.config import GENERATOR_NAMES
from smcheck.findings.inputconditions import INPUT_METRICS
from smcheck.findings.policyconditions import LEVELS, METRICS
from smcheck.sources.generators import GENERATORS
from tests.conftest import ROOT


def _complete(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    got = BashComplete(cli, {}, "smcheck", "_SMCHECK_COMPLETE").get_completions(args, incomplete)
    return [(c.value, c.type) for c in got]


def test_the_bash_completion_script_is_generated() -> None:
    got = CliRunner().invoke(cli, [], env={"_SMCHECK_COMPLETE": "bash_source"}, prog_name="smcheck")
    assert got.exit_code == 0
    assert "_smcheck_completion()" in got.output
    assert "complete -o nosort -F _smcheck_completion smcheck" in got.output


def test_dtypes_and_methods_complete_the_last_item_of_a_list() -> None:
    assert _complete(["analyze", "--dtype"], "b") == [("bfloat16", "plain")]
    assert _complete(["analyze", "--dtype"], "float16,float") == [
        ("float16,float16", "plain"),
        ("float16,float32", "plain"),
        ("float16,float64", "plain"),
    ]
    methods = [v for v, _ in _complete(["check", "--method"], "")]
    assert {"naive", "shifted", "logdomain", "torch", "lse-direct", "online"} <= set(methods)


def test_conditions_complete_for_fail_on_and_warn_on() -> None:
    assert ("dead-gradient", "plain") in _complete(["check", "--fail-on"], "dead")
    assert [v for v, _ in _complete(["check", "--warn-on"], "nan,lost")] == ["nan,lost-mass"]


@pytest.mark.parametrize(
    "option", [["check", "--fail-on"], ["check", "--warn-on"], ["capture", "--fail-on"]]
)
def test_every_condition_the_parser_accepts_completes(option: list[str]) -> None:
    # check's completion left out input and fully-masked (its defaults); capture's had none
    got = [v for v, _ in _complete(option, "")]
    valid = {*LEVELS, *METRICS, *INPUT_METRICS, "never"}
    assert sorted(got) == sorted(valid)
    assert [v for v, _ in _complete(option, "nan,fu")] == ["nan,fully-masked"]


def test_sources_complete_as_files_and_commands_by_name() -> None:
    assert _complete(["analyze"], "sample") == [("sample", "file")]
    assert ("check", "plain") in _complete([], "ch")


def test_generator_names_complete_after_gen_in_zsh_and_fish_form() -> None:
    assert _complete(["analyze"], "gen:") == [(f"gen:{n}", "plain") for n in GENERATOR_NAMES]
    assert _complete(["check", "x.npy"], "gen:l") == [("gen:llm", "plain")]
    assert _complete(["generate"], "m") == [("masked", "plain")]


def test_generator_names_complete_bare_where_bash_split_the_colon() -> None:
    # bash splits "gen:ll" into the words gen, :, ll and replaces only the text after the colon
    assert _complete(["analyze", "gen"], ":") == [(n, "plain") for n in GENERATOR_NAMES]
    assert _complete(["analyze", "a.npy", "gen", ":"], "ll") == [("llm", "plain")]
    assert _complete(["check", "gen", ":"], "") == [(n, "plain") for n in GENERATOR_NAMES]
    assert _complete(["analyze", "gen"], "x") == [("x", "file")]  # a path after "gen" is a path


def test_the_completion_list_names_every_generator_in_order() -> None:
    assert tuple(GENERATORS) == GENERATOR_NAMES


def _bash_complete(line_words: list[str], tmp_path: Path) -> list[str]:
    """COMPREPLY of the generated bash script for COMP_WORDS as bash splits the line."""
    shim = tmp_path / "smcheck"
    run = "from smcheck.cli import cli; cli(prog_name='smcheck')"  # as the installed command
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{run}" "$@"\n')
    shim.chmod(0o755)
    script = (
        CliRunner()
        .invoke(cli, [], env={"_SMCHECK_COMPLETE": "bash_source"}, prog_name="smcheck")
        .output
    )
    words = " ".join(shlex.quote(w) for w in line_words)
    probe = (
        f"{script}\nCOMP_WORDS=({words}); COMP_CWORD={len(line_words) - 1}\n"
        "_smcheck_completion smcheck; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        ["bash", "--norc", "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_generator_names_after_gen_colon(tmp_path: Path) -> None:
    # the words bash makes of "smcheck analyze gen:ll<TAB>" (":" is in COMP_WORDBREAKS)
    assert _bash_complete(["smcheck", "analyze", "gen", ":", "ll"], tmp_path) == ["llm"]
    got = _bash_complete(["smcheck", "check", "gen", ":"], tmp_path)
    assert got == list(GENERATOR_NAMES)
    assert _bash_complete(["smcheck", "analyze", "--dtype", "bf"], tmp_path) == ["bfloat16"]
