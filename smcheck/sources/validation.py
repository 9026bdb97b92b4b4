"""The array rules and one-line LoadError messages shared by every logits source reader."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from smcheck.errors import LoadError, load_error, several_tensors_error
from smcheck.sources.decoders import is_ml_dtype

_KIND_PROBLEMS = {
    "b": "a boolean array",
    "c": "a complex array",
    "U": "an array of strings",
    "S": "an array of byte strings",
    "V": "a structured (record) array",
    "M": "an array of datetimes",
    "m": "an array of timedeltas",
}


def describe(exc: BaseException) -> str:
    """An exception message squeezed onto one short line (its first sentence if long)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"<ast\.\w+ object at 0x[0-9a-fA-F]+>", "a non-literal expression", text)
    if len(text) > 160 and ". " in text:
        text = text.split(". ", 1)[0]
    return text if len(text) <= 160 else text[:157] + "..."


def os_reason(exc: BaseException) -> str:
    """An OSError's bare reason (``No such file or directory``), else the message itself."""
    return str(getattr(exc, "strerror", None) or exc)


@contextmanager
def reading(
    name: str,
    what: str,
    fix: str,
    *,
    errors: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    reason: Callable[[BaseException], str] = describe,
) -> Iterator[None]:
    """Turn ``errors`` raised inside the block into ``cannot load NAME: WHAT (REASON); FIX``.

    A :class:`LoadError` raised inside passes through unchanged: it already says what is wrong.

    Args:
        name: the source as the user named it.
        what: what failed, e.g. ``"it cannot be read"``; the reason is appended in brackets.
        fix: what the user can do about it.
        errors: the exception types to translate; anything else propagates.
        reason: renders the caught exception (default :func:`describe`).
    """
    try:
        yield
    except LoadError:
        raise
    except errors as exc:
        raise load_error(name, f"{what} ({reason(exc)})", fix) from exc


def dims(shape: tuple[int, ...]) -> str:
    """``4x10`` for a shape (``scalar`` for ``()``)."""
    return "x".join(map(str, shape)) or "scalar"


def refuse_objects(name: str, dtype: np.dtype) -> None:
    """Reject pickled Python objects (as early as a header names them: never read)."""
    if dtype.kind == "O" or dtype.hasobject:
        raise load_error(
            name,
            "it contains pickled Python objects, which smcheck never loads",
            "save a plain numeric array (logits as float32, class indices as int64) with "
            "numpy.save",
        )


SOURCE_KINDS = "give a path, a gen: spec, a numpy array, a torch tensor or nested lists of numbers"
"""What an in-memory source may be (smcheck.analyze's ``source``), as a message's fix."""


def held_numbers(obj: object, name: str) -> np.ndarray:
    """``np.asarray(obj)`` of the caller's ``obj``, refused when ragged or of Python objects
    (None, a dict: nothing was unpickled, so the message says what a source may be)."""
    try:
        array = np.asarray(obj)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise load_error(
            name,
            f"it is not a regular array of numbers ({describe(exc)})",
            "pass a numpy array, a torch tensor or regular nested lists",
        ) from exc
    if array.dtype.hasobject:
        if isinstance(obj, np.ndarray):
            got = "an array of Python objects"
        elif isinstance(obj, (list, tuple)):
            got = f"a {type(obj).__name__} holding objects other than numbers"
        else:
            got = "None" if obj is None else f"a {type(obj).__name__}"
        raise load_error(name, f"it is {got}, not an array of numbers", SOURCE_KINDS)
    return array


def check_dtype(name: str, dtype: np.dtype, integers: bool = False) -> None:
    """Reject dtypes that are not real numbers; pickled objects get their own message.
    ``integers``: the file holds class indices (targets), not logits."""
    refuse_objects(name, dtype)
    if dtype.kind in _KIND_PROBLEMS and not is_ml_dtype(dtype):
        raise load_error(
            name,
            f"it holds {_KIND_PROBLEMS[dtype.kind]} ({dtype}), not "
            + ("class indices" if integers else "real-valued logits"),
            "save integer class indices (int64), one per row"
            if integers
            else "save the logits as a float32 or float64 array",
        )


def check_shape(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Reject 0-d and empty arrays."""
    if not shape:
        raise load_error(
            name,
            "it holds a single number (a 0-d array), not a row of logits",
            "save at least one row, e.g. x.reshape(1, -1)",
        )
    if math.prod(shape) == 0:
        raise load_error(
            name, f"the array is empty (shape {dims(shape)} {dtype})", "save non-empty logits"
        )


def select_key(name: str, keys: list[str], key: str | None, what: str) -> str:
    """Pick ``key`` from a container's keys, or its only entry when no key is given."""
    if not keys:
        found = f", so there is no {key!r}" if key is not None else ""
        raise load_error(
            name, f"it holds no {what}s{found}", "check that it is the file with the logits"
        )
    if key is None:
        if len(keys) == 1:
            return keys[0]
        # standard input takes no key: the data must come as a file to name one
        how = (
            "save it to a file and pass 'FILE:KEY'"
            if name == "<stdin>"
            else "add one key as 'FILE:KEY'"
        )
        raise several_tensors_error(
            name, f"{len(keys)} {what}s", f"{how}, one of {_keys_hint(keys)}"
        )
    if key not in keys:
        raise load_error(name, f"there is no {what} {key!r}", f"use one of {_keys_hint(keys)}")
    return key


def _keys_hint(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:12])
    return shown + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")


def widened_note(source: str, array: np.ndarray) -> tuple[str, ...]:
    """The note for a 16- or 8-bit float format widened exactly to float32, if that happened."""
    if source != array.dtype.name and array.dtype == np.float32:
        return (f"{source} values widened exactly to float32",)
    return ()


def unique_keys(pairs: list[tuple[str, Any]], twice: Callable[[str], LoadError]) -> dict[str, Any]:
    """A JSON object (json's ``object_pairs_hook``), refused with ``twice(key)`` where a key
    repeats: json itself keeps the last value silently."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise twice(key)
        obj[key] = value
    return obj
