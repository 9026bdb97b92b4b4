"""Reading in chunks: read-ahead, chunk bounds, page release."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck.sources.chunks import chunk_bounds, float64_chunks, read_ahead
from smcheck.sources.rows import RowView


def test_read_ahead_keeps_order_and_raises_the_producers_error() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("disk on fire")

    it = read_ahead(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="disk on fire"):
        next(it)


def test_read_ahead_stops_its_thread_when_abandoned() -> None:
    it = read_ahead(iter(range(10**6)))
    assert next(it) == 0
    it.close()  # must return: the producer is unblocked and stopped


def test_chunk_bounds_cover_every_row_once() -> None:
    for n, rows in [(10, 3), (1, 5), (7, 7), (8, 1), (1000, 64)]:
        b = chunk_bounds(n, rows)
        assert b[0][0] == 0 and b[-1][1] == n
        assert all(s1 == e0 for (_, e0), (s1, _) in zip(b, b[1:], strict=False))


def test_released_memory_map_still_reads_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(40 * 3000, dtype=np.float32).reshape(40, 3000)
    np.save(tmp_path / "a.npy", x)
    view = RowView(np.load(tmp_path / "a.npy", mmap_mode="r"), -1)
    chunks = list(float64_chunks(view, 7))  # releases each chunk's pages once copied
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), x)
    np.testing.assert_array_equal(view.block(0, 40), x)  # pages fault back in
