"""The JSON ``environment`` block: versions, CPU, threads and device, as this run saw them."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

import smcheck
from smcheck import kernels
from smcheck.environment import collect_environment, cpu_model
from smcheck.report.json import to_json
from tests.clirun import invoke
from tests.conftest import ROOT

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from cases import ENVIRONMENT  # noqa: E402


def test_the_block_names_the_versions_cpu_threads_and_device() -> None:
    env = collect_environment()
    assert env.smcheck == smcheck.__version__
    assert env.python == platform.python_version()
    assert (env.torch, env.numpy, env.numba) == (
        torch.__version__,
        np.__version__,
        numba.__version__,
    )
    assert env.cpu == platform.machine()
    assert env.torch_cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert env.threads == {"torch": torch.get_num_threads(), "numba": kernels.threads()}
    assert env.device == "cpu"


def test_the_cpu_model_is_the_first_model_name_of_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\n"
        "model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\n\n"
        "processor\t: 1\nmodel name\t: Other\n"
    )
    assert cpu_model(str(info)) == "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"
    info.write_text("processor\t: 0\nHardware\t: BCM2835\n")  # ARM boards name no model
    assert cpu_model(str(info)) is None
    assert cpu_model(str(tmp_path / "absent")) is None


def test_analyze_json_records_the_environment_after_the_version() -> None:
    r = invoke("analyze", "--values", "1,2,3", "--dtype", "fp32", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc)[:3] == ["schema_version", "smcheck_version", "environment"]
    env = doc["environment"]
    assert env["numpy"] == np.__version__ and env["device"] == "cpu"
    assert env["torch_cpu_capability"] in ("DEFAULT", "VSX", "ZVECTOR", "AVX2", "AVX512", "SVE256")
    assert set(env["threads"]) == {"torch", "numba"}


def test_the_golden_harness_leaves_out_exactly_the_block() -> None:
    text = to_json(smcheck.analyze([[1.0, 2.0]], dtypes=["float32"], methods=["naive"]))
    doc = json.loads(text)
    without = json.loads(ENVIRONMENT.sub("", text))
    assert "environment" in doc and "environment" not in without
    del doc["environment"]
    assert without == doc


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"), reason="needs an x86 CPU"
)
def test_the_capability_follows_atens_setting() -> None:
    # ATEN_CPU_CAPABILITY=default makes torch use its plain kernels, which round differently
    probe = (
        "from smcheck.environment import collect_environment as c; print(c().torch_cpu_capability)"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DEFAULT"
