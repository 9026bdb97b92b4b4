"""How ``run_check`` (Python) and ``smcheck check`` (the command line) name an option they refuse:
as the Policy field the caller set, or as the flag the user typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from smcheck.check.policy import Policy
from smcheck.check.run import run_check
from smcheck.cli import cli
from smcheck.errors import ConfigError, LoadError

BIG = "gen:normal:shape=1000x1000"  # 38 MiB to generate: over a 1 MiB budget


def _error(policy: Policy) -> str:
    """The one source error of checking BIG under ``policy``."""
    result = run_check([BIG], policy)
    assert len(result.errors) == 1, result.errors
    return result.errors[0].message


def test_run_check_names_the_memory_budget_as_the_policy_field_in_bytes() -> None:
    # it said "more than --memory-budget 1 allows; ... raise --memory-budget" to a Python caller
    message = _error(Policy(memory_budget=2**20))
    assert "more than memory_budget=1048576 allows" in message
    assert message.endswith("raise memory_budget") and "--" not in message


def test_run_check_names_dim_as_the_policy_field() -> None:
    assert _error(Policy(dim=7)).startswith("dim=7 is out of range for ")


def test_run_check_names_a_bad_targets_file_as_the_policy_field(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.npy")
    with pytest.raises(LoadError, match=rf"^targets={missing!r}: cannot load "):
        run_check([BIG], Policy(targets=missing, gradients=True))


def test_run_check_leads_an_unnamed_refusal_with_the_policy_field() -> None:
    # "unknown dtype 'fp8'" named nothing: the CLI leads it with --dtype, Python with dtypes=
    with pytest.raises(ConfigError, match=r"^dtypes=\['fp8'\]: unknown dtype 'fp8'"):
        run_check([BIG], Policy(dtypes=["fp8"]))


@pytest.mark.parametrize("key", ["dtypes", "methods", "temperatures"])
def test_run_check_names_the_empty_selection_as_the_policy_field(key: str) -> None:
    one = key.removesuffix("s")
    with pytest.raises(
        ConfigError, match=rf"^{key}=\(\): nothing to analyse: give at least one {one}"
    ):
        run_check([BIG], Policy(**{key: ()}))


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--memory-budget", "1"], "more than --memory-budget 1"),  # in MiB
        (["--dim", "7"], "Error: --dim 7 is out of range for "),
        (["--targets", "nope.npy", "--gradients"], "Error: --targets: cannot load 'nope.npy'"),
        (["--dtype", "fp8"], "Error: --dtype: unknown dtype 'fp8'"),
    ],
)
def test_smcheck_check_keeps_naming_the_flags(
    flags: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["check", BIG, "--isolated", *flags])
    assert r.exit_code == 2, r.output
    assert expected in r.output
    assert "memory_budget=" not in r.output and "dim=" not in r.output
