"""Sources decoded a chunk at a time analyse exactly like their values given as floats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smcheck.api import analyze
from smcheck.sources.decoders import rounded_integers
from smcheck.sources.generators import generate_logits
from smcheck.sources.loaders import load_logits
from tests.safetensorsfile import write_safetensors

X = generate_logits("normal", shape=(6, 40), seed=5, dtype="float32") * 8


def _cells(source: object, **options: object) -> str:
    report = analyze(source, dtypes=("float16", "float32"), methods=("naive", "shifted"), **options)
    return json.dumps(report.to_dict()["sources"][0]["cells"], sort_keys=True)


def _bf16(tmp_path: Path) -> tuple[Path, np.ndarray]:
    bits = (X.view(np.uint32) >> 16).astype(np.uint16)  # bfloat16 by truncation
    return write_safetensors(tmp_path / "x.safetensors", {"x": ("BF16", bits)}), (
        bits.astype(np.uint32) << 16
    ).view(np.float32)


def _int8(tmp_path: Path) -> tuple[Path, np.ndarray]:
    ints = np.clip(X, -128, 127).astype(np.int8)
    np.save(tmp_path / "x.npy", ints)
    return tmp_path / "x.npy", ints.astype(np.float64)


def _big_endian(tmp_path: Path) -> tuple[Path, np.ndarray]:
    np.save(tmp_path / "x.npy", X.astype(">f4"))
    return tmp_path / "x.npy", X


def _unaligned(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = write_safetensors(tmp_path / "x.safetensors", {"x": ("F32", X)}, align=False)
    return path, X


@pytest.mark.parametrize("build", [_bf16, _int8, _big_endian, _unaligned])
def test_decoded_source_analyses_like_its_values(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    path, values = build(tmp_path)
    loaded = load_logits(str(path))
    assert loaded.decoder is not None  # the stored array is kept, and decoded per chunk
    assert loaded.stored.dtype != values.dtype or not loaded.stored.flags.aligned
    # chunks of 2 rows: every chunk is decoded on its own
    assert _cells(str(path), chunk_rows=2) == _cells(values, chunk_rows=2)


def test_rounded_integers_counts_exactly_the_values_float64_cannot_hold() -> None:
    # 2^53 + 1 ties to the even 2^53; 2^53 + 2, 2^62 and -2^63 are float64s; 2^63 - 1 rounds up
    # to 2^63, past int64 (and 2^64 - 1 to 2^64, past uint64): a round trip cannot compare them
    big = 2**53
    signed = np.array([big + 1, big, big - 1, big + 2, 2**62, -(2**63), 2**63 - 1, -(big + 1)])
    assert rounded_integers(signed) == 3
    assert rounded_integers(np.array([2**64 - 1, 2**63, big + 1, 5], dtype=np.uint64)) == 2
    assert rounded_integers(np.array([2**31 - 1, -(2**31)], dtype=np.int32)) == 0


def test_integers_rounded_by_the_conversion_are_counted_once_whatever_the_passes() -> None:
    # the note counts each row as it is first read: chunks of 4 rows, the softmax axis not last
    # (gathered rows), the masks scan of --use auto and the critical search reading them again
    rng = np.random.default_rng(3)
    x = rng.integers(-(2**62), 2**62, size=(9, 7), dtype=np.int64)
    x[::2] //= 2**20  # rows of values below 2^53: none rounded
    rounded = int((x.astype(np.float64).astype(np.int64) != x).sum())
    assert 0 < rounded < x.size
    note = f"integer array (int64) converted to float64; {rounded} values beyond 2^53 rounded"
    for dim in (-1, 0):
        r = analyze(
            x, dim=dim, dtypes=["float64"], methods=["shifted"], chunk_rows=4, critical=True
        )
        assert r.sources[0].notes == [f"{note} (the analysis is of the rounded values)"], dim
