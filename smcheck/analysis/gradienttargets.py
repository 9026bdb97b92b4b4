"""Target classes for the cross-entropy gradient check: argmax, argmin, or class indices given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smcheck.config import TARGET_RULES
from smcheck.sources.rows import RowView
from smcheck.sources.targets import IndexArray, TargetIndices


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
        masked = x == -np.inf if skip is None else (x == -np.inf) | skip
        return np.argmin(np.where(masked, np.inf, x), axis=-1).astype(np.int64)


def resolve_targets(spec: str | TargetIndices, view: RowView) -> Targets:
    """Targets for the rows of ``view`` from ``argmax``, ``argmin`` or indices already read.

    Files and arrays are read before the analysis (smcheck.sources.targets.read_targets).

    Raises:
        LoadError: the indices' shape or values do not fit the logits.
        TypeError: ``spec`` is neither a rule nor TargetIndices.
    """
    if isinstance(spec, str) and spec in TARGET_RULES:
        return Targets(label=spec, rule=spec)
    if isinstance(spec, TargetIndices):
        return Targets(label=spec.label, indices=spec.for_rows(view))
    raise TypeError(f"targets must be argmax, argmin or TargetIndices, not {spec!r}")
