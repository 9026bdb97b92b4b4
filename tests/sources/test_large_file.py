"""A 1 GiB BF16 safetensors file is analysed within the memory budget (issue 18's done-when).

Slow (``python -m pytest -m slow -s tests/sources/test_large_file.py``, which prints the peak
and the time): it writes 1 GiB of bfloat16 logits to a temporary folder, then analyses them
with one cell (torch, bfloat16) in a child process under the memory watchdog of
test_hostile_memory.py. Measured once on the shared 2-core machine at load 8-10: peak 313 MiB
(a trivial run: 293 MiB), 861 s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.sources.test_hostile_memory import GIB, fixed_cost, run_smcheck  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(), reason="reads peak memory from /proc (Linux)"
    ),
]

ROWS, COLS = 16384, 32768
"""2^29 bfloat16 values: 1 GiB of data, rows as long as a 32k vocabulary."""

BUDGET_MIB = 128
BOUND_BUDGETS = 2
"""Allowed peak: a trivial run's own cost plus this many budgets (README "Memory"), far below
the file's size: it is never held whole."""


def _write_bf16_safetensors(path: Path, seed: int = 0) -> int:
    """N(0, 3^2) logits rounded down to bfloat16 (the upper half of float32), written a block of
    rows at a time so that the test itself never holds more than a few MiB."""
    rng = np.random.default_rng(seed)
    nbytes = ROWS * COLS * 2
    entry = {"dtype": "BF16", "shape": [ROWS, COLS], "data_offsets": [0, nbytes]}
    head = json.dumps({"logits": entry}).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as fh:
        fh.write(len(head).to_bytes(8, "little") + head)
        for _ in range(0, ROWS, 256):
            block = (rng.standard_normal((256, COLS), dtype=np.float32) * 3).view(np.uint32)
            fh.write((block >> 16).astype("<u2").tobytes())
    return nbytes


def test_a_1gib_bf16_safetensors_file_stays_within_the_memory_budget(
    tmp_path: Path,
    fixed_cost: int,  # noqa: F811
) -> None:
    path = tmp_path / "big.safetensors"
    assert _write_bf16_safetensors(path) == GIB
    args = ["analyze", path.name, "--method", "torch", "--dtype", "bf16", "--no-gradients"]
    start = time.monotonic()
    run = run_smcheck(
        [*args, "--memory-budget", str(BUDGET_MIB), "--format", "json"], tmp_path, timeout=1800
    )
    seconds = time.monotonic() - start
    assert not run.killed, run.stderr
    assert run.returncode == 0, run.stderr
    source = json.loads(run.stdout)["sources"][0]
    assert (source["dtype"], source["shape"], source["rows"]) == ("bfloat16", [ROWS, COLS], ROWS)
    bound = fixed_cost + BOUND_BUDGETS * BUDGET_MIB * 2**20
    print(f"1 GiB BF16: peak {run.peak >> 20} MiB (fixed {fixed_cost >> 20} MiB), {seconds:.0f} s")
    assert 0 < run.peak <= bound, f"peak {run.peak >> 20} MiB above {bound >> 20} MiB"
