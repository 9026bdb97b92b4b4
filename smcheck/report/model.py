"""The report: frozen dataclasses of plain Python values; the single source for every renderer.

Field names are the JSON contract (DESIGN.md §8, schema_version 1): add fields freely, never
rename or remove one without bumping SCHEMA_VERSION.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1

RowIndex = tuple[int, ...]


class Verdict(str, Enum):
    """A cell's outcome, ordered OK < WARN < FAIL."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return ("OK", "WARN", "FAIL").index(self.value)


@dataclass(frozen=True)
class Count:
    """How many elements and rows, and the worst row's index in the original shape."""

    elements: int
    rows: int
    worst_row: RowIndex | None


@dataclass(frozen=True)
class NanCount(Count):
    causes: dict[str, int] = field(default_factory=dict)
    """NaN elements by cause: "inf/inf", "0/0", "inf-inf", "other"."""


@dataclass(frozen=True)
class Extreme:
    """A maximum over rows and the first row attaining it (None when no row qualified)."""

    max: float | None
    worst_row: RowIndex | None


@dataclass(frozen=True)
class ErrorMetric:
    max_ulp: float | None
    """Largest |p̂ - p| in ulps of the format at p, over finite outputs."""
    median_ulp: float | None
    normwise_u: float | None
    """Worst row's ||p̂ - p||_inf / ||p||_inf in units of u = 2^-t."""
    worst_row: RowIndex | None
    """Row of max_ulp."""


@dataclass(frozen=True)
class FlipCount:
    rows: int
    worst_row: RowIndex | None
    """First flipped row."""


@dataclass(frozen=True)
class KLMetric:
    max: float | None
    mean: float | None
    worst_row: RowIndex | None


@dataclass(frozen=True)
class Headroom:
    """Distance, in nats, of the worst row from the format's limits (negative: past the limit)."""

    overflow_nats: float | None
    """ln(max) - max(x/T): naive exp overflows where this is negative."""
    overflow_worst_row: RowIndex | None
    underflow_nats: float | None
    """min(x_i - lse) - ln(smallest_subnormal/2): probabilities round to 0 where negative."""
    underflow_worst_row: RowIndex | None


@dataclass(frozen=True)
class CellMetrics:
    overflow: Count
    temperature_overflow: Count
    """Part of ``overflow``: logits that became +inf when divided by T in the format."""
    nan: NanCount
    underflow: Count
    exact_zero: Count
    log_nonfinite: Count
    """Log-probabilities that are ±inf or NaN where the exact one is finite."""
    lost_mass: Extreme
    error: ErrorMetric
    sum_error: Extreme
    argmax_flips: FlipCount
    kl: KLMetric
    headroom: Headroom
    rows_checked: int
    """Rows the method was judged on (upstream-broken and fully masked rows excluded)."""


@dataclass(frozen=True)
class LossError:
    """Error of the computed cross-entropy loss against the exact one (rows where it is finite)."""

    max_abs: float | None
    """Largest |L̂ - L| in nats (an absolute error of log p is a relative error of p)."""
    max_abs_row: RowIndex | None
    max_rel: float | None
    """Largest |L̂ - L| / L (1 when a small loss rounds to 0)."""
    max_rel_row: RowIndex | None


@dataclass(frozen=True)
class GradientMetrics:
    """Cross-entropy ``-log p[target]`` through the method's own log-probabilities, back-propagated
    by autograd in the format, against the exact loss and gradient ``p - onehot(target)``.

    Gradients are taken with respect to the softmax input (the logits divided by T). Rows are those
    the method is judged on whose target class is not masked (DESIGN.md §5).
    """

    target: str
    """How targets were chosen: "argmax", "argmin", the file as given, or "<array>"."""
    rows_checked: int
    masked_target_rows: int
    """Rows left out because their target logit is -inf (a mask): the exact loss is infinite."""
    loss_inf: Count
    """Rows whose computed loss is infinite although the exact loss is finite."""
    loss_nan: Count
    nan: Count
    """NaN gradient elements."""
    dead: Count
    """Gradient elements exactly 0 where the exact gradient rounds to nonzero in the format."""
    vanished_rows: int
    """Rows whose whole computed gradient is 0 while the exact one is representable as nonzero."""
    vanished_first_row: RowIndex | None
    saturated_rows: int
    """Rows whose exact top probability rounds to 1 in the format (softmax Jacobian 0 there)."""
    saturated_first_row: RowIndex | None
    max_rel_error: float | None
    """max over rows of ||ĝ - g||_inf / ||g||_inf (rows with a NaN gradient excluded)."""
    max_rel_error_row: RowIndex | None
    loss_error: LossError
    losses: list[float] | None = None
    """Small inputs only: the computed loss per row, and below the exact values beside it."""
    exact_losses: list[float] | None = None
    gradients: list[list[float]] | None = None
    exact_gradients: list[list[float]] | None = None


@dataclass(frozen=True)
class Cell:
    """One method × dtype × temperature under one arithmetic model."""

    method: str
    dtype: str
    temperature: float
    model: str
    verdict: Verdict
    reasons: tuple[str, ...]
    metrics: CellMetrics
    gradient: GradientMetrics | None = None
    """None when not computed (--no-gradients, or the strict model, which has no autograd)."""
    probabilities: list[list[float]] | None = None
    log_probabilities: list[list[float]] | None = None


@dataclass(frozen=True)
class InputSummary:
    min: float | None
    max: float | None
    nan: int
    posinf: int
    neginf: int
    fully_masked_rows: int
    upstream_rows: int
    """Rows with NaN or +inf in the input: upstream problems, kept out of the method metrics."""
    max_logsumexp: float | None
    max_logsumexp_row: RowIndex | None


@dataclass(frozen=True)
class InputRounding:
    """What casting the source to a format does to the exact distribution, before any method runs."""

    dtype: str
    exact: bool
    """True when every source value is representable in the format."""
    changed_elements: int
    max_abs_dlogp: float | None
    kl_max: float | None
    kl_mean: float | None
    cast_overflow: Count
    """Finite source values that become ±inf in the format (and the rows this breaks)."""


@dataclass(frozen=True)
class Exact:
    """Exact probabilities for small inputs, shown beside the cells' computed ones."""

    dtype: str
    temperature: float
    probabilities: list[list[float]]
    log_probabilities: list[list[float]]


@dataclass(frozen=True)
class SourceReport:
    name: str
    shape: list[int]
    dtype: str
    dim: int
    rows: int
    row_length: int
    softmin: bool
    reference: dict[str, str]
    """Per dtype: the precision the exact reference was computed in."""
    input: InputSummary
    input_rounding: list[InputRounding]
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)
    exact: list[Exact] | None = None
    temperature: dict[str, Any] | None = None

    @property
    def verdict(self) -> Verdict:
        return max((c.verdict for c in self.cells), key=lambda v: v.rank, default=Verdict.OK)


@dataclass(frozen=True)
class Report:
    sources: list[SourceReport]
    smcheck_version: str

    @property
    def cells(self) -> list[Cell]:
        return [c for s in self.sources for c in s.cells]

    @property
    def verdict(self) -> Verdict:
        return max((s.verdict for s in self.sources), key=lambda v: v.rank, default=Verdict.OK)

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for c in self.cells:
            out[c.verdict.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (schema_version 1) as plain Python values (floats may be non-finite)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "smcheck_version": self.smcheck_version,
            "sources": [_plain(s) for s in self.sources],
            "summary": {"verdict": self.verdict.value, "cells": self.counts()},
        }


def _plain(obj: Any) -> Any:
    """Dataclasses, enums and tuples to dicts, strings and lists (field order kept)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
