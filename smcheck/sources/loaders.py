"""Load logits from files, stdin, literal values, generators and in-memory arrays."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from smcheck.config import DEFAULT_MEMORY_BUDGET
from smcheck.errors import FLAGS, ConfigError
from smcheck.sources import filekinds, npyformat, safetensors, textformats
from smcheck.sources.decoders import Decoder, for_stored, rounded_note
from smcheck.sources.generators import generate_logits, parse_generator_spec
from smcheck.sources.readlimits import (
    JSON_BYTES_PER_BYTE,
    TEXT_BYTES_PER_BYTE,
    ReadLimit,
    human_bytes,
)
from smcheck.sources.validation import (
    check_dtype,
    check_shape,
    describe,
    held_numbers,
    load_error,
    os_reason,
    reading,
    select_key,
)

_KEYED = frozenset({".npz", ".pt", ".pth", ".safetensors", ".json"})

_Raw = tuple[np.ndarray, str, tuple[str, ...], Decoder | None]
"""What a format reader returns: the stored array, its source dtype name, notes, its decoder."""


@dataclass(frozen=True)
class LoadedArray:
    """Logits read from one source, ready for analysis."""

    name: str
    """Display name: the path as given (plus ``:key``), ``<stdin>``, ``<values>`` or a gen spec."""
    stored: np.ndarray
    """The values as stored, read-only; a ``np.memmap`` for ``.npy`` and safetensors files."""
    source_dtype: str
    """The stored dtype: ``float16``, ``bfloat16``, ``float32``, ``float64`` or e.g. ``int64``."""
    notes: tuple[str, ...] = ()
    """Conversions applied on loading, e.g. ``"integer array (int64) converted to float64"``."""
    decoder: Decoder | None = None
    """Converts any slice of ``stored`` to float16/32/64 (int8 to float64, bfloat16 bits to
    float32, ...); None when ``stored`` already is. The analysis decodes a chunk at a time."""

    def notes_read(self, rounded: int) -> list[str]:
        """The notes, the decoder's naming the ``rounded`` values its decoding changed
        (:attr:`RowView.rounded <smcheck.sources.rows.RowView.rounded>`, known once read)."""
        own = self.decoder.note if self.decoder is not None else None
        return [rounded_note(n, rounded) if n == own else n for n in self.notes]

    @property
    def array(self) -> np.ndarray:
        """float16, float32 or float64, read-only: ``stored``, or the whole of it decoded (a copy
        as large as the decoded array: the analysis reads ``stored`` chunk by chunk instead)."""
        if self.decoder is None:
            return self.stored
        out = self.decoder(self.stored)
        out.flags.writeable = False
        return out


def load_logits(
    spec: str | os.PathLike[str],
    *,
    stdin: BinaryIO | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    integers: bool = False,
    spelling: str = FLAGS,
) -> LoadedArray:
    """Load logits from a file, ``-`` (stdin) or a ``gen:NAME[:k=v,...]`` generator spec.

    Args:
        spec: ``path[.npy|.npz|.pt|.pth|.safetensors|.csv|.txt|.json]`` (or an ``os.PathLike``),
            then ``:key`` to pick an array from an npz/pt/safetensors/json container; ``-``
            for stdin (npy, npz, JSON or CSV bytes); or ``gen:NAME[:k=v,...]``.
        stdin: the stream read for ``-`` (default ``sys.stdin.buffer``).
        memory_budget: bytes; a source held whole in memory (stdin, text, JSON, a compressed
            .npz member, a generated array) that would cost more is refused before it is read
            (:mod:`smcheck.sources.readlimits`).
        integers: keep an integer file's dtype (class indices), not convert it to float64.
        spelling: how a refusal names the memory budget: ``--memory-budget`` in MiB
            (smcheck.errors.FLAGS) or ``memory_budget=`` in bytes (ARGUMENTS, the API).

    Returns:
        The array with its display name, source dtype and conversion notes. Files are never
        unpickled, executed or opened for writing.

    Raises:
        LoadError: one sentence naming the source, the problem and the fix.
        ConfigError: a malformed ``gen:`` spec.
    """
    limit = ReadLimit(memory_budget, spelling)
    spec = os.fsdecode(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(spec, str):  # smcheck.load_logits(array): not '5'.startswith's error
        raise ConfigError(
            f"load_logits takes a path or a gen: spec, not a {type(spec).__name__}; "
            "smcheck.analyze takes arrays and tensors too"
        )
    if spec == "-":
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        return _load_stdin(stream, limit)
    if spec.startswith("gen:"):
        try:
            name, params = parse_generator_spec(spec)
            array = generate_logits(name, memory_budget=limit, **params)  # type: ignore[arg-type]
        except ConfigError as e:  # name the spec, as a file's errors name the file
            message = str(e) if spec in str(e) else f"{spec}: {e}"
            raise ConfigError(message, options=e.options) from None
        return _finish(spec, array, array.dtype.name, ())
    path_text, key = split_key(spec)
    display = spec if key is not None else path_text
    path = Path(path_text)
    suffix = _check_file(path, display)
    if key is not None and suffix not in _KEYED:
        raise load_error(
            display,
            f"a {suffix} file holds one array, so the key {key!r} does not apply",
            f"drop ':{key}'",
        )
    return _finish(display, *_READERS[suffix](path, display, key, limit), integers=integers)


def parse_values(text: str) -> LoadedArray:
    """Parse a literal like ``"-999,1,2,5,6"`` (rows separated by ``;``) into float64 logits.

    Tokens may be separated by commas or whitespace and may be ``inf``, ``-inf``, ``nan`` or use
    exponents (``1e8``). One row gives a 1-d array, several rows (or a ``;``) a 2-d one; ragged
    rows raise :class:`LoadError`.
    """
    array, notes = textformats.parse_values_text(text, "<values>")
    return _finish("<values>", array, "float64", notes)


_DLPACK_FIX = "pass numpy.asarray(x) or a torch tensor instead"


def array_source(obj: Any, name: str | None = None, integers: bool = False) -> LoadedArray:
    """Wrap an in-memory array with the same rules as files: a numpy array (ml_dtypes bfloat16
    and float8 included), a torch tensor, any ``__dlpack__`` object (JAX, CuPy: through
    ``torch.from_dlpack``), any ``__array__`` object (TensorFlow) or nested lists.

    The caller's array is not copied when numpy or torch can share its memory, never modified,
    and analysed with its own format as the source dtype (bfloat16 is widened chunk by chunk).
    """
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    tensor = torch is not None and isinstance(obj, torch.Tensor)
    if not tensor and not isinstance(obj, np.ndarray) and hasattr(obj, "__dlpack__"):
        import torch  # DLPack carries bfloat16 and float8, which __array__ may not

        with reading(name or "<array>", "its DLPack capsule cannot be read", _DLPACK_FIX):
            obj = torch.from_dlpack(obj)
    if torch is not None and isinstance(obj, torch.Tensor):
        from smcheck.sources.torchformat import tensor_to_numpy

        label = name or "<tensor>"
        return _finish(label, *tensor_to_numpy(obj, label, None), integers=integers)
    name = name or "<array>"
    array = held_numbers(obj, name)
    return _finish(name, array, array.dtype.name, (), integers=integers)


# ---------------------------------------------------------------------------- sources and checks


def split_key(spec: str) -> tuple[str, str | None]:
    """Split ``file.ext:key`` where ``file.ext`` is an existing file with a known extension."""
    if ":" not in spec or os.path.lexists(spec):
        return spec, None
    heads = [i for i, ch in enumerate(spec) if ch == ":" and _suffix(spec[:i]) in _READERS]
    for i in heads:  # the first existing file wins, so keys may themselves contain ':'
        if os.path.isfile(spec[:i]):
            return spec[:i], spec[i + 1 :] or None
    if heads:  # no such file either way: name the file part in the "missing" error
        return spec[: heads[0]], spec[heads[0] + 1 :] or None
    return spec, None


def _suffix(path_text: str) -> str:
    return os.path.splitext(path_text)[1].lower()


def _check_file(path: Path, name: str) -> str:
    """Return the lower-case suffix of a readable regular file with a known extension."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise load_error(name, "no such file", "check the path") from exc
    except (OSError, ValueError) as exc:
        raise load_error(
            name, f"it cannot be accessed ({describe(exc)})", "check the path"
        ) from exc
    if stat.S_ISDIR(st.st_mode):
        raise load_error(name, "it is a directory", "give the path of a logits file inside it")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device could block or never end
        raise load_error(name, "it is not a regular file", "save the logits to a file first")
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise load_error(
            name,
            f"unknown file type {suffix or '(no extension)'!r}",
            f"use one of {', '.join(EXTENSIONS)} ('-' for stdin, gen:NAME for synthetic)",
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise load_error(
            name, f"it cannot be read ({exc.strerror or exc})", "check the file's permissions"
        ) from exc
    return suffix


def _finish(
    name: str,
    array: np.ndarray,
    source: str,
    notes: tuple[str, ...],
    decoder: Decoder | None = None,
    integers: bool = False,
) -> LoadedArray:
    """Apply the common array rules and return a read-only result (decoded chunk by chunk)."""
    check_dtype(name, array.dtype, integers)
    check_shape(name, array.shape, array.dtype)
    if array.dtype.kind in "iu" and integers:
        decoder = None  # class indices: compared as integers, shown exactly (a uint64 > 2**53 too)
    else:
        decoder = decoder or for_stored(array.dtype, source, name)
    if decoder is not None and decoder.note:
        notes += (decoder.note,)
    if array.flags.writeable:
        array = array.view()  # flag a view, not the caller's array
        array.flags.writeable = False  # the analysis must never write into the logits
    return LoadedArray(name=name, stored=array, source_dtype=source, notes=notes, decoder=decoder)


# ------------------------------------------------------------------------------- format readers


def _read_npy(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    return (*npyformat.read_npy(path, name), (), None)


def _read_npz(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    return (*npyformat.read_npz(path, name, key, limit), (), None)


def _read_safetensors(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    header = safetensors.read_header(path, name)
    if key is None and header.is_capture:  # its rows mean something only with their sites
        raise load_error(
            name,
            "it is a capture of softmax sites (smcheck capture --save), not one array of logits",
            f"analyse every site with 'smcheck analyze {name}' (--fail-on fail to fail on "
            f"them), or read one site's rows as '{name}:{next(iter(header.tensors), 'KEY')}'",
        )
    entry = header.tensors[select_key(name, list(header.tensors), key, "tensor")]
    try:
        array, source, decoder = safetensors.map_tensor(path, header, entry, name)
    except (OSError, ValueError) as exc:
        raise load_error(
            name,
            f"its data cannot be mapped ({describe(exc)})",
            "re-save it with safetensors.torch.save_file",
        ) from exc
    return array, source, (), decoder


def _read_torch(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    from smcheck.sources.torchformat import read_torch  # imports torch: only when a .pt is read

    return read_torch(path, name, key, limit)


def _read_text(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    with _opened(path, name) as f:  # parsed a line at a time: the text is never held whole
        limit.check(name, "text", os.fstat(f.fileno()).st_size, TEXT_BYTES_PER_BYTE)
        with reading(name, "it cannot be read", "check the file", errors=OSError, reason=os_reason):
            array, notes = textformats.parse_table(f, name)
    return array, "float64", notes, None


def _read_json(path: Path, name: str, key: str | None, limit: ReadLimit) -> _Raw:
    with _opened(path, name) as f:
        limit.check(name, "JSON", os.fstat(f.fileno()).st_size, JSON_BYTES_PER_BYTE)
        with reading(name, "it cannot be read", "check the file", errors=OSError, reason=os_reason):
            text = textformats.decode(f.read(), name)
    array, notes = textformats.parse_json(text, name, key)
    return array, "float64", notes, None


@contextlib.contextmanager
def _opened(path: Path, name: str) -> Iterator[BinaryIO]:
    try:
        f = open(path, "rb")  # noqa: SIM115  # closed below
    except OSError as exc:
        raise load_error(
            name, f"it cannot be read ({exc.strerror or exc})", "check the file's permissions"
        ) from exc
    with f:
        filekinds.refuse_other(f, name, "text", ())  # an .npy renamed .json: say what it is
        yield f


STDIN_PIECE = 2**20
"""Bytes read from standard input at a time, so an endless stream stops at the limit."""


def _read_stdin(stream: BinaryIO, limit: ReadLimit) -> bytearray:
    """Everything on ``stream``, refused once it passes the memory budget (pipes may not end)."""
    name = "<stdin>"
    data = bytearray()
    with reading(
        name, "it cannot be read", "pipe a file into smcheck", errors=(OSError, ValueError)
    ):
        while piece := stream.read(min(STDIN_PIECE, limit.budget + 1 - len(data))):
            data += piece.encode("utf-8") if isinstance(piece, str) else piece  # a text stream
            if len(data) > limit.budget:
                raise load_error(
                    name,
                    f"more than {human_bytes(limit.budget)} arrived, the most {limit.named()} "
                    "lets standard input hold",
                    "save the logits to a file and pass it by name (.npy files are "
                    f"memory-mapped), or {limit.raise_it()}",
                    options=("memory_budget",),
                )
    return data


_FIRST_BYTE = re.compile(rb"(?:\xef\xbb\xbf)?\s*(\S)")
"""The first byte of text after a UTF-8 byte-order mark and white space."""


def _load_stdin(stream: BinaryIO | None, limit: ReadLimit) -> LoadedArray:
    name = "<stdin>"
    if stream is None:  # sys.stdin is None when the shell closed it (<&-)
        raise load_error(name, "standard input is closed", "pipe the logits in, e.g. < logits.npy")
    data = _read_stdin(stream, limit)
    first = _FIRST_BYTE.match(data)  # not data.strip(): that would copy what may be 512 MiB
    if first is None:
        raise load_error(name, "no data arrived", "pipe .npy, JSON or CSV data, e.g. < logits.npy")
    if data.startswith(npyformat.NPY_MAGIC):
        array, source = npyformat.read_npy_stream(
            io.BytesIO(data), name, len(data), "pipe the bytes of numpy.save"
        )
        return _finish(name, array, source, ())
    by_name = "pipe the bytes of numpy.save, or pass the file by name"
    if data.startswith(npyformat.ZIP_MAGIC):
        if b"data.pkl" in data[:4096]:  # torch.save's zip: its first member is .../data.pkl
            raise load_error(name, "it is a PyTorch checkpoint, read only from a .pt file", by_name)
        return _finish(name, *npyformat.read_npz(io.BytesIO(data), name, None, limit), ())
    if data[:1] == b"\x80":  # pickle protocol 2+ (torch.save's legacy format too)
        raise load_error(name, "it is a Python pickle, and smcheck never loads pickles", by_name)
    if data[8:10] == b'{"' and int.from_bytes(data[:8], "little") <= len(data) - 8:
        raise load_error(name, "it is a safetensors file, read only by name", by_name)
    if first.group(1) in (b"[", b"{"):
        limit.check(name, "JSON", len(data), JSON_BYTES_PER_BYTE)
        text = textformats.decode(data, name)
        del data
        array, notes = textformats.parse_json(text, name, None)
        return _finish(name, array, "float64", notes)
    limit.check(name, "text", len(data), TEXT_BYTES_PER_BYTE)
    array, notes = textformats.parse_table(io.BytesIO(data), name)
    return _finish(name, array, "float64", notes)


_READERS: dict[str, Callable[[Path, str, str | None, ReadLimit], _Raw]] = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".pt": _read_torch,
    ".pth": _read_torch,
    ".safetensors": _read_safetensors,
    ".csv": _read_text,
    ".txt": _read_text,
    ".json": _read_json,
}
EXTENSIONS: tuple[str, ...] = tuple(_READERS)
"""File types :func:`load_logits` reads (matched case-insensitively)."""
