"""The row view of an array: the softmax axis last, every other axis flattened into rows."""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from smcheck.configchecks import shown
from smcheck.errors import FLAGS, ConfigError
from smcheck.sources.decoders import Decoder

WORK_ARRAYS_PER_ELEMENT = 32
"""float64-sized temporaries alive per input element of a chunk, without gradients: twice the
most measured (15.7, six methods; 8.7 for the default cells) by
tests/benchmarks/bench_chunk_memory.py. A format's cells run one after another and the
metrics are fused kernels, so few full-size arrays live at once; formats that run at once
(smcheck.threads.shared_among) each get their share of the budget."""


STRIDED_SLAB_BYTES = 64 * 2**20
"""Bytes of a memory map spanned by one gather of strided rows (softmax axis not last)."""


class RowView:
    """Rows of ``array`` along ``dim``, read in chunks without copying the whole array.

    A row's index is its position in the original shape with ``dim`` removed; chunks follow the
    C order of those indices, so a (batch, seq, vocab) tensor yields batch·seq rows.
    """

    def __init__(
        self,
        array: np.ndarray,
        dim: int,
        name: str = "input",
        decoder: Decoder | None = None,
        spelling: str = FLAGS,
    ) -> None:
        """``spelling`` names ``dim`` in an error as the user gave it (smcheck.errors.FLAGS)."""
        if array.ndim == 0:
            raise ConfigError(f"{name} is a single number; softmax needs at least one axis")
        if not -array.ndim <= dim < array.ndim:
            raise ConfigError(
                f"{spelling.format('dim', shown(dim))} is out of range for {name} of shape "
                f"{list(array.shape)}; use a value from {-array.ndim} to {array.ndim - 1}",
                options=("dim",),
            )
        self.name = name
        self.spelling = spelling
        """How an error names an option the user gave (smcheck.errors.FLAGS, ARGUMENTS)."""
        self.shape = tuple(int(s) for s in array.shape)
        self._decoder = decoder  # stored values -> the float dtype analysed, a block at a time
        self.rounded = 0
        """Stored values the decoding changed (integers beyond 2^53), each counted once."""
        self._counted = 0  # rows [0, _counted) are in ``rounded``
        self.dtype = decoder.dtype if decoder is not None else array.dtype
        self.dim = dim % array.ndim
        self._moved = np.moveaxis(array, self.dim, -1)
        self.other_shape = self._moved.shape[:-1]
        self.n_rows = math.prod(self.other_shape)
        self.row_length = self.shape[self.dim]
        # with the softmax axis already last, rows of a C-contiguous array are a reshape view
        # (memory maps stay lazy); anything else (Fortran order, a stride-0 view whose copy
        # could be terabytes) is never reshaped: its rows are gathered a chunk at a time
        view = array.flags.c_contiguous or array.ndim <= 2  # no axes to merge: never a copy
        flat = array.reshape(-1, self.row_length) if self.dim == array.ndim - 1 and view else None
        dense = flat is not None and (self.row_length == 1 or flat.strides[1] == array.itemsize)
        self._flat = flat if dense else None

    def chunk_rows(self, memory_budget: int) -> int:
        """Rows per chunk so the analysis' temporaries fit in ``memory_budget`` bytes."""
        per_row = max(1, self.row_length) * 8 * WORK_ARRAYS_PER_ELEMENT
        return max(1, min(self.n_rows, memory_budget // per_row))

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a (stop - start, n) array in the source dtype."""
        # the rows first read now, in order from row 0, are counted into ``rounded``: every
        # pass reads from the start (the analysis reads every row), so each is counted once
        fresh = stop - self._counted if start <= self._counted < stop else 0
        self._counted += fresh
        if self._flat is not None:
            return self._decode(np.asarray(self._flat[start:stop]), fresh)
        idx = np.unravel_index(np.arange(start, stop), self.other_shape)
        if getattr(self._moved, "_mmap", None) is None:
            return self._decode(np.asarray(self._moved[idx]), fresh)
        # strided rows of a memory map span the whole file: gather a slab of the softmax axis at
        # a time and drop its pages, so at most about STRIDED_SLAB_BYTES of the map is resident
        out = np.empty((stop - start, self.row_length), dtype=self.dtype)
        step = max(1, STRIDED_SLAB_BYTES // max(1, abs(self._moved.strides[-1])))
        for j in range(0, self.row_length, step):
            k = min(j + step, self.row_length)
            out[:, j:k] = self._decode(self._moved[(*idx, slice(j, k))], fresh)
            self._drop(*self._span(start, stop, j, k))
        return out

    def _decode(self, stored: np.ndarray, fresh: int = 0) -> np.ndarray:
        """``stored`` decoded; the values its last ``fresh`` rows change are counted."""
        if self._decoder is None:
            return stored
        if fresh and self._decoder.rounded is not None:
            self.rounded += self._decoder.rounded(stored[len(stored) - fresh :])
        return self._decoder(stored)

    def release(self, start: int, stop: int) -> None:
        """Drop the memory-mapped pages of rows [start, stop) from this process (a hint).

        The pages stay in the OS page cache; without this, every page of a memory-mapped file
        read once counts in the resident set until the end, so memory grows with the file.
        With the softmax axis not last, rows are strided and the span released is every byte
        from the chunk's first element to its last (re-read from the page cache if needed).
        """
        if stop > start:
            self._drop(*self._span(start, stop, 0, self.row_length))

    def _drop(self, lo: int, hi: int) -> None:
        """MADV_DONTNEED the whole pages in bytes [lo, hi) from element 0 of the row view."""
        mm = getattr(self._moved, "_mmap", None)
        # a copy-on-write map ("c") holds the caller's edits in its pages: dropping loses them
        if mm is None or not hasattr(mm, "madvise") or getattr(self._moved, "mode", "c") == "c":
            return
        origin = self._moved.ctypes.data - np.frombuffer(mm, dtype=np.uint8).ctypes.data
        page = mmap.PAGESIZE
        lo, hi = (origin + lo) // page * page, (origin + hi) // page * page
        if hi > lo:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def _span(self, start: int, stop: int, j0: int, j1: int) -> tuple[int, int]:
        """[lo, hi): the bytes, from element 0 of the row view, of rows [start, stop) x [j0, j1)."""
        *outer, inner = self._moved.strides
        if self._flat is not None:  # rows in order: the first and last are the extremes
            first, last = start * self._flat.strides[0], (stop - 1) * self._flat.strides[0]
        else:
            idx = np.unravel_index(np.arange(start, stop), self.other_shape)
            offs = sum((i.astype(np.int64) * s for i, s in zip(idx, outer, strict=True)), 0)
            first, last = int(np.min(offs)), int(np.max(offs))
        a, b = j0 * inner, (j1 - 1) * inner
        return first + min(a, b), last + max(a, b) + self.dtype.itemsize

    def chunks(self, rows: int, first: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """Raw chunks in the source dtype, from row ``first``; a chunk's pages are released
        once the next is asked for, so the caller must have copied what it keeps of the
        previous one."""
        for start in range(first, self.n_rows, rows):
            stop = min(start + rows, self.n_rows)
            try:
                yield start, self.block(start, stop)
            finally:  # also when the caller stops early
                self.release(start, stop)

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
    upstream = np.isnan(values).any(-1) | (values == np.inf).any(-1)
    masked = (values == -np.inf).all(-1)
    return upstream, masked
