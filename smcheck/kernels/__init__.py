"""smcheck's own arithmetic, compiled: fused numba kernels for the reference and the metrics.

The methods under test stay the framework's own ops; the exact reference and the metrics are
smcheck's arithmetic, and each kernel here reads a chunk once and computes all it needs in one
parallel pass over rows (docs/performance.md). Kernels compile lazily, on first use, and are
cached on disk by numba (``cache=True``: next to the module, or numba's user-wide cache
directory where that is read-only), so compiling is paid once per installation.

Every kernel module registers a warm-up (:func:`warmup`) that calls its kernels once on tiny
inputs of every signature the analysis uses; :func:`compile_all` runs them before the first
chunk, reporting "compiling kernels (first run only)" to the progress callback, which shows
it only when it takes long enough to be a compile and not a cache load.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

KERNEL_MODULES: tuple[str, ...] = (
    "smcheck.kernels.reference",
    "smcheck.kernels.inputs",
    "smcheck.kernels.cellmetrics",
    "smcheck.kernels.gradients",
    "smcheck.kernels.bounds",
)
"""The modules holding kernels (imported by :func:`compile_all` so their warm-ups register)."""

COMPILE_TASK = "compiling kernels (first run only)"

_warmups: list[Callable[[], None]] = []
_compiled = False

THREADING_LAYER_PRIORITY = ("workqueue", "omp", "tbb")
"""numba's threading layers, first choice first (unless NUMBA_THREADING_LAYER[_PRIORITY] is set).

The analysis alternates torch's parallel ops with the kernels' parallel regions, many per
chunk. numba's ``omp`` layer (its default here) runs them on a second libgomp beside torch's,
whose idle threads spin (GOMP_SPINCOUNT, smcheck/threads.py) while the other pool needs the
cores; ``workqueue`` threads sleep as soon as a region ends. `python
tests/benchmarks/bench_layers.py` (stand-in kernel, 128 x 32000, 2 cores shared with other
work, load average 8-10): workqueue took 0.70x the time of omp with GOMP_SPINCOUNT=10000
without a neighbour, 0.58x with one busy neighbour (an earlier run: 0.60x, 0.56x); dynamic
scheduling (``set_parallel_chunksize(1)``, paired with static in one process) took 0.95x to
1.26x the static default's time, so it stays static.
workqueue is also fork-safe (libgomp is not), but not thread-safe: a second thread launching a
parallel region while one runs aborts the process, so parallel kernels launch under
:data:`_LAUNCH` (one at a time; the read-ahead thread or a user's threads wait their turn).
"""

_LAUNCH = threading.Lock()
"""Held while a parallel kernel runs: workqueue allows one launching thread at a time."""


def _prefer_threading_layer() -> None:
    """Make :data:`THREADING_LAYER_PRIORITY` numba's, unless the user chose a layer.

    numba reads it once, when anything first starts its threads (a parallel kernel, or
    ``numba.get_num_threads`` in smcheck.threads), so this runs when this package is imported,
    before any of that: into numba's config if numba is loaded, else into the environment
    numba reads at import (as smcheck.threads does for GOMP_SPINCOUNT; child processes
    inherit it).
    """
    if {"NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"} & os.environ.keys():
        return
    if "numba" in sys.modules:
        sys.modules["numba"].config.THREADING_LAYER_PRIORITY = list(THREADING_LAYER_PRIORITY)
    else:
        os.environ["NUMBA_THREADING_LAYER_PRIORITY"] = " ".join(THREADING_LAYER_PRIORITY)


_prefer_threading_layer()


def kernel(*, parallel: bool = False) -> Callable[[F], F]:
    """numba's ``njit`` as smcheck uses it: cached on disk, no GIL, IEEE semantics.

    ``fastmath`` stays off (the kernels measure rounding; reassociation would change it) and
    ``error_model="numpy"`` makes x/0 an inf or NaN instead of an exception. A parallel kernel
    is a Python function around numba's dispatcher (:data:`THREADING_LAYER_PRIORITY`): call it
    from Python, not from another kernel.
    """

    def wrap(fn: F) -> F:
        import numba

        compiled = numba.njit(cache=True, nogil=True, parallel=parallel, error_model="numpy")(fn)
        return _one_launch_at_a_time(compiled) if parallel else compiled

    return wrap


def _one_launch_at_a_time(compiled: F) -> F:
    """``compiled`` called under :data:`_LAUNCH`; numba's dispatcher stays at ``.dispatcher``."""

    @functools.wraps(compiled)
    def launch(*args: Any, **kwargs: Any) -> Any:
        with _LAUNCH:
            return compiled(*args, **kwargs)

    launch.dispatcher = compiled  # type: ignore[attr-defined]
    return cast(F, launch)


def warmup(fn: Callable[[], None]) -> Callable[[], None]:
    """Register ``fn`` as a module's warm-up: calls of its kernels on tiny inputs."""
    _warmups.append(fn)
    return fn


def compile_all(progress: Callable[[str, int, int], None] | None = None) -> None:
    """Compile (or load from the disk cache) every kernel, once per process."""
    global _compiled
    if _compiled:
        return
    for name in KERNEL_MODULES:
        importlib.import_module(name)
    total = len(_warmups)
    for k, fn in enumerate(_warmups):
        if progress is not None:
            progress(COMPILE_TASK, k, total)
        fn()
    if progress is not None:
        progress(COMPILE_TASK, total, total)
    _compiled = True


def set_threads(n: int) -> None:
    """Run the kernels on ``n`` threads (at most numba's thread pool, the CPU count).

    numba keeps this per calling thread: it applies to kernels launched from this thread.
    """
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
