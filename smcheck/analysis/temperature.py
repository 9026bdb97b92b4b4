"""Temperature effects: the entropy sweep over T, and the critical temperatures of each cell."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from smcheck.analysis.critical import (
    NOT_ONE_HOT,
    REL_TOL,
    UNSAFE,
    cause_names,
    find_critical,
)
from smcheck.analysis.stats import ExactSum
from smcheck.config import AnalysisConfig
from smcheck.dtypes import FloatFormat, holding
from smcheck.findings.temperature import advice
from smcheck.methods.base import SoftmaxMethod
from smcheck.progress import ProgressFn
from smcheck.report import model as rm
from smcheck.sources.rows import RowView

Array = npt.NDArray[np.float64]


def entropy_and_max(
    x: Array, t: float, valid: npt.NDArray[np.bool_] | None = None
) -> tuple[Array, Array]:
    """Entropy (nats) and largest probability of softmax(x / t) per row, in float64.

    Rows need a finite maximum (-inf entries are masks); rows outside ``valid`` get NaN. With
    z = (x - max x) / t <= 0 and s = sum of exp(z) over all entries but one maximal one,
    ``H = log1p(s) + sum p_i (-z_i)``: both terms are non-negative, so there is no cancellation
    and a nearly one-hot row keeps its tiny entropy to full relative precision;
    ``max p = 1 / (1 + s)``. Shifting before dividing keeps x / t from overflowing at tiny t (a
    huge negative z just gives p = 0). One fused kernel (smcheck.kernels.inputs.entropy_rows).
    """
    from smcheck.kernels.inputs import entropy_rows

    if valid is None:
        valid = np.ones(x.shape[0], dtype=np.bool_)
    x = np.ascontiguousarray(x, dtype=np.float64)
    return entropy_rows(x, np.ascontiguousarray(valid, dtype=np.bool_), float(t))


@dataclass
class _Point:
    entropy: ExactSum = field(default_factory=ExactSum)
    max_prob: ExactSum = field(default_factory=ExactSum)
    support: ExactSum = field(default_factory=ExactSum)


@dataclass
class SweepAccumulator:
    """Per temperature: mean entropy, max probability and exp(entropy) over valid rows.

    Exact sums, so the means do not depend on how the rows were chunked.
    """

    temperatures: tuple[float, ...]
    points: dict[float, _Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = {t: _Point() for t in self.temperatures}

    def add(self, x: Array, valid: npt.NDArray[np.bool_]) -> None:
        """Fold in a chunk of source values (float64, after --softmin) and its judged rows."""
        for t, pt in self.points.items():
            h, pmax = entropy_and_max(x, t, valid)
            h, pmax = h[valid], pmax[valid]
            pt.entropy.add(h)
            pt.max_prob.add(pmax)
            pt.support.add(np.exp(h))

    def result(self) -> list[rm.SweepPoint]:
        return [
            rm.SweepPoint(
                temperature=t,
                rows=pt.entropy.count,
                entropy_mean=pt.entropy.mean,
                max_prob_mean=pt.max_prob.mean,
                effective_support_mean=pt.support.mean,
            )
            for t, pt in self.points.items()
        ]


def critical_temperatures(
    view: RowView,
    cfg: AnalysisConfig,
    fmts: list[FloatFormat],
    methods: list[SoftmaxMethod],
    chunk_rows: int,
    progress: ProgressFn | None = None,
    cast: dict[str, rm.Count] | None = None,
    largest: float | None = None,
) -> tuple[list[rm.CriticalTemperature], rm.TemperatureScan]:
    """min_safe and one_hot_below for every method × format (see smcheck.analysis.critical),
    scanned down to the lowest T swept where that is below T_MIN.

    ``cast``: per format, the logits its cast turns into +inf; where there are any, no T is
    safe (inf / T is inf), so that format is not searched, and its advice names a format that
    holds ``largest``, the judged rows' largest logit; a quotient overflow's names one that holds
    ``largest`` divided by the lowest T swept or scanned.
    """
    broken = {d: c for d, c in (cast or {}).items() if c.elements}
    searched = [f for f in fmts if f.name not in broken]
    grid, searches = find_critical(view, cfg, searched, methods, chunk_rows, progress)
    lowest_t = grid[-1]  # the scan's bottom, the lowest T shown: the advice holds down to it
    out = []
    for f in fmts:
        for m in methods:
            if f.name in broken:
                out.append(_never_safe(m.name, f, broken[f.name], largest, cfg.softmin))
                continue
            unsafe = searches[(m.name, f.name, UNSAFE)]
            collapse = searches[(m.name, f.name, NOT_ONE_HOT)]
            min_safe = unsafe.result
            w = unsafe.witness if min_safe is not None else None
            causes = cause_names(w.causes) if w is not None else []
            one_hot = collapse.result
            last = collapse.witness if one_hot is not None and math.isfinite(one_hot) else None
            said = None
            if min_safe is not None:
                said = advice(
                    m.name,
                    f.name,
                    causes,
                    min_safe,
                    rel_tol=REL_TOL,
                    softmin=cfg.softmin,
                    largest=largest,
                    lowest_t=lowest_t,
                )
            out.append(
                rm.CriticalTemperature(
                    method=m.name,
                    dtype=f.name,
                    min_safe=min_safe,
                    min_safe_row=view.index(w.row) if w is not None else None,
                    causes=causes,
                    one_hot_below=one_hot,
                    one_hot_row=view.index(last.row) if last is not None else None,
                    advice=said,
                )
            )
    return out, rm.TemperatureScan(lo=grid[-1], hi=grid[0], grid=grid, rel_tol=REL_TOL)


def _never_safe(
    method: str, f: FloatFormat, cast: rm.Count, largest: float | None, softmin: bool
) -> rm.CriticalTemperature:
    """A format whose cast turns logits into +inf: unsafe at every T, whatever the method; the
    advice names the narrowest wider format whose cast does not, analysed or not (``largest``:
    the judged rows' largest logit)."""
    wider = next(iter(holding(f.name, largest)), None)
    return rm.CriticalTemperature(
        method=method,
        dtype=f.name,
        min_safe=math.inf,
        min_safe_row=cast.worst_row,
        causes=["cast_overflow"],
        one_hot_below=None,
        one_hot_row=None,
        advice=advice(
            method, f.name, ["cast_overflow"], math.inf, wider, rel_tol=REL_TOL, softmin=softmin
        ),
    )
