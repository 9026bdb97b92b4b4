"""The row view of an array: the softmax axis last, every other axis flattened into rows."""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from smcheck.errors import ConfigError

WORK_ARRAYS_PER_ELEMENT = 160
"""float64-sized temporaries alive per input element of a chunk: the four format lanes work on
a chunk at once, about 40 each (measured: ~1.2 kB of peak RSS per element of the chunk)."""


class RowView:
    """Rows of ``array`` along ``dim``, read in chunks without copying the whole array.

    A row's index is its position in the original shape with ``dim`` removed; chunks follow the
    C order of those indices, so a (batch, seq, vocab) tensor yields batch·seq rows.
    """

    def __init__(self, array: np.ndarray, dim: int, name: str = "input") -> None:
        if array.ndim == 0:
            raise ConfigError(f"{name} is a single number; softmax needs at least one axis")
        if not -array.ndim <= dim < array.ndim:
            raise ConfigError(
                f"--dim {dim} is out of range for {name} of shape {list(array.shape)}; "
                f"use a value from {-array.ndim} to {array.ndim - 1}"
            )
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = array.dtype
        self.dim = dim % array.ndim
        self._moved = np.moveaxis(array, self.dim, -1)
        self.other_shape = self._moved.shape[:-1]
        self.n_rows = math.prod(self.other_shape)
        self.row_length = self.shape[self.dim]
        # with the softmax axis already last, rows are a reshape view (memory maps stay lazy)
        self._flat = array.reshape(-1, self.row_length) if self.dim == array.ndim - 1 else None

    def chunk_rows(self, memory_budget: int) -> int:
        """Rows per chunk so the analysis' temporaries fit in ``memory_budget`` bytes."""
        per_row = max(1, self.row_length) * 8 * WORK_ARRAYS_PER_ELEMENT
        return max(1, min(self.n_rows, memory_budget // per_row))

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a (stop - start, n) array in the source dtype."""
        if self._flat is not None:
            return np.asarray(self._flat[start:stop])
        idx = np.unravel_index(np.arange(start, stop), self.other_shape)
        return np.asarray(self._moved[idx])

    def release(self, start: int, stop: int) -> None:
        """Drop the memory-mapped pages of rows [start, stop) from this process (a hint).

        The pages stay in the OS page cache; without this, every page of a memory-mapped file
        read once counts in the resident set until the end, so memory grows with the file.
        """
        mm = getattr(self._flat, "_mmap", None)
        if mm is None or not hasattr(mm, "madvise") or stop <= start:
            return
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        lo = self._flat[start:stop].ctypes.data - base
        hi = lo + (stop - start) * self._flat.strides[0]
        page = mmap.PAGESIZE
        lo, hi = lo // page * page, hi // page * page
        if hi > lo:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def chunks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n_rows, rows):
            yield start, self.block(start, min(start + rows, self.n_rows))

    def index(self, flat: int | None) -> tuple[int, ...] | None:
        """The original-shape index (all axes but dim) of a flat row number."""
        if flat is None:
            return None
        return (
            tuple(int(i) for i in np.unravel_index(flat, self.other_shape))
            if self.other_shape
            else ()
        )


def row_block_mask(values: npt.NDArray[np.floating]) -> tuple[np.ndarray, np.ndarray]:
    """(upstream, fully_masked) row masks: NaN or +inf anywhere; every entry -inf."""
    upstream = np.isnan(values).any(-1) | np.isposinf(values).any(-1)
    masked = np.isneginf(values).all(-1)
    return upstream, masked
