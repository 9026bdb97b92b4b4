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

from smcheck.errors import ConfigError
from smcheck.report.phrases import plural
from smcheck.sources.rows import RowView
from smcheck.sources.validation import dims, load_error

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TargetIndices:
    """Class indices as read, not yet checked against the logits' rows (see :meth:`for_rows`)."""

    indices: np.ndarray
    """The values as stored (any shape and dtype)."""
    label: str
    """How the report names them: the file as given, or ``<array>``."""
    name: str = "<targets>"
    """The name error messages use (the loaded file's display name)."""

    def for_rows(self, view: RowView) -> IndexArray:
        """Flat int64 class indices, one per row of ``view``.

        The indices' shape must be the row space (every axis but ``--dim``) or the flat row
        count, size-1 axes aside; each must be an integer in 0..n-1.

        Raises:
            LoadError: the shape or the values do not fit the logits.
        """
        return _check_indices(self.indices, self.name, view)


def read_targets(spec: str | Path | Any) -> TargetIndices:
    """Read class indices from a file, or take them from an array, tensor or list.

    Files are read like logits files (``.npy``, ``.npz:key``, ``.pt:key``, ``.safetensors:key``,
    ``.csv``, ``.txt``, ``.json``); integers arrive as exact float64 below 2**53.

    Raises:
        LoadError: the file cannot be read.
    """
    from smcheck.sources.loaders import array_source, load_logits  # the loading stack, on demand

    if isinstance(spec, str) and spec.isidentifier() and not os.path.lexists(spec):
        raise ConfigError(
            f"unknown targets {spec!r}; use argmax, argmin or a file of class indices"
        )
    if isinstance(spec, (str, Path)):
        loaded, label = load_logits(str(spec), integers=True), str(spec)
    else:
        loaded, label = array_source(spec, "<targets>", integers=True), "<array>"
    return TargetIndices(np.asarray(loaded.array), label, loaded.name)


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _check_indices(a: np.ndarray, name: str, view: RowView) -> IndexArray:
    """Flat int64 class indices, one per row, or a LoadError naming the problem and the fix."""
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
        # floats beyond int64 are out of range anyway; clip so the cast itself is defined
        flat = np.clip(flat, -1, n).astype(np.int64)
    elif flat.dtype.kind in "iu":
        flat = np.clip(flat, -1, n).astype(np.int64)
    else:
        raise load_error(name, f"it holds {flat.dtype} values", "save integer class indices")
    out = (flat < 0) | (flat >= n)
    if out.any():
        i = int(np.argmax(out))
        v = a.reshape(-1)[i]  # as stored: an integer exactly, a float as the float it is
        hint = (
            " (ignore_index rows such as -100 are not supported: drop those rows)" if v < 0 else ""
        )
        raise load_error(
            name,
            f"class index {_show(v)} at {_where(i, a.shape)} is out of range for rows of "
            f"{plural(n, 'class', 'classes')}{hint}",
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
