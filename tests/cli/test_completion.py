"""Shell completion through click: the bash script, and what the list options complete."""

from __future__ import annotations

from click.shell_completion import BashComplete
from click.testing import CliRunner

from smcheck.cli import cli


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


def test_sources_complete_as_files_and_commands_by_name() -> None:
    assert _complete(["analyze"], "sample") == [("sample", "file")]
    assert ("check", "plain") in _complete([], "ch")
