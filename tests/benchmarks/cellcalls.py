"""The cell kernel's arguments as an analysis passes them, kept for the benchmarks that call
the kernel again on them (bench_cell_ab.py, bench_half_read.py, bench_cellmetrics.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


def copied(x: Any) -> Any:
    """Nested tuples of arrays, copied (the analysis reuses its buffers)."""
    if isinstance(x, tuple):
        return tuple(copied(y) for y in x)
    return x.copy() if isinstance(x, np.ndarray) else x


def binning(a: tuple[Any, ...]) -> bool:
    """Whether ``cell_metrics(*a)`` bins a full chunk's errors and keeps no values (a first
    pass, not a second one that only keeps values)."""
    offsets, fill = a[7], len(a) < 9 or a[8]
    return bool(fill) and offsets[0, 0] < 0 and a[1][2].shape[0] > 1


def kept_calls(path: str, key: Callable[[tuple[Any, ...]], Hashable | None]) -> dict[Any, Any]:
    """Analyse ``path`` (without gradients) and keep a copy of the arguments of the first
    binning call of each ``key(args)`` (None: not kept)."""
    import smcheck
    import smcheck.kernels.cellmetrics as k

    real, kept = k.cell_metrics, {}

    def spy(*a: Any) -> Any:
        name = key(a) if binning(a) else None
        if name is not None:
            kept.setdefault(name, copied(a))
        return real(*a)

    k.cell_metrics = spy
    try:
        smcheck.analyze(path, gradients=False)
    finally:
        k.cell_metrics = real
    return kept


def kept_on_normal(key: Callable[[tuple[Any, ...]], Hashable | None]) -> dict[Any, Any]:
    """:func:`kept_calls` on 96 x 32000 float32 logits, normal x 4, seed 1 (a temporary file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, (np.random.default_rng(1).normal(size=(96, 32000)) * 4).astype(np.float32))
        return kept_calls(path, key)
