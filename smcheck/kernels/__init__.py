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

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

KERNEL_MODULES: tuple[str, ...] = ("smcheck.kernels.gradients", "smcheck.kernels.bounds")
"""The modules holding kernels (imported by :func:`compile_all` so their warm-ups register)."""

COMPILE_TASK = "compiling kernels (first run only)"

_warmups: list[Callable[[], None]] = []
_compiled = False


def kernel(*, parallel: bool = False) -> Callable[[F], F]:
    """numba's ``njit`` as smcheck uses it: cached on disk, no GIL, IEEE semantics.

    ``fastmath`` stays off (the kernels measure rounding; reassociation would change it) and
    ``error_model="numpy"`` makes x/0 an inf or NaN instead of an exception.
    """

    def wrap(fn: F) -> F:
        import numba

        return numba.njit(cache=True, nogil=True, parallel=parallel, error_model="numpy")(fn)

    return wrap


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
    """Run the kernels on ``n`` threads (at most numba's thread pool, the CPU count)."""
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
