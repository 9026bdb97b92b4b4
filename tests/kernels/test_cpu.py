"""The kernels' target: 512-bit vectors where the CPU has AVX-512, the user's choice first."""

from __future__ import annotations

import os
import subprocess
import sys

import llvmlite.binding as ll
from numba.core import config, registry

from smcheck.kernels import cellmetrics, cpu


def test_avx512_cpus_but_the_narrow_ones_get_wide_vectors() -> None:
    host = "+sse2,+avx2,+avx512f,+avx512dq"
    assert cpu.wide_features(host, "rocketlake") == host + ",-prefer-256-bit"
    assert cpu.wide_features(host, "sapphirerapids") == host + ",-prefer-256-bit"
    assert cpu.wide_features(host, "cascadelake") is None  # its clock drops under 512 bits
    assert cpu.wide_features("+sse2,+avx2,-avx512f", "znver3") is None
    assert cpu.wide_features("+neon,+fp-armv8", "neoverse-v1") is None


def test_the_kernels_are_compiled_for_what_this_process_chose() -> None:
    want = cpu.wide_features(ll.get_host_cpu_features().flatten(), ll.get_host_cpu_name())
    cellmetrics._warm()
    built = registry.cpu_target.target_context.codegen().magic_tuple()[2]
    if want is not None:  # a CPU with AVX-512 (as the development machine)
        assert config.CPU_FEATURES == want and built == want
    else:
        assert cpu.WIDE not in built


def test_the_users_target_wins_and_a_built_one_stays() -> None:
    code = """
import os, sys
from numba.core import config
import smcheck.kernels
print(config.CPU_FEATURES == os.environ.get("NUMBA_CPU_FEATURES"))
"""
    host = ll.get_host_cpu_features().flatten()
    env = {**os.environ, "NUMBA_CPU_FEATURES": host}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.stdout.split() == ["True"], r.stderr
    built_first = """
import numba
from numba.core import config
numba.njit(lambda x: x)  # the user's numba code built the target before smcheck
import smcheck.kernels
print(config.CPU_FEATURES is None)
"""
    r = subprocess.run([sys.executable, "-c", built_first], capture_output=True, text=True)
    assert r.stdout.split() == ["True"], r.stderr
