"""Read .npy (memory-mapped) and .npz logits without ever unpickling, checking headers first."""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from smcheck.errors import LoadError
from smcheck.sources.decoders import is_ml_dtype
from smcheck.sources.readlimits import ReadLimit
from smcheck.sources.validation import (
    check_shape,
    describe,
    dims,
    load_error,
    os_reason,
    reading,
    refuse_objects,
    select_key,
)

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
MAX_NPY_HEADER = 10_000
"""numpy's own ``max_header_size`` default; longer headers are refused before reading."""

READ_PIECE = 2**20
"""Bytes of a stream's array data read at a time."""

_NPY_FIX = "re-save it with numpy.save"
_NPZ_FIX = "re-save it with numpy.savez"


@dataclass(frozen=True)
class NpyHeader:
    """What an .npy header promises."""

    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    data_offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(f: BinaryIO, name: str, fix: str = _NPY_FIX) -> NpyHeader:
    """Read and check the magic and header of an .npy stream positioned at its start.

    The dtype and shape rules run on the header, so object arrays are refused before any of
    their (pickled) data is read.
    """
    with reading(name, "it cannot be read", fix):  # zip/stream errors surface on read
        prefix = f.read(8)
    if not prefix:
        raise load_error(name, "the file is empty", fix)
    if not prefix.startswith(NPY_MAGIC):
        if prefix.startswith(ZIP_MAGIC):
            raise load_error(name, "it is a zip archive, not an .npy file", "rename it to .npz")
        if prefix[:1] == b"\x80":
            raise load_error(
                name,
                "it is a Python pickle, not an .npy file, and smcheck never loads pickles",
                "save the array with numpy.save",
            )
        raise load_error(name, "it is not an .npy file (no \\x93NUMPY magic)", fix)
    if len(prefix) < 8:
        raise load_error(name, "the file is truncated inside the .npy header", fix)
    version = (prefix[6], prefix[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise load_error(name, f"unknown .npy format version {version[0]}.{version[1]}", fix)
    # 2.0 and 3.0 share the header layout (a 4-byte length); 3.0 only allows UTF-8 field names
    width = 2 if version == (1, 0) else 4
    with reading(name, "it cannot be read", fix):
        size_field = f.read(width)
        length = int.from_bytes(size_field, "little")
        # checked before reading, so a lying length field costs nothing
        text = f.read(length) if len(size_field) == width and length <= MAX_NPY_HEADER else b""
    if length > MAX_NPY_HEADER:
        raise load_error(
            name,
            f"the .npy header claims {length} bytes, above numpy's "
            f"{MAX_NPY_HEADER}-byte safety limit",
            fix,
        )
    if len(size_field) < width or len(text) < length:
        raise load_error(name, "the file is truncated inside the .npy header", fix)
    read = (
        np.lib.format.read_array_header_1_0 if width == 2 else np.lib.format.read_array_header_2_0
    )
    e5m2 = _ML_E5M2_DESCR.search(text) is not None
    if e5m2:  # numpy cannot parse '<f1': read the header as bytes, then type them
        text = _ML_E5M2_DESCR.sub(b"'descr': '|u1'", text)
    with reading(name, "the .npy header is corrupt", fix):
        # literal_eval of the header dict: never unpickles, never calls anything
        shape, fortran, dtype = read(io.BytesIO(size_field + text))
    dtype = _ml_dtypes_saved(name, dtype, e5m2)
    if any(d < 0 for d in shape):
        raise load_error(name, f"the .npy header has a negative dimension {shape}", fix)
    refuse_objects(name, dtype)  # other dtypes: judged by what the file holds (logits, targets)
    check_shape(name, shape, dtype)
    return NpyHeader(tuple(shape), bool(fortran), dtype, 8 + width + length)


_ML_E5M2_DESCR = re.compile(rb"'descr':\s*'[<|]f1'")
"""How ml_dtypes saves float8_e5m2, the only one-byte type whose kind is 'f'."""


def _ml_dtypes_saved(name: str, dtype: np.dtype, e5m2: bool) -> np.dtype:
    """The ml_dtypes type behind a descr numpy keeps no name for (``numpy.save`` of a JAX or
    ml_dtypes array): '<f1' is float8_e5m2 and a plain 2-byte void bfloat16, the only such
    types; a plain 1-byte void may be any of several float8 formats, so it is refused."""
    if not e5m2 and (dtype.kind != "V" or dtype.names is not None or dtype.subdtype):
        return dtype
    import ml_dtypes

    if e5m2:
        return np.dtype(ml_dtypes.float8_e5m2)
    if dtype.itemsize == 2:
        return np.dtype(ml_dtypes.bfloat16)
    if dtype.itemsize == 1:
        raise load_error(
            name,
            "it holds raw 1-byte values (descr 'V1'), how ml_dtypes saves float8_e4m3fn and other "
            "float8 formats, and an .npy file does not say which",
            "save it as safetensors (F8_E4M3) or .pt, or as numpy.save(path, x.astype('float32'))",
        )
    return dtype


def _truncated(name: str, h: NpyHeader, found: int, fix: str) -> Exception:
    return load_error(
        name,
        f"the file is truncated (header says {dims(h.shape)} {h.dtype} = "
        f"{h.nbytes} bytes of data, found {found})",
        fix,
    )


def read_npy(path: Path, name: str) -> tuple[np.ndarray, str]:
    """Memory-map an .npy file read-only; returns (array, source dtype name)."""
    with reading(name, "it cannot be read", _NPY_FIX, errors=OSError, reason=os_reason):
        with open(path, "rb") as f:
            header = read_npy_header(f, name)
        size = os.path.getsize(path)
    if size - header.data_offset < header.nbytes:
        raise _truncated(name, header, size - header.data_offset, _NPY_FIX)
    with reading(name, "it is not a readable .npy file", _NPY_FIX):
        if is_ml_dtype(header.dtype):  # np.load cannot type it: map what the header promised
            order = "F" if header.fortran else "C"
            array = np.memmap(
                path, header.dtype, "r", header.data_offset, header.shape, order=order
            )
        else:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
    return array, header.dtype.name


def read_npy_stream(
    f: BinaryIO, name: str, available: int, fix: str = _NPY_FIX
) -> tuple[np.ndarray, str]:
    """Read a whole .npy from a stream of ``available`` bytes (stdin, an npz member)."""
    return _read_npy_data(f, name, read_npy_header(f, name, fix), available, fix)


def _read_npy_data(
    f: BinaryIO, name: str, header: NpyHeader, available: int, fix: str
) -> tuple[np.ndarray, str]:
    """The data after ``header`` on ``f``, which holds ``available`` bytes in all."""
    if available - header.data_offset < header.nbytes:  # checked before reading: no huge reads
        raise _truncated(name, header, max(available - header.data_offset, 0), fix)
    data = np.empty(header.nbytes, dtype=np.uint8)
    done = 0
    with reading(name, "its data cannot be read", fix):
        # into one buffer a piece at a time: read(n) of a zip member joins pieces, a second copy
        while done < header.nbytes and (piece := f.read(min(READ_PIECE, header.nbytes - done))):
            data[done : done + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            done += len(piece)
    if done < header.nbytes:
        raise _truncated(name, header, done, fix)
    order = "F" if header.fortran else "C"
    array = data.view(header.dtype).reshape(header.shape, order=order)
    return array, header.dtype.name


def read_npz(
    source: Path | BinaryIO, name: str, key: str | None, limit: ReadLimit
) -> tuple[np.ndarray, str]:
    """Read one member of an .npz archive (the only one when ``key`` is None).

    A stored (uncompressed, ``numpy.savez``) member of a file is memory-mapped like an .npy; a
    compressed one is decompressed whole, so its array must fit ``limit``: checked on the
    member's header before any of its data is inflated (a small file may declare gigabytes).
    """
    with reading(name, "it is not a readable .npz archive", _NPZ_FIX):
        archive = zipfile.ZipFile(source)
    with archive:
        with reading(name, "its zip directory is corrupt", _NPZ_FIX):
            infos = archive.infolist()
        members: dict[str, zipfile.ZipInfo] = {}
        for m in infos:  # numpy's keys drop ".npy": "a" and "a.npy" would both be "a"
            other = members.setdefault(m.filename.removesuffix(".npy"), m)
            if other is not m:
                what = "two members" if other.filename == m.filename else "the members"
                names = repr(m.filename) if other.filename == m.filename else ""
                raise load_error(
                    name,
                    f"it holds {what} {names or f'{other.filename!r} and {m.filename!r}'} "
                    f"for the key {m.filename.removesuffix('.npy')!r}, so which is meant is "
                    "unclear",
                    _NPZ_FIX,
                )
        info = members[select_key(name, list(members), key, "array")]
        with reading(name, f"the member {info.filename!r} cannot be read", _NPZ_FIX):
            member = archive.open(info)
        with member:
            if isinstance(source, Path) and info.compress_type == zipfile.ZIP_STORED:
                return _map_stored_member(source, name, info, member)
            try:
                header = read_npy_header(member, name, _NPZ_FIX)
            except LoadError as exc:
                raise _corruption_or(exc, member, info, name) from exc.__cause__
            limit.check(name, f"array data in the member {info.filename!r}", header.nbytes)
            try:
                out = _read_npy_data(member, name, header, info.file_size, _NPZ_FIX)
            except LoadError as exc:
                raise _corruption_or(exc, member, info, name) from exc.__cause__
            _check_member(member, info, name)  # the CRC is checked only at the member's end
            return out


def _map_stored_member(
    path: Path, name: str, info: zipfile.ZipInfo, member: BinaryIO
) -> tuple[np.ndarray, str]:
    """Memory-map the array of an uncompressed member where its bytes lie in the file."""
    header = read_npy_header(member, name, _NPZ_FIX)
    if info.file_size - header.data_offset < header.nbytes:
        raise _truncated(name, header, max(info.file_size - header.data_offset, 0), _NPZ_FIX)
    with reading(name, "it cannot be read", _NPZ_FIX, errors=OSError, reason=os_reason):
        with open(path, "rb") as f:
            start = member_data_start(f, info, name, _NPZ_FIX) + header.data_offset
    with reading(name, "it is not a readable .npz archive", _NPZ_FIX):
        array = np.memmap(
            path,
            dtype=header.dtype,
            mode="r",
            offset=start,
            shape=header.shape,
            order="F" if header.fortran else "C",
        )
    return array, header.dtype.name


def member_data_start(f: BinaryIO, info: zipfile.ZipInfo, name: str, fix: str) -> int:
    """Where a zip member's bytes start in the file ``f``: after its local header, whose name
    and extra field (torch.save's alignment padding) may differ from the central directory's."""
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) < 30 or not local.startswith(ZIP_MAGIC):
        raise load_error(name, f"the member {info.filename!r} has a corrupt local header", fix)
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little")
    return start + int.from_bytes(local[28:30], "little")


_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError)
"""What zipfile raises for a bad CRC, a broken deflate stream, a stream that ends early."""


def _corruption_or(exc: LoadError, member: BinaryIO, info: zipfile.ZipInfo, name: str) -> LoadError:
    """``exc``, unless the member's stream is corrupt, which explains a nonsense header or data."""
    if isinstance(exc.__cause__, _CORRUPT):
        return _corrupt(name, info, exc.__cause__, _NPZ_FIX)
    _check_member(member, info, name)  # raises the corruption when there is one
    return exc


def _check_member(member: BinaryIO, info: zipfile.ZipInfo, name: str, fix: str = _NPZ_FIX) -> None:
    """Read the rest of a zip member, so that zipfile checks its CRC and its compressed stream
    (a piece at a time: memory stays bounded however large the member)."""
    try:
        while member.read(READ_PIECE):
            pass
    except _CORRUPT as exc:
        raise _corrupt(name, info, exc, fix) from exc


def check_members(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], name: str, fix: str
) -> None:
    """Read ``infos`` of ``archive`` to their ends: a bad CRC or stream is a LoadError."""
    for info in infos:
        with reading(name, f"the member {info.filename!r} cannot be read", fix):
            member = archive.open(info)
        with member:
            _check_member(member, info, name, fix)


def _corrupt(name: str, info: zipfile.ZipInfo, exc: BaseException, fix: str) -> LoadError:
    return load_error(name, f"the member {info.filename!r} is corrupt ({describe(exc)})", fix)
