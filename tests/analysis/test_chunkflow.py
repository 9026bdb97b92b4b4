"""Streaming: read-ahead, chunk bounds, cheap exact rounding, page release, progress."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck import analyze
from smcheck.analysis.chunkflow import (
    chunk_bounds,
    exact_in,
    float64_chunks,
    read_ahead,
    round_chunk,
)
from smcheck.dtypes import get_format
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


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_round_chunk_is_one_correct_rounding(name: str) -> None:
    # float32 values incl. ties at the format's half-ulp, subnormals and overflow
    f = get_format(name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(4000).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -30, 30, 4000
    ).astype(np.float32)
    ties = (np.float32(1) + np.float32(2.0) ** (-f.t) * np.arange(1, 9, dtype=np.float32)).astype(
        np.float32
    )
    x = np.concatenate([x, ties, -ties, np.float32([6e-8, 3e-8, 1e-40, 70000, 3e38])])
    x64 = x.astype(np.float64)[None, :]
    got = round_chunk(x64, f, False, np.dtype(np.float32))
    np.testing.assert_array_equal(got, f.round(x64))


def test_exact_in_knows_which_casts_are_exact() -> None:
    f32, bf16, f16 = (get_format(n) for n in ("float32", "bfloat16", "float16"))
    assert exact_in(np.dtype(np.float16), f32) and exact_in(np.dtype(np.float32), f32)
    assert not exact_in(np.dtype(np.float16), bf16)  # 11 significant bits do not fit in 8
    assert not exact_in(np.dtype(np.float32), f16)
    assert not exact_in(np.dtype(np.int64), f32)


def test_released_memory_map_still_reads_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(40 * 3000, dtype=np.float32).reshape(40, 3000)
    np.save(tmp_path / "a.npy", x)
    view = RowView(np.load(tmp_path / "a.npy", mmap_mode="r"), -1)
    chunks = list(float64_chunks(view, 7))  # releases each chunk's pages once copied
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), x)
    np.testing.assert_array_equal(view.block(0, 40), x)  # pages fault back in


def test_progress_reports_every_row_in_order() -> None:
    events: list[tuple[str, int, int]] = []
    x = np.random.default_rng(0).normal(size=(23, 50))
    analyze(x, chunk_rows=4, dtypes=["float32"], progress=lambda *e: events.append(e))
    done = [d for task, d, _ in events if task == "analysing rows"]
    assert done == sorted(done) and done[-1] == 23
    assert {t for task, _, t in events if task == "analysing rows"} == {23}
