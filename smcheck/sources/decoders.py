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
    rounded: Callable[[np.ndarray], int] | None = None
    """How many values of a stored block decoding changes (64-bit integers beyond 2^53); None
    where it changes none. A vectorised check, run on each chunk as it is first read."""

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


FLOAT64_INTEGERS = 2**53
"""Every integer up to 2^53 in magnitude is a float64; beyond, only those whose significant
bits fit in float64's 53 (2^53 + 1 rounds to 2^53)."""


def rounded_integers(stored: np.ndarray) -> int:
    """How many of the integers ``stored`` the conversion to float64 changes: one vectorised
    comparison, then the exact test for the few beyond 2^53."""
    if stored.dtype.itemsize < 8:  # int32 and narrower: every value is a float64
        return 0
    big = stored > FLOAT64_INTEGERS
    if stored.dtype.kind == "i":
        big |= stored < -FLOAT64_INTEGERS
    big_values = stored[big]
    if not big_values.size:
        return 0
    wide = big_values.astype(np.float64)
    # a value rounded up to 2^63 (2^64 unsigned) is beyond the integer type: changed; the rest
    # convert back exactly, so a round trip that differs is a value the conversion changed
    past = wide >= 2.0 ** (64 - (stored.dtype.kind == "i"))
    back = wide[~past].astype(stored.dtype)
    return int(past.sum()) + int((back != big_values[~past]).sum())


def rounded_note(note: str, rounded: int) -> str:
    """The integer conversion's ``note``, naming the values it changed (none: as it is)."""
    if not rounded:
        return note
    values = "value" if rounded == 1 else "values"
    return f"{note}; {rounded} {values} beyond 2^53 rounded (the analysis is of the rounded values)"


def to_float64(
    note: str, name: str = "", rounded: Callable[[np.ndarray], int] | None = None
) -> Decoder:
    """Integers, and long doubles (no torch or analysis dtype), as float64.

    A finite long double beyond float64's range is refused (LoadError naming ``name``) when its
    chunk is read: reading the whole file up front would defeat the memory map. ``rounded``
    counts the integers a block's conversion changes (:attr:`Decoder.rounded`).
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

    return Decoder(np.dtype(np.float64), cast, note, rounded)


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
        rounded = rounded_integers if dtype.itemsize == 8 else None
        return to_float64(f"integer array ({source}) converted to float64", rounded=rounded)
    if dtype.itemsize not in (2, 4, 8):
        return to_float64(f"{dtype.name} array rounded to float64", name)
    if not dtype.isnative:
        return native_order(dtype)
    return None
