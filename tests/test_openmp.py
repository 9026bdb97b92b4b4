"""smcheck caps libgomp's spin-wait before torch loads, and defers to the user's own choice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

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
