"""The distribution: its name, licence, shipped data, and a wheel that installs and runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from smcheck.experiments import higham2021
from tests.conftest import ROOT, sample_input

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
INSTRUCTIONS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_distribution_has_a_name_of_its_own_and_the_command_stays_smcheck() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == "smcheck-softmax"  # "smcheck" on PyPI is another project
    assert project["scripts"] == {"smcheck": "smcheck.cli:main"}


def test_no_instruction_installs_the_unrelated_smcheck_project() -> None:
    # `pip install smcheck` (or "smcheck[...]") names the package index's other project
    wrong = re.compile(r"pip install (?:-U )?[\"']?smcheck(?![-\w])")
    for doc in INSTRUCTIONS:
        assert not wrong.search(doc.read_text()), doc
    readme = (ROOT / "README.md").read_text()
    assert "pip install smcheck-softmax" in readme
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme  # not the CUDA build


def test_the_licence_metadata_is_pep_639_and_matches_the_licence_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    for path in project["license-files"]:
        assert (ROOT / path).is_file(), path
    # license-files and the bare string need setuptools >= 77
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]


def test_the_package_ships_py_typed_and_the_higham_data_it_reads() -> None:
    assert (ROOT / "smcheck" / "py.typed").is_file()
    shipped = higham2021.DEFAULT_DATA
    assert shipped.is_relative_to(ROOT / "smcheck")  # inside the package, not the repository
    # one set of bytes: the packaged copy cannot drift from the documented sample
    assert shipped.read_bytes() == sample_input(shipped.name).read_bytes()


@pytest.mark.slow
def test_a_built_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    """`pip wheel .`, then a venv that sees neither the repository nor this environment."""
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", str(ROOT), "--no-deps", "-w", str(tmp_path / "dist"), "-q"], check=True
    )
    (wheel,) = (tmp_path / "dist").glob("smcheck_softmax-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    py = str(tmp_path / "venv" / "bin" / "python")
    torch = f"torch=={_installed('torch')}"  # the local wheel: fast, no CUDA download
    subprocess.run([py, "-m", "pip", "install", "-q", torch, str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True, "timeout": 600}
    sample = str(sample_input("classifier_fp16_overflow.npy"))
    got = subprocess.run([str(tmp_path / "venv" / "bin" / "smcheck"), "analyze", sample], **run)
    assert got.returncode == 0, got.stderr
    assert "classifier_fp16_overflow.npy" in got.stdout
    got = subprocess.run([py, "-m", "smcheck.experiments.higham2021", "--format", "json"], **run)
    assert got.returncode == 0, got.stderr
    assert '"basic_lse_overflow_rows": 475' in got.stdout  # the paper's fp16 figure
    got = subprocess.run([py, "-c", "import smcheck, sys; print(smcheck.__file__)"], **run)
    assert str(tmp_path / "venv") in got.stdout  # the installed copy ran, not the checkout


def _installed(dist: str) -> str:
    from importlib.metadata import version

    return version(dist).split("+")[0]
