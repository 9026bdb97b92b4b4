"""Arrays from other frameworks: ml_dtypes formats, DLPack and __array__ objects, .npy files."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch

from smcheck.api import analyze
from smcheck.errors import LoadError
from smcheck.sources.generators import generate_logits
from smcheck.sources.loaders import array_source, load_logits

X = generate_logits("normal", shape=(6, 40), seed=7, dtype="float32") * 30  # fp16 overflows
ML_FORMATS = ["bfloat16", "float8_e4m3fn", "float8_e5m2"]


def _cells(source: object) -> str:
    report = analyze(
        source, dtypes=("float16", "float32"), methods=("naive", "shifted"), gradients=False
    )
    return json.dumps(report.to_dict()["sources"][0]["cells"], sort_keys=True)


class DLPackOnly:
    """What JAX or CuPy hand over: nothing but the DLPack protocol (no __array__)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self._t = tensor

    def __dlpack__(self, **kwargs: object) -> object:
        return self._t.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._t.__dlpack_device__()


class ArrayOnly:
    """What TensorFlow hands over: nothing but __array__."""

    def __init__(self, array: np.ndarray) -> None:
        self._a = array

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return self._a if dtype is None else self._a.astype(dtype)


@pytest.mark.parametrize("fmt", ML_FORMATS)
def test_an_ml_dtypes_array_is_analysed_in_its_own_format(fmt: str) -> None:
    x = X.astype(getattr(ml_dtypes, fmt))
    report = analyze(x, dtypes=("float16", "float32"), methods=("naive",), gradients=False)
    (src,) = report.sources
    assert src.dtype == fmt  # the source dtype, not "void" or a record array
    assert f"{fmt} values widened exactly to float32" in src.notes
    # the same analysis as its values given as float32 (the widening is exact)
    assert _cells(x) == _cells(x.astype(np.float32))


def test_an_ml_dtypes_array_is_not_copied_whole() -> None:
    x = X.astype(ml_dtypes.bfloat16)
    loaded = array_source(x)
    assert np.shares_memory(loaded.stored, x)  # decoded a chunk at a time by the analysis


def test_a_dlpack_only_object_is_read_through_torch_in_its_own_format() -> None:
    t = torch.from_numpy(X).to(torch.bfloat16)
    assert not hasattr(DLPackOnly(t), "__array__")
    (src,) = analyze(
        DLPackOnly(t), dtypes=("float32",), methods=("naive",), gradients=False
    ).sources
    assert src.dtype == "bfloat16"
    assert _cells(DLPackOnly(t)) == _cells(t.float().numpy())


def test_an_array_only_object_is_read_through_numpy() -> None:
    (src,) = analyze(ArrayOnly(X), dtypes=("float32",), methods=("naive",), gradients=False).sources
    assert src.dtype == "float32"
    assert _cells(ArrayOnly(X.astype(ml_dtypes.bfloat16))) == _cells(
        X.astype(ml_dtypes.bfloat16).astype(np.float32)
    )


def test_a_broken_dlpack_object_is_one_load_error() -> None:
    class Broken:
        def __dlpack__(self, **kwargs: object) -> object:
            raise RuntimeError("device lost")

        def __dlpack_device__(self) -> tuple[int, int]:
            return (1, 0)

    with pytest.raises(LoadError, match=r"DLPack capsule cannot be read \(device lost\)"):
        array_source(Broken())


@pytest.mark.parametrize("fmt", ["bfloat16", "float8_e5m2"])
def test_an_npy_saved_through_ml_dtypes_is_mapped_in_its_format(tmp_path: Path, fmt: str) -> None:
    x = X.astype(getattr(ml_dtypes, fmt))
    np.save(tmp_path / "x.npy", x)  # descr '<V2' (bfloat16) or '<f1' (float8_e5m2)
    loaded = load_logits(str(tmp_path / "x.npy"))
    assert loaded.source_dtype == fmt
    assert isinstance(loaded.stored, np.memmap)  # read lazily, a chunk at a time
    assert np.array_equal(loaded.array, x.astype(np.float32))
    assert _cells(str(tmp_path / "x.npy")) == _cells(x)


def test_an_npy_of_an_unnamed_float8_format_is_refused(tmp_path: Path) -> None:
    # float8_e4m3fn, e4m3fnuz, e5m2fnuz ... all save as '<V1': guessing would misreport
    np.save(tmp_path / "x.npy", X.astype(ml_dtypes.float8_e4m3fn))
    with pytest.raises(LoadError, match=r"raw 1-byte values .*does not say which; save it as"):
        load_logits(str(tmp_path / "x.npy"))


def test_an_npz_member_saved_through_ml_dtypes_is_read(tmp_path: Path) -> None:
    x = X.astype(ml_dtypes.bfloat16)
    np.savez(tmp_path / "x.npz", logits=x)
    loaded = load_logits(str(tmp_path / "x.npz"))
    assert loaded.source_dtype == "bfloat16"
    assert np.array_equal(loaded.array, x.astype(np.float32))
