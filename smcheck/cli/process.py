"""What ``smcheck`` does as a process of its own (:func:`smcheck.cli.main`) that a library call
must not: it manages Python's cyclic garbage collector around the heavy imports.

Importing torch, numba and the analysis builds some 200,000 long-lived objects. Python's collector
traverses all of them in each full collection: several while they are imported, and again when
the interpreter shuts down. `python tests/benchmarks/bench_startup.py` (docs/performance.md
"Start-up") measured both, and what :func:`import_analysis` saves of them.
"""

from __future__ import annotations

import gc

_own_process = False
"""True once :func:`own_process` ran: the process is smcheck's, not a caller's that imported it."""


def own_process() -> None:
    """Mark this process as smcheck's own (:func:`smcheck.cli.main`, before the command runs)."""
    global _own_process
    _own_process = True


def import_analysis() -> None:
    """Import torch and the analysis (numba and the kernels with it) now, in smcheck's process.

    The collector is paused while they import (no full collections over a heap that only
    grows) and then frozen (``gc.freeze``): the objects they built are never traversed again,
    neither by the analysis's full collections nor by the shutdown's. Objects made later are
    collected as usual. Elsewhere (``smcheck.analyze``, an in-process ``cli(...)``) this does
    nothing: the modules import lazily when used and the collector stays the caller's.
    """
    if not _own_process:
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        # in the order an analysis imports them: smcheck.api (and numba), then torch
        import smcheck.api  # noqa: F401, I001
        import torch  # noqa: F401
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
