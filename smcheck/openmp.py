"""OpenMP wait policy for torch's intra-op threads, set before torch is first imported."""

from __future__ import annotations

import os
import sys


def prefer_passive_waiting() -> None:
    """Let idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    The analysis runs thousands of short parallel torch ops per chunk. With libgomp's default
    spin-wait, a waiting thread burns a core for ~0.3 ms after each op; on a machine whose
    cores are shared with other work that starves the thread doing the work, and the analysis
    ran several times slower (tests/benchmarks/bench_threads.py measures it). libgomp reads the
    variable once, when torch loads it, so this has no effect after ``import torch``.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
