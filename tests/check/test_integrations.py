"""The pre-commit hook and the composite GitHub Action run smcheck check as they declare.

What runs here: the hook's ``entry`` on the files its ``files`` pattern selects, and the action's
``smcheck check`` step through bash with its inputs as environment variables and a job summary
file. Not run: pre-commit itself, ``actions/setup-python`` and the two pip steps (they need the
network; this environment already has smcheck and torch installed) — their text is checked.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT

SMCHECK = shutil.which("smcheck")
POLICY = """[tool.smcheck]
methods = ["naive"]
dtypes = ["float16"]
fail-on = ["overflow"]
"""


def _repo(tmp_path: Path) -> Path:
    """A repository with a policy, an overflowing and a harmless logits file, and code."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(POLICY)
    np.save(tmp_path / "bad.npy", np.array([[1.0, 2.0, 12.5]]))  # exp(12.5) overflows fp16
    np.save(tmp_path / "good.npy", np.array([[1.0, 2.0, 3.0]]))
    (tmp_path / "train.py").write_text("print('not logits')\n")
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return {**env, "NO_COLOR": "1", **extra}


@pytest.mark.skipif(SMCHECK is None, reason="the smcheck command is not installed")
def test_the_pre_commit_hook_checks_the_staged_logits_files(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "smcheck" and hook["language"] == "python" and hook["pass_filenames"]
    repo = _repo(tmp_path)
    staged = ["bad.npy", "good.npy", "train.py", "x.safetensors", "y.pt", "z.npz", "w.PTH"]
    picked = [f for f in staged if re.search(hook["files"], f)]
    assert picked == ["bad.npy", "good.npy", "x.safetensors", "y.pt", "z.npz"]
    entry = shlex.split(hook["entry"])
    assert entry == ["smcheck", "check", "--skip-multi-tensor"]

    def commit(*files: str) -> subprocess.CompletedProcess[str]:
        cmd = [SMCHECK, *entry[1:], *files]  # how pre-commit runs it: entry + file names
        return subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True)

    assert commit("good.npy").returncode == 0
    blocked = commit("bad.npy", "good.npy")
    assert blocked.returncode == 1, blocked.stderr
    assert "bad.npy" in blocked.stdout and "overflow" in blocked.stdout


def _action_steps() -> list[dict]:  # type: ignore[type-arg]
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    return action["runs"]["steps"]


def test_the_action_installs_torch_cpu_before_smcheck_softmax() -> None:
    runs = [s["run"] for s in _action_steps() if "run" in s]
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[0] and "torch" in runs[0]
    assert 'pip install "smcheck-softmax${SMCHECK_VERSION}"' in runs[1]
    assert all("${{" not in r for r in runs)  # inputs reach bash only as variables


@pytest.mark.skipif(SMCHECK is None or shutil.which("bash") is None, reason="needs bash")
def test_the_action_check_step_annotates_and_writes_the_job_summary(tmp_path: Path) -> None:
    (step,) = [s for s in _action_steps() if s.get("name") == "smcheck check"]
    repo = _repo(tmp_path / "repo")
    summary = tmp_path / "summary.md"
    inputs = {"SMCHECK_SOURCES": "*.npy", "SMCHECK_ARGS": "--report json=smcheck.json"}
    env = _env(GITHUB_STEP_SUMMARY=str(summary), GITHUB_ACTIONS="true", **inputs)
    env["PATH"] = f"{Path(SMCHECK).parent}{os.pathsep}{env['PATH']}"  # type: ignore[arg-type]
    got = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True
    )
    assert got.returncode == 1, got.stderr  # bad.npy overflows: the step fails the job
    assert got.stdout.startswith("::error file=bad.npy")
    assert "overflow" in summary.read_text()  # the Markdown job summary
    assert (repo / "smcheck.json").is_file()  # SMCHECK_ARGS passed through


@pytest.mark.skipif(SMCHECK is None, reason="the smcheck command is not installed")
def test_the_pre_commit_hook_leaves_out_a_staged_checkpoint_with_a_note(tmp_path: Path) -> None:
    # a staged state dict (several tensors) failed the hook with exit 2: "add one key as
    # 'FILE:KEY'", which pre-commit's bare file names cannot do, so no such commit went through
    import torch

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    repo = _repo(tmp_path)
    torch.save(torch.nn.Linear(3, 2).state_dict(), repo / "model.pth")
    np.savez(repo / "arrays.npz", w=np.ones((3, 3)), b=np.ones(3))
    staged = ["model.pth", "arrays.npz", "good.npy"]
    assert all(re.search(hook["files"], f) for f in staged)
    entry = shlex.split(hook["entry"])

    def commit(*files: str) -> subprocess.CompletedProcess[str]:
        cmd = [SMCHECK, *entry[1:], *files]
        return subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True)

    passed = commit(*staged)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    notes = [ln for ln in passed.stdout.splitlines() if ln.startswith("note: skipped")]
    assert [ln.split()[2] for ln in notes] == ["model.pth:", "arrays.npz:"]
    assert "it holds 2 tensors and no key" in notes[0]
    blocked = commit(*staged, "bad.npy")  # the logits beside it are still checked
    assert blocked.returncode == 1 and "overflow" in blocked.stdout
