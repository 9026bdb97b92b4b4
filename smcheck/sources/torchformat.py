"""Read .pt/.pth logits with torch.load(weights_only=True): tensors only, never arbitrary code."""

from __future__ import annotations

import codecs
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.errors import LoadError
from smcheck.report.phrases import plural
from smcheck.sources import decoders, filekinds, npyformat
from smcheck.sources.decoders import Decoder
from smcheck.sources.readlimits import ReadLimit
from smcheck.sources.validation import (
    check_dtype,
    describe,
    dims,
    load_error,
    reading,
    select_key,
)

if TYPE_CHECKING:
    import torch

_MAX_DEPTH = 32


def read_torch(
    path: Path, name: str, key: str | None, limit: ReadLimit
) -> tuple[np.ndarray, str, tuple[str, ...], Decoder | None]:
    """One tensor of a saved tensor, dict (state_dict) or list; nested keys are dotted paths."""
    _check_container(path, name)  # before importing torch: a text file needs no torch
    import torch

    obj = _torch_load(path, name)
    if isinstance(obj, torch.Tensor):
        if key is not None:
            raise load_error(
                name,
                f"it holds a single tensor, so the key {key!r} does not apply",
                f"drop ':{key}'",
            )
        tensors = {"": obj}
    else:
        tensors = _collect_tensors(obj, "", 0, name)
    if not tensors:
        raise load_error(
            name,
            f"it holds a {type(obj).__name__} without tensors",
            "save the logits with torch.save(tensor, path)",
        )
    chosen = tensors[select_key(name, list(tensors), key, "tensor")]
    read = tensor_to_numpy(chosen, name, limit)  # its refusals first: a sparse one has no storage
    _check_crc(path, name, chosen, list(tensors.values()))
    return read


_TORCH_FIX = "re-save it with torch.save"


def _check_crc(path: Path, name: str, chosen: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    """Check the CRC of the archive member holding ``chosen``'s storage, which torch.load
    (memory-mapped) never does: a flipped bit would otherwise read as a wrong value.

    Memory-mapped, every storage lies at one base address plus its member's offset in the file:
    the base that puts each storage on a member of its size names ``chosen``'s member (every
    data member is read when no base fits, as for a checkpoint not written by torch.save).
    """
    if chosen.untyped_storage().nbytes() == 0 or not zipfile.is_zipfile(path):
        return  # nothing to read, or a legacy (pickle) checkpoint: it has no CRC
    storages = {s.data_ptr(): s.nbytes() for s in map(_storage, tensors) if s and s.nbytes()}
    with (
        reading(name, "its zip archive cannot be read", _TORCH_FIX),
        zipfile.ZipFile(path) as archive,
        open(path, "rb") as f,
    ):
        data = [i for i in archive.infolist() if PurePosixPath(i.filename).parent.name == "data"]
        at = {npyformat.member_data_start(f, i, name, _TORCH_FIX): i for i in data}
        for start in sorted(at):
            base = min(storages) - start
            if all(
                (m := at.get(ptr - base)) is not None and m.file_size == n
                for ptr, n in storages.items()
            ):
                data = [at[chosen.untyped_storage().data_ptr() - base]]
                break
        npyformat.check_members(archive, data, name, _TORCH_FIX)


def _storage(t: torch.Tensor) -> torch.UntypedStorage | None:
    """The storage of a strided tensor; None for a sparse or nested one, which have several."""
    try:
        return t.untyped_storage()
    except (NotImplementedError, RuntimeError):
        return None


def _torch_load(path: Path, name: str) -> Any:
    """``torch.load`` restricted to tensors and plain containers; refusals become LoadError."""
    import torch

    with reading(name, "it is not a readable PyTorch file", "re-save it with torch.save"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's pickle-protocol notes are not the user's
                try:
                    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as exc:
                    if "mmap can only be used" not in str(exc):
                        raise
                    # legacy (non-zip) checkpoints cannot be memory-mapped; still weights-only
                    return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise _unpickling_error(name, exc) from exc


def _check_container(path: Path, name: str) -> None:
    """Refuse a file that is neither a zip archive (torch.save) nor a pickle (its legacy format).

    torch's own errors for these say ``(101)`` (a KeyError on a text file's first byte) or blame
    pickled objects; the file's first bytes say what it really is.
    """
    with reading(name, "it cannot be read", "check the file's permissions", errors=OSError):
        with open(path, "rb") as f:
            head = f.read(filekinds.HEAD_BYTES)
    kind = filekinds.other_format(head)
    if kind is not None and kind[0] in (".pt", ".zip"):  # torch.save's zip, legacy pickles
        return
    fix = "save the logits with torch.save(tensor, path)"
    if kind is not None:
        what, fix = kind[1:]
    elif not head:
        what = "empty"
    else:
        try:  # incremental: a character cut at byte 64 is not a decoding error
            text = codecs.getincrementaldecoder("utf-8")().decode(head[:64], final=False)
            lines = text.strip().splitlines()
            what = f"text starting {lines[0][:24]!r}" if lines else "blank text"
        except UnicodeDecodeError:
            what = f"binary data starting {head[:8].hex(' ')}"
    raise load_error(
        name, f"it is not a PyTorch file (torch.save writes a zip archive); it is {what}", fix
    )


def _unpickling_error(name: str, exc: pickle.UnpicklingError) -> LoadError:
    """The LoadError for a pickle that ``weights_only`` refused (or could not parse)."""
    fix = "save only tensors, e.g. torch.save({'logits': t}, path)"
    if "Weights only load failed" not in str(exc):
        return load_error(name, f"it is not a readable PyTorch file ({describe(exc)})", fix)
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    what = f" ({found.group(1)})" if found else ""
    return load_error(
        name,
        f"it contains pickled Python objects{what} that are not tensors, "
        "which smcheck never loads because unpickling them can run code",
        fix,
    )


def _collect_tensors(obj: object, prefix: str, depth: int, name: str) -> dict[str, torch.Tensor]:
    """Tensors in nested dicts/lists keyed by dotted path (``model.fc.weight``, ``0``); two
    paths that read the same (``{"a.b": t}`` and ``{"a": {"b": u}}``) are ambiguous."""
    import torch

    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if depth > _MAX_DEPTH:
        return {}
    items: list[tuple[object, object]] = []
    if isinstance(obj, Mapping):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        items = list(enumerate(obj))
    found: dict[str, torch.Tensor] = {}
    for k, v in items:
        for path, t in _collect_tensors(
            v, f"{prefix}.{k}" if prefix else str(k), depth + 1, name
        ).items():
            if path in found:
                raise load_error(
                    name,
                    f"two of its tensors have the key {path!r} (one nested, one dotted)",
                    "save them under distinct keys",
                )
            found[path] = t
    return found


def tensor_to_numpy(
    t: torch.Tensor, name: str, limit: ReadLimit | None
) -> tuple[np.ndarray, str, tuple[str, ...], Decoder | None]:
    """(stored array, source dtype, notes, decoder) of a dense tensor, sharing its storage.

    16/8-bit non-IEEE floats are kept as their raw bits and widened a chunk at a time. A view
    whose elements overlap (``expand``: stride 0) describes more values than its storage holds;
    above ``limit`` it is refused (None: read through its storage however large it looks).
    """
    import torch

    source = str(t.dtype).removeprefix("torch.")
    if t.is_nested:  # strided, but rows of different lengths: no array of rows
        raise load_error(
            name,
            "it holds a nested tensor (rows of different lengths)",
            "save t.to_padded_tensor(float('-inf')) instead (the padding then reads as masks)",
        )
    if t.layout != torch.strided:
        raise load_error(
            name,
            f"it holds a {str(t.layout).removeprefix('torch.')} tensor",
            "save t.to_dense() instead",
        )
    if t.is_quantized:
        raise load_error(
            name, f"it holds a quantized {source} tensor", "save t.dequantize() instead"
        )
    if t.is_meta:
        raise load_error(
            name,
            f"it holds a meta-device tensor ({dims(tuple(t.shape))} {source}): a shape "
            "without values",
            "save the tensor from a real device, e.g. torch.save(t.cpu(), path)",
        )
    t = t.detach().cpu()
    if limit is not None and t.numel() > _span(t):  # some elements share memory
        limit.check(
            name,
            f"values in a {dims(tuple(t.shape))} view of only {plural(_span(t), 'stored element')}"
            " (stride 0 or overlapping)",
            _nbytes(t),
        )
    if t.is_neg():  # a lazy negation (the .imag of a t.conj()): numpy() and view() refuse it
        if limit is not None:
            limit.check(name, "values of a negated view (copied to read them)", _nbytes(t))
        with reading(  # torch negates no float8 format: such a view has no values to read
            name,
            f"its negated {source} view cannot be read",
            "save the values negated in a wider format, e.g. -t.float()",
            errors=(NotImplementedError, RuntimeError),
        ):
            t = t.resolve_neg()  # exact: a sign flip
    if t.is_floating_point() and t.element_size() < 4 and t.dtype != torch.float16:
        # bfloat16 and the float8 formats are subsets of float32: widening is exact
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), source, (), decoders.bfloat16()
        return t.view(torch.uint8).numpy(), source, (), decoders.float8(source)
    try:
        if t.is_conj():  # a lazy t.conj(), only of complex tensors: refused as any complex array,
            check_dtype(name, t.conj().numpy().dtype)  # conj() dropping the bit without a copy
        return t.numpy(), source, (), None
    except TypeError as exc:
        raise load_error(
            name,
            f"its tensor has dtype {source}, which smcheck does not read",
            "convert it with t.float()",
        ) from exc


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _span(t: torch.Tensor) -> int:
    """Elements from the first to the last one the view touches in its storage."""
    return 1 + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride(), strict=True) if n > 0)
