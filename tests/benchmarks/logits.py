"""The benchmarks' default input: float32 logits, normal × 4 (an LLM-like spread), seed 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def normal_logits(folder: str | Path, rows: int = 256, cols: int = 32000) -> str:
    """Write a (rows, cols) float32 ``.npy`` of normal × 4 logits into ``folder``; its path."""
    path = str(Path(folder) / f"normal_{rows}x{cols}.npy")
    x = np.random.default_rng(0).standard_normal((rows, cols)) * 4
    np.save(path, x.astype(np.float32))
    return path
