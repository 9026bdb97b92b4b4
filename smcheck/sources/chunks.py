"""Reading a row view in chunks: chunk bounds, float64 copies, and read-ahead in a thread.

Reading the next chunk (page faults of a memory map, the cast to float64) runs in a background
thread while the current chunk is analysed, so I/O overlaps compute on the second core.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

from smcheck.sources.rows import RowView

T = TypeVar("T")


_END = object()


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` while a background thread already produces the next ``depth`` of them.

    Exceptions in the producer are re-raised in the consumer; closing the generator early stops
    the producer after at most ``depth`` more items.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for it in items:
                if stop.is_set():
                    return
                q.put(it)
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    th = threading.Thread(target=produce, name="smcheck-read-ahead", daemon=True)
    th.start()
    try:
        while True:
            it = q.get()
            if it is _END:
                return
            if isinstance(it, BaseException):
                raise it
            yield it  # type: ignore[misc]
    finally:
        stop.set()
        while th.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
            th.join(0.01)


TORCH_GRAIN = 32768
"""Elements below which torch reduces serially (at::internal::GRAIN_SIZE)."""


def chunk_bounds(
    n_rows: int, rows: int, row_length: int = TORCH_GRAIN, most: int | None = None
) -> list[tuple[int, int]]:
    """[start, stop) of each chunk: ``rows`` rows each, but no torch-splittable short chunk.

    torch reduces each row serially when a tensor has at least one row per thread or fewer than
    TORCH_GRAIN elements, but splits rows between threads otherwise -- which changes the rounding
    of sums. So where rows are that long, a chunk holds at least one row per thread (a short
    tail joins the chunk before it), and every row gets the same bits whatever the chunk size --
    unless the memory budget holds fewer rows (``most``): the budget wins over the bits.
    """
    import torch

    threads = torch.get_num_threads()
    least = min(n_rows, threads) if (threads - 1) * row_length >= TORCH_GRAIN else 1
    least = min(least, most) if most is not None else least
    rows = max(rows, least, 1)
    bounds = [(s, min(s + rows, n_rows)) for s in range(0, n_rows, rows)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < least:
        bounds[-2:] = [(bounds[-2][0], n_rows)]
    return bounds


def float64_chunks(
    view: RowView, rows: int, most: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Row chunks as fresh float64 arrays; the source pages of each are released once copied.

    ``most``: the rows the memory budget allows in a chunk (see :func:`chunk_bounds`).
    """
    for start, stop in chunk_bounds(view.n_rows, rows, view.row_length, most):
        with np.errstate(invalid="ignore"):  # a signalling NaN from a file becomes a quiet one
            x = np.array(view.block(start, stop), dtype=np.float64, copy=True)
        view.release(start, stop)
        yield start, x
