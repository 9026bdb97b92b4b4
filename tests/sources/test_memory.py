"""Memory does not grow with the file: an analysis keeps about a chunk of a memory map resident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import smcheck.sources.rows
from smcheck.api import analyze
from smcheck.sources.chunks import float64_chunks
from smcheck.sources.generators import generate_logits
from smcheck.sources.loaders import load_logits
from smcheck.sources.rows import RowView
from tests.benchmarks.peakrss import mapped_rss

pytestmark = pytest.mark.skipif(
    mapped_rss(Path(__file__)) is None, reason="needs /proc/self/smaps (Linux)"
)


def _npy(tmp_path: Path, shape: tuple[int, int], order: str = "C") -> Path:
    """gen:llm float32 logits as .npy, written a page at a time.

    Small writes keep the page cache in single pages; a large write may be cached in folios of
    up to 2 MiB, and a fault maps a whole folio, which would swamp these small files.
    """
    path = tmp_path / "x.npy"
    data = generate_logits("llm", shape=shape, seed=3, dtype="float32").tobytes(order=order)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": order == "F", "shape": shape}
        )
        for i in range(0, len(data), 4096):
            fh.write(data[i : i + 4096])
    return path


def _bound(path: Path, span: int) -> int:
    """Resident bytes allowed: two spans (one read ahead) plus what a fault maps at each end."""
    m = np.load(path, mmap_mode="r")
    float(m.ravel(order="K")[m.size // 2])  # one element: the kernel maps its fault-around
    granule = mapped_rss(path) or 0
    del m
    bound = 2 * span + 2 * granule
    if 2 * bound > path.stat().st_size:
        pytest.skip(
            f"a fault maps {granule} bytes here: too coarse for a {path.stat().st_size}-byte file"
        )
    return bound


def _mapped_peak(path: Path, **options: Any) -> int:
    """Most bytes of ``path``'s map resident at any chunk's end, or once the report is built."""
    src = load_logits(str(path))  # held here, so the map stays open until the last probe
    seen: list[int] = []

    def probe(task: str, done: int, total: int) -> None:
        seen.append(mapped_rss(path) or 0)

    analyze(src, progress=probe, **options)
    seen.append(mapped_rss(path) or 0)
    assert len(seen) > 2  # the probe ran during the analysis, not only after it
    return max(seen)


def test_analysis_keeps_about_one_chunk_of_the_map_resident(tmp_path: Path) -> None:
    # 32 rows x 4096 float32 = 512 KiB in chunks of 2 rows (32 KiB): every chunk's pages are
    # dropped once copied, and nothing else (loading, the report) reads the map
    path = _npy(tmp_path, (32, 4096))
    peak = _mapped_peak(
        path, chunk_rows=2, dtypes=("float32",), methods=("torch",), gradients=False
    )
    assert peak <= _bound(path, 2 * 4096 * 4)


def test_default_analysis_keeps_about_one_chunk_of_the_map_resident(tmp_path: Path) -> None:
    # the same with every default cell, the gradients and their targets
    path = _npy(tmp_path, (32, 4096))
    assert _mapped_peak(path, chunk_rows=2) <= _bound(path, 2 * 4096 * 4)


def test_critical_temperature_search_releases_the_map(tmp_path: Path) -> None:
    # several temperatures turn the critical-temperature search on: passes over every row
    path = _npy(tmp_path, (32, 4096))
    peak = _mapped_peak(
        path,
        chunk_rows=2,
        temperatures=(0.5, 1.0),
        dtypes=("float16",),
        methods=("shifted",),
        gradients=False,
    )
    assert peak <= _bound(path, 2 * 4096 * 4)


@pytest.mark.parametrize(("dim", "order"), [(0, "C"), (-1, "C"), (-1, "F")])
def test_strided_rows_map_one_slab_at_a_time(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, dim: int, order: str
) -> None:
    # dim 0 of (1024, 512), or rows of a Fortran-order file: rows strided over the whole 2 MiB
    # file, gathered in slabs of 64 KiB of the file, each dropped once copied, values unchanged
    path = _npy(tmp_path, (1024, 512), order)
    monkeypatch.setattr(smcheck.sources.rows, "STRIDED_SLAB_BYTES", 64 * 1024)
    chunk = 128
    bound = _bound(path, max(64 * 1024, chunk * 4 * (512 if order == "C" and dim == -1 else 0)))
    peaks: list[int] = []
    drop = RowView._drop

    def probed_drop(self: RowView, lo: int, hi: int) -> None:
        peaks.append(mapped_rss(path) or 0)  # the most is mapped just before a drop
        drop(self, lo, hi)

    monkeypatch.setattr(RowView, "_drop", probed_drop)
    src = np.load(path, mmap_mode="r")
    want = np.moveaxis(np.load(path).astype(np.float64), dim, -1)  # read apart from the map
    view = RowView(src, dim)
    got = [x for _, x in float64_chunks(view, chunk)]
    assert np.array_equal(np.concatenate(got), want)
    for _, _raw in view.chunks(chunk):  # the critical-temperature search reads this way
        pass
    assert len(peaks) >= 8 and max(peaks) <= bound


def test_copy_on_write_maps_keep_their_edits(tmp_path: Path) -> None:
    # pages of a mode="c" map hold the caller's changes; dropping them would read the file again
    path = _npy(tmp_path, (64, 1024))
    m = np.load(path, mmap_mode="c")
    m[:, 0] = 123.0
    view = RowView(m, -1)
    for _, x in float64_chunks(view, 4):
        assert (x[:, 0] == 123.0).all()
    assert (m[:, 0] == 123.0).all()
    assert m.mode == "c" and np.load(path, mmap_mode="r")[0, 0] != 123.0
