"""A read-only, dependency-free parser for ``.safetensors`` files that memory-maps tensor data."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smcheck.errors import LoadError
from smcheck.sources import decoders
from smcheck.sources.decoders import Decoder
from smcheck.sources.filekinds import HEAD_BYTES, refuse_head
from smcheck.sources.validation import load_error, os_reason, reading, unique_keys

MAX_HEADER_BYTES = 100_000_000
"""Headers above this are refused before reading them (the reference implementation's limit)."""

_FIX = "re-save it with safetensors.torch.save_file"

CAPTURE_FORMAT = "smcheck.capture/1"
"""``__metadata__["format"]`` of a capture file (``smcheck capture --save``, capture/store.py):
one tensor of rows per softmax site, the sites described in the metadata."""

# safetensors dtype -> (numpy storage dtype, source dtype name). The storage dtype is what the
# bytes are mapped as; BF16 and F8 have no numpy type and are widened after mapping.
_DTYPES: dict[str, tuple[str, str]] = {
    "F16": ("<f2", "float16"),
    "BF16": ("<u2", "bfloat16"),
    "F32": ("<f4", "float32"),
    "F64": ("<f8", "float64"),
    "F8_E4M3": ("u1", "float8_e4m3fn"),
    "F8_E5M2": ("u1", "float8_e5m2"),
    "I8": ("i1", "int8"),
    "U8": ("u1", "uint8"),
    "I16": ("<i2", "int16"),
    "U16": ("<u2", "uint16"),
    "I32": ("<i4", "int32"),
    "U32": ("<u4", "uint32"),
    "I64": ("<i8", "int64"),
    "U64": ("<u8", "uint64"),
    "BOOL": ("u1", "bool"),
    "C64": ("<c8", "complex64"),
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor described by the JSON header."""

    key: str
    dtype: str
    """The safetensors dtype string, e.g. ``"BF16"``."""
    shape: tuple[int, ...]
    begin: int
    """Start of the data, relative to the end of the header."""
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """The validated layout of a file."""

    data_start: int
    """Absolute file offset of the data buffer (8 + header length)."""
    tensors: dict[str, TensorEntry]
    metadata: dict[str, object] | None = None
    """The ``__metadata__`` object, when the header has one."""

    @property
    def is_capture(self) -> bool:
        """Whether this is a capture file of softmax sites, not one array of logits."""
        return self.metadata is not None and self.metadata.get("format") == CAPTURE_FORMAT


def read_header(path: Path, name: str) -> SafetensorsHeader:
    """Read and validate the header of ``path``; every layout problem raises :class:`LoadError`.

    Checks: the 8-byte little-endian header length fits the file and :data:`MAX_HEADER_BYTES`,
    the header is a JSON object of well-formed entries, every entry's data range lies inside the
    file, matches ``prod(shape) * itemsize`` for known dtypes, and no two ranges overlap.
    """

    def fail(what: str) -> LoadError:
        return _error(name, what)

    fix = "check the file and its permissions"
    with reading(name, "it cannot be read", fix, errors=OSError, reason=os_reason):
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            prefix = head[:8]
            n = int.from_bytes(prefix, "little")
            if len(prefix) < 8 or n > MAX_HEADER_BYTES or 8 + n > size:  # another format's?
                refuse_head(head, name, "a safetensors file", (".safetensors",))
            if len(prefix) < 8:
                raise fail(
                    f"the file is truncated ({size} bytes, too short for a safetensors header)"
                )
            if n > MAX_HEADER_BYTES:
                raise fail(
                    f"the header claims {n} bytes, above the {MAX_HEADER_BYTES}-byte limit "
                    "(corrupt or not a safetensors file)"
                )
            if 8 + n > size:
                raise fail(
                    f"the header claims {n} bytes but the file has only {size - 8} after "
                    "the length field (truncated or not a safetensors file)"
                )
            f.seek(8)
            raw = f.read(n)
    # UnicodeDecodeError is a ValueError
    with reading(name, "the header is not valid JSON", _FIX, errors=(ValueError, RecursionError)):
        header = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=lambda pairs: unique_keys(
                pairs,
                lambda k: _error(
                    name, f"the header names {k!r} twice, so which data is meant is unclear"
                ),
            ),
            parse_int=lambda text: _header_int(text, name),
        )
    if not isinstance(header, dict):
        raise fail("the header is not a JSON object")

    data_len = size - 8 - n
    tensors: dict[str, TensorEntry] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        tensors[key] = _parse_entry(key, info, data_len, name)
    meta = header.get("__metadata__")
    ranges = sorted((t.begin, t.end, t.key) for t in tensors.values() if t.end > t.begin)
    for (_, end_a, key_a), (begin_b, _, key_b) in zip(ranges, ranges[1:], strict=False):
        if begin_b < end_a:
            raise fail(f"the data of tensors {key_a!r} and {key_b!r} overlap")
    return SafetensorsHeader(8 + n, tensors, meta if isinstance(meta, dict) else None)


def _parse_entry(key: str, info: object, data_len: int, name: str) -> TensorEntry:
    """Validate one header entry against the length of the data buffer."""

    def fail(what: str) -> LoadError:
        return _error(name, what)

    if not isinstance(info, dict):
        raise fail(f"the header entry {key!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str):
        raise fail(f"the header entry {key!r} has no dtype string")
    if not (isinstance(shape, list) and all(_is_index(d) for d in shape)):
        raise fail(f"the header entry {key!r} has a malformed shape {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(_is_index(o) for o in offsets)
        and offsets[0] <= offsets[1]
    ):
        raise fail(f"the header entry {key!r} has malformed data_offsets {offsets!r}")
    begin, end = offsets
    if end > data_len:
        raise fail(
            f"tensor {key!r} claims data bytes {begin}..{end} but the file holds only "
            f"{data_len} bytes of data (truncated)"
        )
    if dtype in _DTYPES:
        expected = math.prod(shape) * np.dtype(_DTYPES[dtype][0]).itemsize
        if end - begin != expected:
            dims = "x".join(map(str, shape)) or "scalar"
            raise fail(
                f"tensor {key!r} is {dims} {dtype} = {expected} bytes but its data_offsets "
                f"span {end - begin}"
            )
    return TensorEntry(key=key, dtype=dtype, shape=tuple(shape), begin=begin, end=end)


def map_tensor(
    path: Path, header: SafetensorsHeader, entry: TensorEntry, name: str
) -> tuple[np.ndarray, str, Decoder | None]:
    """Memory-map one tensor read-only; returns (stored array, source dtype, its decoder).

    BF16 and F8 are mapped as their raw bits and widened exactly a chunk at a time (see
    :mod:`smcheck.sources.decoders`), as are data that do not start at a multiple of the
    itemsize (numpy maps them, torch.from_numpy does not take them). Other dtypes are returned as
    mapped, for the caller's common dtype checks (integers, bool, complex) to handle.
    """
    if entry.dtype not in _DTYPES:
        known = ", ".join(d for d in _DTYPES if d not in ("BOOL", "C64"))  # those are refused
        raise load_error(
            name,
            f"tensor {entry.key!r} has dtype {entry.dtype!r}, which smcheck does not read",
            f"convert it to one of {known}",
        )
    storage, source = _DTYPES[entry.dtype]
    if math.prod(entry.shape) == 0 or not entry.shape:
        # np.memmap cannot map zero bytes; an empty or 0-d array is rejected by the caller anyway
        return np.zeros(entry.shape, dtype=np.float32), source, None
    arr = np.memmap(
        path,
        dtype=np.dtype(storage),
        mode="r",
        offset=header.data_start + entry.begin,
        shape=entry.shape,
    )
    if entry.dtype == "BF16":
        return arr, source, decoders.bfloat16()
    if entry.dtype.startswith("F8_"):
        return arr, source, decoders.float8(source)
    if entry.dtype == "BOOL":
        return arr.view(np.bool_), source, None
    if arr.dtype.kind == "f" and (header.data_start + entry.begin) % arr.dtype.itemsize:
        return arr, source, decoders.aligned(arr.dtype)
    return arr, source, None


def _header_int(text: str, name: str) -> int:
    """A header integer; no size or offset in a real file has more than 20 digits."""
    if len(text.lstrip("-")) > 20:
        raise _error(name, f"the header holds a {len(text)}-digit integer, too large for a file")
    return int(text)


def _error(name: str, what: str) -> LoadError:
    return load_error(name, what, _FIX)


def _is_index(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
