"""What the softmax of a source feeds (``--use``), and ``auto``'s choice before the analysis runs.

The use decides what a verdict judges (docs/design.md §4) and whether gradients are computed, so
``auto`` is resolved by a pre-scan of the source: a cheap min per chunk, and the sentinel
classification only for chunks that hold a value as low as a known mask value.
"""

from __future__ import annotations

import numpy as np

from smcheck.analysis.sentinels import KNOWN_SENTINELS, NEAR, classify
from smcheck.config import AnalysisConfig
from smcheck.sources.chunks import chunk_bounds
from smcheck.sources.rows import RowView

_KNOWN = np.array([s for s, _ in KNOWN_SENTINELS])
_LOWEST_LOGIT = float(_KNOWN.max()) * (1 - NEAR)
"""Values above this are no known mask sentinel (sentinels.classify looks no higher)."""

AUTO_MASKED = "probs"
AUTO_PLAIN = "loss"
GIVEN = "given"
"""Why a use that is not auto: given by an option, an API argument or a config file, which the
analysis cannot tell apart (``check`` names its config file where that set it)."""


def resolve_use(view: RowView, cfg: AnalysisConfig, rows: int) -> tuple[str, str]:
    """The use of one source and why: ``--use`` as given, or what ``auto`` saw in it.

    Args:
        view: the source's rows.
        cfg: the analysis (``cfg.use`` and ``cfg.softmin`` are read).
        rows: rows per chunk of the pre-scan.

    Returns:
        (use, reason), e.g. ``("probs", "auto: -inf masks in the input")``; a use given is
        :data:`GIVEN`.
    """
    if cfg.use != "auto":
        return cfg.use, GIVEN
    seen = _masks(view, cfg.softmin, rows, cfg.sentinel)  # the mask as -x holds it
    if seen:
        return AUTO_MASKED, f"auto: {seen} in the input"
    return AUTO_PLAIN, "auto: no masks in the input"


def _masks(view: RowView, softmin: bool, rows: int, mask_value: float | None) -> str:
    """``-inf masks`` (``+inf masks`` under softmin), ``mask sentinels`` (known values such as
    -1e9, or the user's ``mask_value``) or "" for none."""
    sentinels = False
    for start, stop in chunk_bounds(view.n_rows, rows, view.row_length):
        try:
            seen = _chunk_masks(view.block(start, stop), softmin, sentinels, mask_value)
        finally:  # after reading: a block may be a view of the memory map
            view.release(start, stop)
        if seen == "-inf masks":
            return "+inf masks" if softmin else seen  # softmin's masks: -inf in -x
        sentinels = sentinels or bool(seen)
    return "mask sentinels" if sentinels else ""


def _chunk_masks(
    x: np.ndarray, softmin: bool, sentinels_seen: bool, mask_value: float | None
) -> str:
    """What one chunk holds: ``-inf masks``, ``mask sentinels`` or ""."""
    if x.size == 0:
        return ""
    # fmin/fmax skip NaN; under --softmin the masks are +inf in the source
    low = -np.fmax.reduce(x, axis=None) if softmin else np.fmin.reduce(x, axis=None)
    if low == -np.inf:
        return "-inf masks"
    lowest = _LOWEST_LOGIT if mask_value is None else max(_LOWEST_LOGIT, mask_value * (1 - NEAR))
    if sentinels_seen or low > lowest:
        return ""
    xs = np.asarray(x, dtype=np.float64)
    keys, _ = classify(-xs if softmin else xs, mask_value)
    return "mask sentinels" if (~np.isnan(keys)).any() else ""
