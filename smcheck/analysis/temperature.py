"""Temperature effects: the entropy sweep over T, and the critical temperatures of each cell."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from smcheck.analysis.critical import (
    NOT_ONE_HOT,
    REL_TOL,
    UNSAFE,
    UNSAFE_ABOVE,
    Search,
    cause_names,
    find_critical,
    row_flags,
    scan_grid,
)
from smcheck.analysis.sentinels import classify
from smcheck.analysis.stats import ExactSum
from smcheck.config import AnalysisConfig
from smcheck.dtypes import FloatFormat, holding
from smcheck.findings.temperature import SHIFTS, Ceiling, ShiftLimit, advice, remedy_below
from smcheck.methods import get_method
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
    mask_lowest: float | None = None,
    cast_masked: dict[str, tuple[int, bool] | None] | None = None,
    use: str = "probs",
) -> tuple[list[rm.CriticalTemperature], rm.TemperatureScan]:
    """min_safe, max_safe and one_hot_below for every method × format (see
    smcheck.analysis.critical).

    The scan goes down to the lowest T swept, where that is below T_MIN. ``cast``: per format,
    the logits its cast turns into +inf; where there are any, no T is safe (inf / T is inf), so
    that format is not searched, and its advice names a format that holds ``largest``, the
    judged rows' largest logit; a quotient overflow's names one that holds ``largest`` divided
    by the scan's lowest T, a row of masks' one that holds ``mask_lowest``, the smallest row
    maximum of the rows of masks, divided by it. Naive's advice, the shift, says where the shift
    fails in turn, and torch.softmax (each searched for it, where not asked for). ``use``:
    what the cells are judged for; under logprobs and loss torch's are its log_softmax's.
    ``cast_masked``: per format, the first judged row its cast turns entirely -inf and whether
    it holds only masks: a method giving NaN for it is unsafe at every T (``cast_masked``).
    """
    # the scan's bottom, the lowest T shown: the advice holds down to it
    scope = _Scope(
        cfg, largest, scan_grid(cfg.temperatures)[-1], mask_lowest, use in ("logprobs", "loss")
    )
    lost = _cast_lost(view, fmts, methods, cast or {}, cast_masked or {}, scope)
    searched = [f for f in fmts if any((m.name, f.name) not in lost for m in methods)]
    names = {m.name for m in methods}
    # naive's advice names each shift only as far as its own search finds it safe
    extra = [get_method(m) for m in SHIFTS if m not in names] if "naive" in names else []
    shift = [m for m in extra if cfg.model in m.models]
    grid, searches, judged = find_critical(
        view, cfg, searched, [*methods, *shift], chunk_rows, progress
    )
    out = []
    for f in fmts:
        for m in methods:
            if (m.name, f.name) in lost or f.name not in judged:
                out.append(lost.get((m.name, f.name)) or _not_judged(m.name, f.name))
                continue
            unsafe = _Unsafe.of(searches[(m.name, f.name, UNSAFE)], cfg)
            above = _Unsafe.above(searches[(m.name, f.name, UNSAFE_ABOVE)])
            collapse = searches[(m.name, f.name, NOT_ONE_HOT)]
            one_hot = collapse.result
            last = collapse.witness if one_hot is not None and math.isfinite(one_hot) else None
            said = None
            if unsafe.t is not None or above.t is not None:
                limits = _shift_limits(searches, f.name, scope) if m.name == "naive" else []
                said = advice(
                    m.name,
                    f.name,
                    unsafe.causes,
                    unsafe.t,
                    rel_tol=REL_TOL,
                    shifts=limits,
                    ceiling=None if above.t is None else Ceiling(above.t, above.causes),
                    **scope.of_row(unsafe),
                )
            out.append(
                rm.CriticalTemperature(
                    method=m.name,
                    dtype=f.name,
                    min_safe=unsafe.t,
                    min_safe_row=_index(view, unsafe.row),
                    causes=unsafe.causes,
                    one_hot_below=one_hot,
                    one_hot_row=_index(view, None if last is None else last.row),
                    advice=said,
                    max_safe=above.t,
                    max_safe_row=_index(view, above.row),
                    max_safe_causes=above.causes,
                )
            )
    return out, rm.TemperatureScan(lo=grid[-1], hi=grid[0], grid=grid, rel_tol=REL_TOL)


def _not_judged(method: str, dtype: str) -> rm.CriticalTemperature:
    """A cell the scan had no row to judge in (every row NaN/+inf or fully masked in the
    format): its temperatures NaN, as the searches' None and inf would claim safe or one-hot
    at every T."""
    nan = math.nan
    return rm.CriticalTemperature(
        method, dtype, nan, None, [], nan, None, None, max_safe=nan, judged=False
    )


def _index(view: RowView, row: int | None) -> rm.RowIndex | None:
    return None if row is None else view.index(row)


class _Unsafe(NamedTuple):
    """What an unsafe search found: min_safe, and the row failing just below it."""

    t: float | None
    row: int | None
    causes: list[str]
    mask_row: bool
    """The row holds only masks (sentinels, as the analysis reads them): no logit."""

    @classmethod
    def of(cls, s: Search, cfg: AnalysisConfig) -> _Unsafe:
        w = s.witness if s.result is not None else None
        if w is None:
            return cls(s.result, None, [], False)
        logits = classify(w.values[None, :], cfg.sentinel)[1][0]
        return cls(s.result, w.row, cause_names(w.causes), not bool(logits))

    @classmethod
    def above(cls, s: Search) -> _Unsafe:
        """max_safe from the search for the largest safe T, and the row failing just above it:
        none where the top of the scan is safe (inf) or no T of it is (None)."""
        if s.result is None or math.isinf(s.result) or s.witness is None:
            return cls(None, None, [], False)
        return cls(s.result, s.witness.row, cause_names(s.witness.causes), False)


class _Scope(NamedTuple):
    """What every remedy of one scan depends on besides its cell (see :func:`remedy_below`)."""

    cfg: AnalysisConfig
    largest: float | None
    lowest_t: float
    mask_lowest: float | None
    log_read: bool
    """torch's cells are judged from its log_softmax (use logprobs or loss)."""

    def of_row(self, unsafe: _Unsafe) -> dict[str, Any]:
        """The keywords of :func:`remedy_below` for a cell failing on ``unsafe``'s row."""
        return {
            "softmin": self.cfg.softmin,
            "largest": self.largest,
            "lowest_t": self.lowest_t,
            "mask_row": unsafe.mask_row,
            "mask_lowest": self.mask_lowest,
            "log_read": self.log_read,
        }


def _shift_limits(
    searches: dict[tuple[str, str, str], Search], dtype: str, scope: _Scope
) -> list[ShiftLimit]:
    """Where each method naive's advice names (those searched) fails in turn in ``dtype``, below
    and above, with its remedy below."""
    out = []
    for m in SHIFTS:
        if (m, dtype, UNSAFE) not in searches:
            continue
        u = _Unsafe.of(searches[(m, dtype, UNSAFE)], scope.cfg)
        above = _Unsafe.above(searches[(m, dtype, UNSAFE_ABOVE)])
        fix = "" if u.t is None else remedy_below(m, dtype, u.causes, **scope.of_row(u))
        ceiling = None if above.t is None else Ceiling(above.t, above.causes)
        out.append(ShiftLimit(m, u.t, fix, u.causes, ceiling))
    return out


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


def _nan_on_masked_row(m: SoftmaxMethod, f: FloatFormat, cfg: AnalysisConfig) -> bool:
    """Whether ``m`` gives NaN for a row entirely -inf in ``f``: one the cast masks does so at
    every T (-inf / T is -inf), which the search, judging such rows out, does not see."""
    import torch

    xs = torch.full((1, 2), -math.inf, dtype=f.torch_dtype())
    return bool(row_flags(m, xs, np.zeros((1, 2), dtype=bool), f, cfg).causes[0])


def _cast_lost(
    view: RowView,
    fmts: list[FloatFormat],
    methods: list[SoftmaxMethod],
    cast: dict[str, rm.Count],
    cast_masked: dict[str, tuple[int, bool] | None],
    scope: _Scope,
) -> dict[tuple[str, str], rm.CriticalTemperature]:
    """The cells unsafe at every T for their cast alone, which no search sees (it judges the
    rows the cast breaks out): a +inf logit breaks every method; a row entirely -inf, those that
    give NaN for it (the cells' masked-row-nan)."""
    lost = {}
    for f in fmts:
        over, masked = cast.get(f.name), cast_masked.get(f.name)
        for m in methods:
            if over is not None and over.elements:
                lost[(m.name, f.name)] = _never_safe(
                    m.name, f, over, scope.largest, scope.cfg.softmin
                )
            elif masked is not None and _nan_on_masked_row(m, f, scope.cfg):
                row, masks = masked
                said = advice(
                    m.name,
                    f.name,
                    ["cast_masked"],
                    math.inf,
                    rel_tol=REL_TOL,
                    **scope.of_row(_Unsafe(math.inf, row, [], masks)),
                )
                lost[(m.name, f.name)] = rm.CriticalTemperature(
                    method=m.name,
                    dtype=f.name,
                    min_safe=math.inf,
                    min_safe_row=_index(view, row),
                    causes=["cast_masked"],
                    one_hot_below=None,
                    one_hot_row=None,
                    advice=said,
                )
    return lost
