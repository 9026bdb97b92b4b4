"""Threads (smcheck/threads.py): --threads/threads= reach torch and the numba kernels and are
restored after; bad counts are usage errors; libgomp's spin-wait is capped before torch loads,
deferring to the user's own choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import smcheck.api
from smcheck import kernels
from smcheck.errors import ConfigError, ExitCode
from smcheck.threads import thread_counts, using_threads
from tests.clirun import invoke
from tests.conftest import ROOT

_PROBE = """
import os, sys
if sys.argv[1] == "torch-first":
    import torch
import smcheck.api
smcheck.api.analyze([[1.0, 2.0]], dtypes=["float32"], methods=["naive"], gradients=False)
print(os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


CASES = [
    ("plain", {}, "10000 None"),  # set before analyze imports torch
    ("plain", {"GOMP_SPINCOUNT": "5"}, "5 None"),  # the user's count stays
    ("plain", {"OMP_WAIT_POLICY": "ACTIVE"}, "None ACTIVE"),  # the user's policy stays
    ("torch-first", {}, "None None"),  # too late to matter: left alone
]


@pytest.fixture(scope="module")
def probes() -> Iterator[list[subprocess.Popen[str]]]:
    """Every case's probe, started at once: each pays torch's import, so they run side by side."""
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROBE, mode],
            env={**base, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode, env, _ in CASES
    ]
    yield procs
    for proc in procs:  # after a failure, the probes not yet read
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_spin_count_is_capped_only_before_torch_and_by_default(
    probes: list[subprocess.Popen[str]], case: int
) -> None:
    stdout, stderr = probes[case].communicate()
    assert probes[case].returncode == 0, stderr
    assert stdout.split("\n")[-2] == CASES[case][2]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(torch, numba) thread counts at each source's analysis, however it was started."""
    got: list[tuple[int, int]] = []
    real = smcheck.api.analyze_array

    def recording(*args: Any, **kwargs: Any) -> Any:
        got.append((torch.get_num_threads(), kernels.threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(smcheck.api, "analyze_array", recording)
    return got


def _defaults() -> tuple[int, int]:
    return torch.get_num_threads(), kernels.threads()


SMALL = ["--dtype", "float32", "--method", "naive", "--no-gradients"]


def test_api_threads_reach_torch_and_numba_and_are_restored(seen: list[tuple[int, int]]) -> None:
    before = _defaults()
    report = smcheck.analyze([[1.0, 2.0]], dtypes=["float32"], methods=["naive"], threads=1)
    assert seen == [(1, 1)]
    assert _defaults() == before
    assert report.environment is not None and report.environment.threads == {"torch": 1, "numba": 1}


def test_default_threads_are_what_torch_and_numba_pick(seen: list[tuple[int, int]]) -> None:
    before = _defaults()
    report = smcheck.analyze([[1.0, 2.0]], dtypes=["float32"], methods=["naive"])
    assert seen == [before]
    assert report.environment.threads == {"torch": before[0], "numba": before[1]}  # type: ignore[union-attr]


def test_analyze_threads_option_reaches_torch_and_numba(seen: list[tuple[int, int]]) -> None:
    r = invoke(
        "analyze", "--values", "1,2;3,4", "gen:spike", *SMALL, "--threads", "1", "--format", "json"
    )
    assert r.exit_code == 0, r.output
    assert seen == [(1, 1), (1, 1)]  # every source
    assert json.loads(r.stdout)["environment"]["threads"] == {"torch": 1, "numba": 1}


def test_check_threads_option_and_policy_key_reach_torch_and_numba(
    seen: list[tuple[int, int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke("check", "gen:spike", "--isolated", *SMALL, "--threads", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["environment"]["threads"] == {"torch": 1, "numba": 1}
    (tmp_path / "smcheck.toml").write_text("threads = 1\n")
    r = invoke("check", "gen:spike", *SMALL, "--format", "json")
    assert r.exit_code == 0, r.output
    assert seen == [(1, 1), (1, 1)]


def test_a_config_thread_count_out_of_range_names_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smcheck.toml").write_text("threads = 99999999999999999999\n")
    r = invoke("check", "gen:spike", *SMALL)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert "smcheck.toml" in r.stderr and "threads: threads must be a whole number" in r.stderr


def test_more_threads_than_the_kernels_may_use_are_all_they_may() -> None:
    pool = kernels.max_threads()
    assert thread_counts(pool + 3) == {"torch": pool + 3, "numba": pool}
    with using_threads(pool + 3):
        assert (torch.get_num_threads(), kernels.threads()) == (pool + 3, pool)


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", "", "1025", "2147483648"])
@pytest.mark.parametrize("command", ["analyze", "check"])
def test_bad_thread_count_is_a_usage_error(command: str, bad: str) -> None:
    r = invoke(
        command,
        "gen:spike",
        "--isolated" if command == "check" else "--no-progress",
        "--threads",
        bad,
    )
    assert r.exit_code == ExitCode.ERROR, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "'--threads'" in errors[0], r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "4", 1025, 2**31])
def test_bad_api_thread_count_names_the_fix(bad: object) -> None:
    with pytest.raises(ConfigError, match="threads must be a whole number from 1 to 1024"):
        smcheck.analyze([[1.0, 2.0]], threads=bad)  # type: ignore[arg-type]


def test_capture_threads_option_reaches_the_analysis_of_its_sites(
    seen: list[tuple[int, int]], tmp_path: Path
) -> None:
    script = tmp_path / "model.py"
    script.write_text("import torch\ntorch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)\n")
    r = invoke("capture", "--isolated", "--threads", "1", "--format", "json", str(script))
    assert r.exit_code == 0, r.output
    assert seen == [(1, 1)]  # the one site
    assert json.loads(r.stdout)["environment"]["threads"] == {"torch": 1, "numba": 1}
