"""The report: frozen dataclasses of plain Python values; the single source for every renderer.

Field names are the JSON contract (docs/design.md §8, schema_version 1): add fields freely, never
rename or remove one without bumping SCHEMA_VERSION.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from smcheck.report.cellmetrics import (
    Accumulation,
    BoundCheck,
    CellMetrics,
    Count,
    ErrorMetric,
    Extreme,
    FlipCount,
    GradientMetrics,
    Headroom,
    KLMetric,
    LogErrorMetric,
    LossError,
    NanCount,
    RowCount,
    RowIndex,
    UlpHistogram,
    WorstError,
)
from smcheck.report.environmentmodel import Environment
from smcheck.report.findingmodel import Finding, Verdict
from smcheck.report.maskmodel import (
    BecameMasked,
    InputFinding,
    MaskedOutput,
    Sentinel,
    SentinelCast,
    SentinelEffect,
)
from smcheck.report.phrases import plural
from smcheck.report.sitemodel import Site
from smcheck.report.temperaturemodel import (
    CriticalTemperature,
    SweepPoint,
    TemperatureAnalysis,
    TemperatureScan,
)

# the metric, mask and temperature dataclasses live in their own modules; this one re-exports
# them so ``smcheck.report.model`` stays the one import for the whole JSON contract
__all__ = [
    "SCHEMA_VERSION",
    "Accumulation",
    "BecameMasked",
    "BoundCheck",
    "Cell",
    "CellMetrics",
    "Count",
    "CriticalTemperature",
    "DivisionRounding",
    "Environment",
    "ErrorMetric",
    "Exact",
    "Extreme",
    "Finding",
    "FlipCount",
    "GradientMetrics",
    "Headroom",
    "InputFinding",
    "InputRounding",
    "InputSummary",
    "KLMetric",
    "LogErrorMetric",
    "LossError",
    "MaskedOutput",
    "NanCount",
    "Report",
    "RowCount",
    "RowIndex",
    "Sentinel",
    "SentinelCast",
    "SentinelEffect",
    "Site",
    "SourceReport",
    "SweepPoint",
    "TemperatureAnalysis",
    "TemperatureScan",
    "UlpHistogram",
    "Verdict",
    "WorstError",
    "plain",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One method × dtype × temperature under one arithmetic model."""

    method: str
    dtype: str
    temperature: float
    model: str
    verdict: Verdict
    reasons: tuple[str, ...]
    """Every finding as one sentence naming the cell (the findings' ``sentence``), worst first."""
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
    findings: tuple[Finding, ...] = ()
    """The reasons as data, in the order of ``reasons``: group them by ``cause`` across cells."""
    hypothetical: bool = False
    """A comparison the user did not select (e.g. naive beside the framework's own softmax):
    shown and judged, never counted in the source's or the report's verdict."""

    @property
    def judged(self) -> bool:
        """False where the cell judged no row (``rows_checked`` 0: every row NaN/+inf or fully
        masked, kept out of the metrics) and found nothing: its OK then says nothing about the
        method, so every renderer shows it as not judged ("-"). A finding keeps its verdict."""
        return self.metrics.rows_checked > 0 or self.verdict is not Verdict.OK


@dataclass(frozen=True)
class InputSummary:
    """The source values themselves: range, non-finite entries, masks and their findings."""

    min: float | None
    max: float | None
    nan: int
    posinf: int
    neginf: int
    fully_masked_rows: int
    """Source rows entirely -inf or of mask values only (``fully_masked_sentinel_rows``)."""
    upstream_rows: int
    """Rows with NaN or +inf in the input: upstream problems, kept out of the method metrics."""
    max_logsumexp: float | None
    """The largest logsumexp of a row, rows with NaN or +inf and rows entirely -inf left out
    (a row of mask values only counts: its softmax exists)."""
    max_logsumexp_row: RowIndex | None
    upstream_first_row: RowIndex | None = None
    fully_masked_first_row: RowIndex | None = None
    fully_masked_sentinel_rows: int = 0
    """Of ``fully_masked_rows``, the rows of mask values only (one exactly, perhaps beside -inf)
    rather than entirely -inf: finite, their softmax spreads the weight over the masks, so
    they stay in the method metrics (the others are left out)."""
    became_fully_masked: list[BecameMasked] = field(default_factory=list)
    """Per format and temperature: rows with finite logits that are entirely -inf there."""
    sentinels: list[Sentinel] = field(default_factory=list)
    """Large finite negatives standing in for -inf, and what each format does to them."""
    findings: list[InputFinding] = field(default_factory=list)
    """Findings about the input itself (upstream NaN/+inf, masks, sentinels), with severities."""

    @property
    def has_masks(self) -> bool:
        """The source holds masks, -inf (of -x under softmin) or sentinels: what the remedies
        read as ``Situation.masked``."""
        return bool(self.neginf or self.sentinels)


@dataclass(frozen=True)
class InputRounding:
    """What casting the source to a format does to the exact distribution, before any method.

    Of the logits: mask sentinel entries are left out of every figure, as -inf is."""

    dtype: str
    exact: bool
    """True when every source logit is representable in the format (sentinels aside)."""
    changed_elements: int
    max_abs_dlogp: float | None
    kl_max: float | None
    kl_mean: float | None
    cast_overflow: Count
    """Finite source values that become ±inf in the format (and the rows this breaks)."""
    division: list[DivisionRounding] = field(default_factory=list)
    """Per temperature other than 1 (formats up to float32): what rounding x/T does."""


@dataclass(frozen=True)
class DivisionRounding:
    """What rounding x/T to a format does to the exact distribution of x/T, before any method:
    the methods see fl(x/T), and the cells' references are its exact softmax."""

    temperature: float
    changed_elements: int
    """Live entries whose quotient x/T is not a value of the format."""
    max_abs_dlogp: float | None
    normwise_u: float | None
    """max |Δp| / max p over a row, in units of the format's u (worst row)."""
    worst_row: RowIndex | None


@dataclass(frozen=True)
class Exact:
    """Exact probabilities for small inputs, shown beside the cells' computed ones."""

    dtype: str
    temperature: float
    probabilities: list[list[float]]
    log_probabilities: list[list[float]]


@dataclass(frozen=True)
class SourceReport:
    """One source (file, key or array): its shape, input summary and every cell."""

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
    use: str = "loss"
    """What the softmax feeds, which decides what a verdict judges: probs, logprobs or loss."""
    use_reason: str = ""
    """Why: ``given`` (``use = loss in pyproject.toml`` where check's config file set it), or
    what ``auto`` saw (``auto: -inf masks in the input``)."""
    site: Site | None = None
    """Where a live model ran this softmax (``smcheck.capture``); None for files and arrays."""

    @property
    def sweep(self) -> tuple[float, ...]:
        """The temperatures analysed, in the cells' order."""
        return tuple(dict.fromkeys(c.temperature for c in self.cells))

    @property
    def swept(self) -> bool:
        """Whether several temperatures were analysed: then every T is named, T = 1 too."""
        return len(self.sweep) > 1

    @property
    def verdict(self) -> Verdict:
        """The worst of the selected cells' verdicts and the WARN/FAIL input findings."""
        found = [Verdict(f.severity) for f in self.input.findings if f.severity != "INFO"]
        verdicts = [*(c.verdict for c in self.cells if not c.hypothetical), *found]
        return max(verdicts, key=lambda v: v.rank, default=Verdict.OK)


@dataclass(frozen=True, repr=False)  # the dataclass repr of every field ran to ~60,000 chars
class Report:
    """Every source of one run; ``to_dict()`` is the JSON contract."""

    sources: list[SourceReport]
    smcheck_version: str
    environment: Environment | None = None
    """Versions, CPU and threads of the run (None in reports built by hand)."""

    @property
    def cells(self) -> list[Cell]:
        """Every source's cells, in order."""
        return [c for s in self.sources for c in s.cells]

    @property
    def verdict(self) -> Verdict:
        """The worst source verdict (OK for no sources)."""
        return max((s.verdict for s in self.sources), key=lambda v: v.rank, default=Verdict.OK)

    def counts(self, *, hypothetical: bool = False) -> dict[str, int]:
        """Selected cells per verdict, ``{"OK": 3, "WARN": 1, "FAIL": 0}``: the cells the
        verdict counts (``hypothetical=True``: the comparisons beside them instead)."""
        out = {v.value: 0 for v in Verdict}
        for c in self.cells:
            if c.hypothetical == hypothetical:
                out[c.verdict.value] += 1
        return out

    def summary(self) -> str:
        """``1 source, 4 cells: 0 FAIL, 0 WARN, 4 OK; input: 1 WARN (comparisons, not counted:
        2 FAIL)``: the selected cells, the input's own findings, and the comparisons apart, so
        no one adds them up (the summary line of the CLI, the HTML header); OK cells that judged
        no row are counted apart too (``0 OK, 4 not judged``)."""
        c, h = self.counts(), self.counts(hypothetical=True)
        idle = sum(not (x.judged or x.hypothetical) for x in self.cells)
        found = [f.severity for s in self.sources for f in s.input.findings]
        inputs = ", ".join(f"{found.count(k)} {k}" for k in ("FAIL", "WARN") if k in found)
        beside = ", ".join(f"{h[k]} {k}" for k in ("FAIL", "WARN") if h[k])
        return (
            f"{plural(len(self.sources), 'source')}, {plural(sum(c.values()), 'cell')}: "
            f"{c['FAIL']} FAIL, {c['WARN']} WARN, {c['OK'] - idle} OK"
            + (f", {idle} not judged" if idle else "")
            + (f"; input: {inputs}" if inputs else "")
            + (f" (comparisons, not counted: {beside})" if beside else "")
        )

    def __repr__(self) -> str:
        """``<smcheck Report: 1 source, 4 cells: 1 FAIL, 0 WARN, 3 OK>``, the :meth:`summary`:
        short enough for a REPL or a log (``to_dict()`` holds every value)."""
        return f"<smcheck Report: {self.summary()}>"

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per cell, for comparing runs: the source, the cell's coordinates and
        verdict, and every metric under a dotted key (``metrics.overflow.elements``)."""
        return [
            {"source": s.name, "source_dtype": s.dtype, **_flat(plain(c))}
            for s in self.sources
            for c in s.cells
        ]

    def to_pandas(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame (needs pandas, not a dependency)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records())

    def _repr_html_(self) -> str:
        """Jupyter's view: the concise report, as ``smcheck analyze`` prints it, in colour."""
        from smcheck.report.terminal.notebook import html_view

        return html_view(self)

    def __rich__(self) -> Any:
        """rich's view (``rich.print(report)``): the concise report."""
        from smcheck.report.terminal.notebook import rich_view

        return rich_view(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (schema_version 1) in plain Python values (floats may be inf/NaN)."""
        env = {} if self.environment is None else {"environment": plain(self.environment)}
        return {
            "schema_version": SCHEMA_VERSION,
            "smcheck_version": self.smcheck_version,
            **env,
            "sources": [plain(s) for s in self.sources],
            "summary": {
                "verdict": self.verdict.value,
                "cells": self.counts(),
                "comparisons": self.counts(hypothetical=True),
            },
        }


_NOT_FLAT = frozenset({"probabilities", "log_probabilities", "findings", "reasons"})
"""Cell fields left out of a record: per-element arrays and the finding objects (the
``reasons`` are joined into one string instead)."""


def _flat(cell: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A cell's plain dict with nested dicts flattened to dotted keys."""
    out: dict[str, Any] = {}
    if not prefix:
        out["reasons"] = "; ".join(cell["reasons"])
    for k, v in cell.items():
        if not prefix and k in _NOT_FLAT:
            continue
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def plain(obj: Any) -> Any:
    """Dataclasses, enums and tuples to dicts, strings and lists (field order kept; a field
    marked ``OMIT_IF_NONE`` is left out where it is None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: plain(v)
            for f in dataclasses.fields(obj)
            if (v := getattr(obj, f.name)) is not None or not f.metadata.get("omit_if_none")
        }
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj
