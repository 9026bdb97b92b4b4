"""The one place for threads: torch's and the numba kernels' thread counts, and OpenMP spinning."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from smcheck.configchecks import shown
from smcheck.errors import ConfigError

MAX_THREADS = 1024
"""The most threads a run may ask for: past that, libgomp's per-thread stacks alone exhaust
memory (2^31 asked for 432 GiB and died), and torch takes at most a C int."""

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


def check_threads(n: object) -> int | None:
    """``n`` as a thread count: None (torch and numba choose) or an int from 1 to MAX_THREADS.

    Raises ConfigError naming the fix otherwise (the CLI's option type refuses earlier).
    """
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise ConfigError(
            f"threads must be a whole number from 1 to {MAX_THREADS}, got {shown(n)}; e.g. 4"
        )
    return n


def thread_counts(n: int | None = None) -> dict[str, int]:
    """The threads an analysis runs on: ``{"torch": ..., "numba": ...}``.

    Args:
        n: the thread count asked for, or None for what torch and the kernels pick themselves
            (torch: the physical cores; the kernels: ``NUMBA_NUM_THREADS``, the CPUs they may
            use).

    Returns:
        torch's intra-op threads and the numba kernels' threads (smcheck.kernels.run_blocks),
        which never exceed ``NUMBA_NUM_THREADS``.
    """
    import torch

    from smcheck import kernels

    if n is None:
        return {"torch": torch.get_num_threads(), "numba": kernels.threads()}
    return {"torch": n, "numba": max(1, min(n, kernels.max_threads()))}


@contextlib.contextmanager
def shared_among(workers: int) -> Iterator[None]:
    """torch's intra-op threads shared out among ``workers`` Python threads for the block (each
    gets torch's threads // workers, at least one); 1 changes nothing.

    The analysis runs a chunk's formats on such workers (SourceAnalysis.formats_on): two
    formats' ops side by side, in place of every op waiting at an OpenMP barrier, and one
    format's Python steps overlapping the other's kernels (docs/performance.md, "Formats at
    once"). torch's row-wise ops give the same bits on any thread count.
    """
    if workers == 1:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def using_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` threads in torch and the numba kernels, then restore both.

    None changes nothing. Both counts are process-wide: kernels launched from any thread
    meanwhile run on ``n`` threads too.
    """
    if n is None:
        yield
        return
    import torch

    from smcheck import kernels

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    setting = kernels.set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        kernels.set_threads(setting)
