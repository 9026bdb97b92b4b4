"""What a file really is when its first bytes start another known format (an .npy named .json)."""

from __future__ import annotations

from typing import BinaryIO

from smcheck.sources.npyformat import NPY_MAGIC, ZIP_MAGIC
from smcheck.sources.validation import load_error, os_reason, reading

HEAD_BYTES = 4096
"""Bytes read to recognise a format: a zip's first member name follows a 30-byte header."""


def other_format(head: bytes) -> tuple[str, str, str] | None:
    """``(suffix, what it is, fix)`` of the known format ``head`` (a file's first
    :data:`HEAD_BYTES`) starts, else None: .npy, an .npz or torch.save zip, a pickle, safetensors.
    """
    if head.startswith(NPY_MAGIC):
        return ".npy", "an .npy array", "rename it to .npy"
    if head.startswith(ZIP_MAGIC):
        first = head[30 : 30 + int.from_bytes(head[26:28], "little")]  # the first member's name
        if first.endswith(b"data.pkl"):
            return ".pt", "a PyTorch file (torch.save's zip archive)", "rename it to .pt"
        if first.endswith(b".npy"):
            return ".npz", "an .npz archive", "rename it to .npz"
        return ".zip", "a zip archive", "unzip it, or save the logits with numpy.save"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ".pt", "a Python pickle", "rename it to .pt if torch.save wrote it"
    # an 8-byte header length the file holds, then a JSON object: a safetensors header
    if head[8:10] == b'{"' and int.from_bytes(head[:8], "little") < 2**32:
        return ".safetensors", "a safetensors file", "rename it to .safetensors"
    return None


def refuse_other(f: BinaryIO, name: str, expected: str, suffixes: tuple[str, ...]) -> None:
    """Refuse a file (read from its start, then rewound) whose bytes are another known format
    than ``expected`` (e.g. ``"text"``): its reader would blame bytes it was never meant for."""
    with reading(name, "it cannot be read", "check the file", errors=OSError, reason=os_reason):
        head = f.read(HEAD_BYTES)
        f.seek(0)
    refuse_head(head, name, expected, suffixes)


def refuse_head(head: bytes, name: str, expected: str, suffixes: tuple[str, ...]) -> None:
    """:func:`refuse_other` of bytes already read; formats ending in ``suffixes`` pass."""
    kind = other_format(head)
    if kind is not None and kind[0] not in suffixes:
        raise load_error(name, f"it is {kind[1]}, not {expected}", kind[2])
