"""How long torch's idle OpenMP threads spin before they sleep, set before torch is imported."""

from __future__ import annotations

import os
import sys

SPIN_COUNT = "10000"
"""libgomp spins 300000 times by default (~a millisecond); 10000 is ~tens of microseconds."""


def bound_spin_waiting() -> None:
    """Cap libgomp's spin-wait, unless the user chose a wait policy or spin count.

    The analysis runs thousands of short parallel torch ops per chunk. Under libgomp's default
    a waiting thread keeps its core busy for ~a millisecond after each op; when the cores are
    shared with other work that starves the thread doing the work. Measured by
    tests/benchmarks/bench_threads.py (64 x 32000, 2 cores): with one other busy process the
    default ran 5x slower than this setting, and on an idle machine this setting is within a
    few percent of the default (OMP_WAIT_POLICY=PASSIVE, which never spins, is best when busy
    but ~40 % slower when idle). libgomp reads the variables once, when torch loads it, so
    this has no effect after ``import torch``.
    """
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
