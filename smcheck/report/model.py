"""The report: frozen dataclasses of plain Python values; the single source for every renderer.

Field names are the JSON contract (docs/design.md §8, schema_version 1): add fields freely, never
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
    from smcheck.report.maskmodel import BecameMasked, InputFinding, MaskedOutput, Sentinel


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
    the method is judged on whose target class is not masked (docs/design.md §5).
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
class RowCount:
    """How many rows, and the worst (or first) one's index in the original shape."""

    rows: int
    worst_row: RowIndex | None


@dataclass(frozen=True)
class WorstError:
    """The row with the largest normwise error, read against its bound and conditioning."""

    row: RowIndex | None
    error_u: float
    """||p̂ - p||_inf / ||p||_inf in units of u."""
    bound_u: float | None
    """The row's rounding-error bound in units of u; None where it is vacuous."""
    first_order_u: float
    """The first-order term T of the bound (what the paper states)."""
    cond: float
    """The row's condition number (normwise, for relative perturbations of x - max x)."""


@dataclass(frozen=True)
class BoundCheck:
    """Observed error against the rounding-error bound of Blanchard, Higham & Higham (2021)."""

    bound: str
    """The first-order bound's formula, in units of u."""
    c: float
    """The error of one exp/log, in units of u, that the bound charges (1 for correct rounding)."""
    rows_tested: int
    """Rows with finite output and no overflow, where the bound applies."""
    violations: RowCount
    """Rows whose error exceeds the bound (worst: the largest error/bound)."""
    vacuous: RowCount
    """Rows where the bound says nothing (K·T·u >= 1, e.g. n >= 1/u); first such row."""
    max_ratio: Extreme
    """Largest error/bound over the rows with a non-vacuous bound."""
    cond_max: Extreme
    """Largest condition number over the tested rows."""
    worst: WorstError | None
    reading: str
    """Whose fault a large error is: "none" (no large error), "implementation" (a bound is
    violated), "input" (ill-conditioned row), "algorithm" (the method's own error terms)."""


@dataclass(frozen=True)
class Accumulation:
    """The accumulation stall of the strict model's sums in the format."""

    stall_length: int
    """2^t: a sequential sum of equal terms stops growing after this many."""
    stalled: RowCount
    """Rows whose running sum absorbed more than 2^-(1-b)t of their mass (b: normwise_bits)."""
    max_absorbed: Extreme
    """Largest fraction of a row's summed mass added to a running sum that did not change."""


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
    bounds: BoundCheck | None = None
    """Observed error against the literature's bound (None for ``torch``: no analysed algorithm)."""
    accumulation: Accumulation | None = None
    """Strict model only: how far the sums in the format stalled."""
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
class SweepPoint:
    """Shape of the exact distribution at one temperature (from the source values, any dtype)."""

    temperature: float
    rows: int
    """Rows averaged over (upstream-broken and fully masked rows excluded)."""
    entropy_mean: float | None
    """Mean entropy of softmax(x / T), in nats."""
    max_prob_mean: float | None
    effective_support_mean: float | None
    """Mean of exp(entropy): how many classes the distribution effectively spreads over."""


@dataclass(frozen=True)
class CriticalTemperature:
    """Where one method in one format stops being safe, and where its outputs become one-hot."""

    method: str
    dtype: str
    min_safe: float | None
    """Smallest T of the scan above which no row overflows or gives NaN (bisection's safe end);
    None: safe down to the bottom of the scan; inf: unsafe already at its top."""
    min_safe_row: RowIndex | None
    """The row that fails just below min_safe."""
    causes: list[str]
    """What fails on that row just below min_safe: temperature_overflow, exp_overflow,
    sum_overflow, nan."""
    one_hot_below: float | None
    """Largest T of the scan at which every row's output is exactly one-hot (one entry 1, the
    others 0) -- the bisection's one-hot end; None: never all one-hot (rows with tied maxima never
    are, nor outputs that overflow first); inf: already at the top of the scan."""
    one_hot_row: RowIndex | None
    """The last row to collapse: still not one-hot just above one_hot_below."""
    advice: str | None
    """The remedy, in one sentence, when min_safe is inside the scan."""


@dataclass(frozen=True)
class TemperatureScan:
    """How the critical temperatures were searched."""

    lo: float
    hi: float
    grid: list[float]
    """Temperatures scanned from the top before bisecting (one per decade)."""
    rel_tol: float
    """Bisection stops when the bracket's ends differ by at most this factor minus one."""


@dataclass(frozen=True)
class TemperatureAnalysis:
    sweep: list[SweepPoint]
    critical: list[CriticalTemperature] | None = None
    """Per method × dtype; None unless asked for (--critical, or a sweep of several T)."""
    scan: TemperatureScan | None = None


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
    temperature: TemperatureAnalysis | None = None

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
