"""Per-chunk conversions from the stored bytes of a source to the float dtype it is analysed in.

A conversion of the whole array (int8 to float64 is 8x its size) would defeat the memory map, so
a source keeps its stored array and one of these decodes each chunk of rows as it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smcheck.errors import load_error


@dataclass(frozen=True)
class Decoder:
    """Stored array (any slice of it) -> float16/32/64 array of the same shape."""

    dtype: np.dtype
    """The dtype of every decoded chunk."""
    fn: Callable[[np.ndarray], np.ndarray]
    note: str
    """What loading did, for the report's notes (empty when nothing worth saying)."""

    def __call__(self, stored: np.ndarray) -> np.ndarray:
        return self.fn(stored)


def _bfloat16_bits(stored: np.ndarray) -> np.ndarray:
    # bfloat16 is the upper half of a float32: shifting the raw 16 bits left widens it exactly
    return (stored.astype(np.uint32) << 16).view(np.float32)


def bfloat16(source: str = "bfloat16") -> Decoder:
    """Raw bfloat16 bits stored as uint16 (safetensors BF16, a .pt bfloat16 tensor)."""
    return Decoder(
        np.dtype(np.float32), _bfloat16_bits, f"{source} values widened exactly to float32"
    )


def float8(source: str) -> Decoder:
    """Raw float8 bits stored as uint8, widened exactly through ml_dtypes (numpy has no float8).

    ``source`` is the format's name, the same in torch and ml_dtypes (``float8_e4m3fn``, ...).
    """
    import ml_dtypes

    fmt = np.dtype(getattr(ml_dtypes, source))
    return Decoder(
        np.dtype(np.float32),
        lambda stored: stored.view(fmt).astype(np.float32),
        f"{source} values widened exactly to float32",
    )


def is_ml_dtype(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is one of ml_dtypes' numbers (JAX's bfloat16, float8, int4, ...).

    numpy sees them as kind ``V`` (void); the module of their scalar type says what they are.
    """
    return getattr(dtype.type, "__module__", "") == "ml_dtypes"


def ml_dtype(dtype: np.dtype) -> Decoder:
    """An ml_dtypes array in its own format: its floats (bfloat16, float8, float6, float4) are
    subsets of float32, so the cast is exact; its small integers are converted to float64."""
    if dtype.name.startswith(("bfloat", "float")):
        return Decoder(
            np.dtype(np.float32),
            lambda stored: stored.astype(np.float32),
            f"{dtype.name} values widened exactly to float32",
        )
    return to_float64(f"integer array ({dtype.name}) converted to float64")


def to_float64(note: str, name: str = "") -> Decoder:
    """Integers, and long doubles (no torch or analysis dtype), as float64.

    A finite long double beyond float64's range is refused (LoadError naming ``name``) when its
    chunk is read: reading the whole file up front would defeat the memory map.
    """

    def cast(stored: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            out = stored.astype(np.float64)
            if stored.dtype.kind == "f" and (np.isinf(out) & np.isfinite(stored)).any():
                value = stored[np.isinf(out) & np.isfinite(stored)][0]
                raise load_error(
                    name,
                    f"the {stored.dtype.name} value {value!s} overflows float64 on reading "
                    "(beyond ±1.8e308)",
                    "rescale the logits, or clip them to float64's range, before saving",
                )
        return out

    return Decoder(np.dtype(np.float64), cast, note)


def native_order(dtype: np.dtype) -> Decoder:
    """Big-endian floats in native byte order (torch.from_numpy refuses any other)."""
    native = dtype.newbyteorder("=")
    return Decoder(
        native,
        lambda stored: stored.astype(native),
        "big-endian data converted to native byte order",
    )


def aligned(dtype: np.dtype) -> Decoder:
    """An unaligned memory map (safetensors data not at a multiple of the itemsize), copied."""
    return Decoder(dtype, np.array, "")


def for_stored(dtype: np.dtype, source: str, name: str = "") -> Decoder | None:
    """The decoder a stored numpy dtype needs, or None when it is analysed as it is."""
    if is_ml_dtype(dtype):
        return ml_dtype(dtype)
    if dtype.kind in "iu":
        return to_float64(f"integer array ({source}) converted to float64")
    if dtype.itemsize not in (2, 4, 8):
        return to_float64(f"{dtype.name} array rounded to float64", name)
    if not dtype.isnative:
        return native_order(dtype)
    return None
