"""Target class indices for the gradient check: read from a file or an array, fitted to the rows."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smcheck.errors import FLAGS, ConfigError, LoadError
from smcheck.report.phrases import plural
from smcheck.sources.rows import RowView
from smcheck.sources.validation import dims, load_error

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TargetIndices:
    """Class indices as read (non-negative integers, see :func:`read_targets`), not yet checked
    against the logits' rows (see :meth:`for_rows`)."""

    indices: np.ndarray
    """The values as stored (any shape, an integer or float dtype)."""
    label: str
    """How the report names them: the file as given, or ``<array>``."""
    name: str = "<targets>"
    """The name error messages use (the loaded file's display name)."""
    option: str = "--targets"
    """How an error about the file names the option that gave it (``targets='t.npy'`` from
    the API)."""

    def for_rows(self, view: RowView) -> IndexArray:
        """Flat int64 class indices, one per row of ``view``.

        The indices' shape must be the row space (every axis but ``--dim``) or the flat row
        count, size-1 axes aside; each must be below the row length n.

        Raises:
            LoadError: the shape or the values do not fit the logits; for a file, the message
                starts ``--targets:`` (the same file fails or fits each source in its turn).
        """
        try:
            return _fitted(self.indices, self.name, view)
        except LoadError as e:
            raise e if self.label == _ARRAY else _of_the_option(e, self.option) from None


_ARRAY = "<array>"
"""The label of indices given as an array (the API's), not a file."""


def read_targets(spec: str | Path | Any, spelling: str = FLAGS) -> TargetIndices:
    """Read class indices from a file, or take them from an array, tensor or list.

    Files are read like logits files (``.npy``, ``.npz:key``, ``.pt:key``, ``.safetensors:key``,
    ``.csv``, ``.txt``, ``.json``); integers arrive as exact float64 below 2**53. What is wrong
    with them whatever the logits (unreadable, several arrays, a value that is not a
    non-negative integer) is found here, once, not for each source.

    ``spelling`` names the option in a file's errors as the user gave it: ``--targets:``
    (smcheck.errors.FLAGS), ``targets='t.npy':`` (ARGUMENTS, the Python API).

    Raises:
        LoadError: the file cannot be read or holds no class indices; for a file, the message
            starts with the option.
    """
    from smcheck.sources.loaders import array_source, load_logits  # the loading stack, on demand

    if isinstance(spec, str) and spec.isidentifier() and not os.path.lexists(spec):
        raise ConfigError(
            f"unknown targets {spec!r}; use argmax, argmin or a file of class indices"
        )
    if not isinstance(spec, (str, Path)):
        loaded = array_source(spec, "<targets>", integers=True)
        return TargetIndices(_checked_values(np.asarray(loaded.array), loaded.name), _ARRAY)
    # the flag alone on the command line: the message quotes the file
    option = "--targets" if spelling == FLAGS else spelling.format("targets", repr(spec))
    try:
        loaded = load_logits(str(spec), integers=True)
        a = _checked_values(np.asarray(loaded.array), loaded.name)
    except LoadError as e:
        raise _of_the_option(e, option) from None  # wrong for every source: name it, once
    return TargetIndices(a, str(spec), loaded.name, option)


def _of_the_option(e: LoadError, option: str) -> LoadError:
    """``e`` as the targets option's error (check names a config file that set it)."""
    return LoadError(f"{option}: {e}", options=("targets",))


def _checked_values(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` when every value is a non-negative integer (stored as one or as a float), else a
    LoadError naming the first that is not and the fix."""
    flat = a.reshape(-1)
    if flat.dtype.kind not in "fiu":
        raise load_error(name, f"it holds {flat.dtype} values", "save integer class indices")
    if flat.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(flat) | (flat != np.floor(flat))
        if bad.any():
            i = int(np.argmax(bad))
            raise load_error(
                name,
                f"value {_show(flat[i])} at {_where(i, a.shape)} is not a class index",
                "save integer class indices, one per row",
            )
    negative = flat < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise load_error(
            name,
            f"class index {_show(flat[i])} at {_where(i, a.shape)} is negative "
            "(ignore_index rows such as -100 are not supported: drop those rows)",
            "use class indices from 0",
        )
    huge = flat >= 2**53 if flat.dtype.kind == "f" else ()  # float64 rounds integers past 2^53
    if np.any(huge):
        i = int(np.argmax(huge))
        raise load_error(
            name,
            f"class index {_show(flat[i])} at {_where(i, a.shape)} (as float64 reads it) is "
            "at or beyond 2^53, larger than any row",
            "use class indices below the row length",
        )
    return a


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _fitted(a: np.ndarray, name: str, view: RowView) -> IndexArray:
    """Flat int64 class indices, one per row, or a LoadError naming the problem and the fix;
    ``a`` holds non-negative integers (:func:`_checked_values`)."""
    rows, n = view.n_rows, view.row_length
    shape = _squeezed(a.shape)
    if shape not in (_squeezed(view.other_shape), _squeezed((rows,))):
        row_shape = dims(view.other_shape) if view.other_shape else "1"
        also = f" or {rows}" if _squeezed(view.other_shape) != _squeezed((rows,)) else ""
        raise load_error(
            name,
            f"it holds {a.size} class indices (shape {dims(a.shape)}) for "
            f"{plural(rows, 'row')} of logits (row shape {row_shape})",
            f"save one class index per row, shape {row_shape}{also}",
        )
    flat = a.reshape(-1)
    # values beyond int64 are out of range anyway; clip so the cast itself is defined
    flat = np.clip(flat, 0, n).astype(np.int64)
    out = flat >= n
    if out.any():
        i = int(np.argmax(out))
        v = a.reshape(-1)[i]  # as stored: an integer exactly, a float as the float it is
        raise load_error(
            name,
            f"class index {_show(v)} at {_where(i, a.shape)} is out of range for rows of "
            f"{plural(n, 'class', 'classes')}",
            f"use indices from 0 to {n - 1}",
        )
    return flat


def _show(v: Any) -> str:
    """A stored value in a message: an integer in digits, as an integer file's are, also when
    text or JSON stored it as a float (1e23 is 100000000000000000000000, not 1e+23; one too
    long for a sentence as written, 1e300); a fraction, inf and nan as the float they are."""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if math.isfinite(f) and f.is_integer():
        digits = str(int(Decimal(repr(f))))  # the shortest decimal that reads back as f
        return digits if len(digits) <= _MAX_DIGITS else repr(f).replace("e+", "e")
    return repr(f) if not math.isfinite(f) else f"{f:g}"


_MAX_DIGITS = 40
"""Longest integer written out in digits (as a bad token of text is cut at 40 characters)."""


def _where(i: int, shape: tuple[int, ...]) -> str:
    ix = np.unravel_index(i, shape)
    return "position [" + ",".join(str(int(k)) for k in ix) + "]"
