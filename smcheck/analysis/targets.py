"""Target classes for the cross-entropy gradient check: argmax, argmin, or class indices given."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smcheck.errors import ConfigError
from smcheck.sources.loaders import array_source, load_logits
from smcheck.sources.rows import RowView
from smcheck.sources.validation import dims, load_error

RULES: tuple[str, ...] = ("argmax", "argmin")
"""Targets chosen from each row itself: the confident case and the confidently-wrong case."""

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Targets:
    """One target class per row of the flattened row space."""

    label: str
    """How the targets were chosen: ``argmax``, ``argmin``, the file as given, or ``<array>``."""
    rule: str | None = None
    """``argmax`` or ``argmin`` when chosen from the rows; None when indices were given."""
    indices: IndexArray | None = None
    """Given class indices, one per flat row (C order of the row space)."""

    def rows(
        self, x: npt.NDArray[np.floating], start: int, skip: npt.NDArray[np.bool_] | None = None
    ) -> IndexArray:
        """Targets of rows ``start .. start + len(x)``; ``x`` is the analysed (exact) input block.

        ``skip`` marks entries that are masks although finite (sentinels such as -1e9): argmin
        passes over them as over -inf. Rows with NaN or +inf are left out of the gradient
        metrics, so their target is moot.
        """
        if self.indices is not None:
            return self.indices[start : start + x.shape[0]]
        if self.rule == "argmax":
            return np.argmax(x, axis=-1).astype(np.int64)
        # a mask is not a class: the smallest unmasked logit is the confidently-wrong answer
        masked = np.isneginf(x) if skip is None else np.isneginf(x) | skip
        return np.argmin(np.where(masked, np.inf, x), axis=-1).astype(np.int64)


def normalise_targets(spec: Any) -> Any:
    """``argmax``/``argmin`` in canonical spelling; anything else (path, array) unchanged."""
    if spec is None:
        return "argmax"
    if isinstance(spec, str):
        if not spec.strip():
            raise ConfigError("empty targets; use argmax, argmin or a file of class indices")
        if spec.strip().lower() in RULES:
            return spec.strip().lower()
    return spec


def resolve_targets(spec: Any, view: RowView) -> Targets:
    """Targets for the rows of ``view`` from ``argmax``, ``argmin``, a file or an index array.

    Files are read like logits files (``.npy``, ``.npz:key``, ``.pt:key``, ``.safetensors:key``,
    ``.csv``, ``.txt``, ``.json``). The indices' shape must be the row space (every axis but
    ``--dim``) or the flat row count, size-1 axes aside; each must be an integer in 0..n-1.

    Raises:
        LoadError: the file cannot be read, or its shape or values do not fit the logits.
    """
    spec = normalise_targets(spec)
    if isinstance(spec, str) and spec in RULES:
        return Targets(label=spec, rule=spec)
    if isinstance(spec, (str, Path)):
        loaded, label = load_logits(str(spec)), str(spec)
    else:  # a numpy array, torch tensor or list (integers arrive as exact float64 below 2**53)
        loaded, label = array_source(spec, "<targets>"), "<array>"
    raw = np.asarray(loaded.array)
    return Targets(label=label, indices=_check_indices(raw, loaded.name, view))


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
            f"it holds {a.size} class indices (shape {dims(a.shape)}) for {rows} row"
            f"{'s' if rows != 1 else ''} of logits (row shape {row_shape})",
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
        v = int(a.reshape(-1)[i])
        hint = (
            " (ignore_index rows such as -100 are not supported: drop those rows)" if v < 0 else ""
        )
        raise load_error(
            name,
            f"class index {v} at {_where(i, a.shape)} is out of range for rows of {n} "
            f"class{'es' if n != 1 else ''}{hint}",
            f"use indices from 0 to {n - 1}",
        )
    return flat


def _show(v: Any) -> str:
    f = float(v)
    return repr(f) if not math.isfinite(f) else f"{f:g}"


def _where(i: int, shape: tuple[int, ...]) -> str:
    ix = np.unravel_index(i, shape)
    return "position [" + ",".join(str(int(k)) for k in ix) + "]"
