"""The report: frozen dataclasses of plain Python values; the single source for every renderer.

Field names are the JSON contract (DESIGN.md §8, schema_version 1): add fields freely, never
rename or remove one without bumping SCHEMA_VERSION.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

SCHEMA_VERSION = 1

RowIndex = tuple[int, ...]

if TYPE_CHECKING:
    from smcheck.report.masking import BecameMasked, InputFinding, MaskedOutput, Sentinel


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
class Cell:
    """One method × dtype × temperature under one arithmetic model."""

    method: str
    dtype: str
    temperature: float
    model: str
    verdict: Verdict
    reasons: tuple[str, ...]
    metrics: CellMetrics
    gradient: dict[str, Any] | None = None
    probabilities: list[list[float]] | None = None
    log_probabilities: list[list[float]] | None = None
    fully_masked_output: MaskedOutput | None = None
    """What the method returned for the rows that are entirely -inf in this format and T."""


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
    upstream_first_row: RowIndex | None = None
    fully_masked_first_row: RowIndex | None = None
    became_fully_masked: list[BecameMasked] = field(default_factory=list)
    """Per format and temperature: rows with finite logits that are entirely -inf there."""
    sentinels: list[Sentinel] = field(default_factory=list)
    """Large finite negatives standing in for -inf, and what each format does to them."""
    findings: list[InputFinding] = field(default_factory=list)
    """Findings about the input itself (upstream NaN/+inf, masks, sentinels), with severities."""


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
        found = [Verdict(f.severity) for f in self.input.findings if f.severity != "INFO"]
        verdicts = [*(c.verdict for c in self.cells), *found]
        return max(verdicts, key=lambda v: v.rank, default=Verdict.OK)


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
