"""smcheck caps libgomp's spin-wait before torch loads, and defers to the user's own choice."""

from __future__ import annotations

import os
import subprocess
import sys

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


def _probe(mode: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        env={**base, **env, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split("\n")[-2]


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("plain", {}, "10000 None"),  # set before analyze imports torch
        ("plain", {"GOMP_SPINCOUNT": "5"}, "5 None"),  # the user's count stays
        ("plain", {"OMP_WAIT_POLICY": "ACTIVE"}, "None ACTIVE"),  # the user's policy stays
        ("torch-first", {}, "None None"),  # too late to matter: left alone
    ],
)
def test_spin_count_is_capped_only_before_torch_and_by_default(
    mode: str, env: dict[str, str], expected: str
) -> None:
    assert _probe(mode, **env) == expected
