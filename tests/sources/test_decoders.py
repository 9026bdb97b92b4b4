"""Sources decoded a chunk at a time analyse exactly like their values given as floats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smcheck.api import analyze
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
