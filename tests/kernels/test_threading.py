"""numba's threading layer as smcheck chooses it: workqueue first, safe from several threads,
and the user's NUMBA_THREADING_LAYER still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# three threads launching the same parallel kernel at once: under workqueue without
# smcheck.kernels' launch lock numba aborts the process ("Concurrent access ... detected")
_PROBE = """
import threading
import numpy as np, numba
from tests.benchmarks.standin_kernel import cell_stats
p = np.full((16, 2000), 1 / 2000, dtype=np.float32)
ref = np.full((16, 2000), 1 / 2000)
want = cell_stats(p, np.log(p), ref, np.log(ref))
bad = []
def work():
    for _ in range(50):
        if not np.array_equal(cell_stats(p, np.log(p), ref, np.log(ref)), want):
            bad.append(1)
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(numba.threading_layer(), len(bad))
"""


CASES = [({}, "workqueue"), ({"NUMBA_THREADING_LAYER": "omp"}, "omp")]


@pytest.mark.parametrize(("env", "layer"), CASES)
def test_parallel_kernels_launch_from_many_threads_on_the_chosen_layer(
    tmp_path: Path, env: dict[str, str], layer: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING")}
    p = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env={**base, **env, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == [layer, "0"]


def test_the_layer_is_chosen_before_smcheck_threads_starts_numbas_pool() -> None:
    # the JSON's environment asks numba for its thread count, which starts its pool: that must
    # already be on smcheck's layer, whether or not a kernel has run
    code = (
        "import smcheck.api, numba\n"
        "from smcheck.threads import thread_counts\n"
        "thread_counts()\n"
        "print(numba.threading_layer())\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING")}
    p = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["workqueue"]
