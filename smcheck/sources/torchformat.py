"""Read .pt/.pth logits with torch.load(weights_only=True): tensors only, never arbitrary code."""

from __future__ import annotations

import codecs
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smcheck.errors import LoadError
from smcheck.report.phrases import plural
from smcheck.sources import decoders
from smcheck.sources.decoders import Decoder
from smcheck.sources.readlimits import ReadLimit
from smcheck.sources.validation import describe, dims, load_error, reading, select_key

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
        return tensor_to_numpy(obj, name, limit)
    tensors = _collect_tensors(obj, "", 0, name)
    if not tensors:
        raise load_error(
            name,
            f"it holds a {type(obj).__name__} without tensors",
            "save the logits with torch.save(tensor, path)",
        )
    return tensor_to_numpy(tensors[select_key(name, list(tensors), key, "tensor")], name, limit)


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
            head = f.read(64)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    fix = "save the logits with torch.save(tensor, path)"
    if head.startswith(b"\x93NUMPY"):
        what, fix = "an .npy array", "rename it to .npy"
    elif head[8:10] == b'{"':
        what, fix = "a safetensors file", "rename it to .safetensors"
    elif not head:
        what = "empty"
    else:
        try:  # incremental: a character cut at byte 64 is not a decoding error
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
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
            t.numel() * t.element_size(),
        )
    if t.is_floating_point() and t.element_size() < 4 and t.dtype != torch.float16:
        # bfloat16 and the float8 formats are subsets of float32: widening is exact
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), source, (), decoders.bfloat16()
        return t.view(torch.uint8).numpy(), source, (), decoders.float8(source)
    try:
        return t.numpy(), source, (), None
    except TypeError as exc:
        raise load_error(
            name,
            f"its tensor has dtype {source}, which smcheck does not read",
            "convert it with t.float()",
        ) from exc


def _span(t: torch.Tensor) -> int:
    """Elements from the first to the last one the view touches in its storage."""
    return 1 + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride(), strict=True) if n > 0)
