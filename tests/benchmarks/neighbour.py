"""Busy neighbours for the benchmarks: CPU-bound processes started, and killed, by the script."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

_SPIN = "while True: pass"


@contextlib.contextmanager
def busy_neighbours(n: int) -> Iterator[None]:
    """Run ``n`` processes that each keep one core busy (pure Python loop) for the block.

    A separate process each, as on a shared CI machine: they compete for the cores with the
    analysis' threads and do not share its OpenMP runtime. Killed on exit, also on error.
    """
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them start spinning before the timed run starts
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
