"""The analysis loop: chunks of rows × formats × temperatures × methods, merged into a report."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from smcheck import __version__
from smcheck.chunkflow import (
    FormatLanes,
    ProgressCallback,
    ProgressEvent,
    cell_reference,
    float64_chunks,
    read_ahead,
    round_chunk,
)
from smcheck.config import AnalysisConfig
from smcheck.diagnostics import Block, CellAccumulator, GroupAccumulator
from smcheck.dtypes import FloatFormat, get_format
from smcheck.inputs import InputAccumulator, RoundingAccumulator
from smcheck.methods import get_method
from smcheck.reference import exact_softmax, reference_precision, working_dtype
from smcheck.report import model as rm
from smcheck.rows import RowView, row_block_mask
from smcheck.stats import CountStat
from smcheck.verdicts import judge

if TYPE_CHECKING:
    from smcheck.loaders import LoadedArray

SMALL_ELEMENTS = 64
"""Inputs up to this many elements (and 8 rows) show every probability beside the exact ones."""


def _is_small(view: RowView) -> bool:
    return view.n_rows <= 8 and view.n_rows * view.row_length <= SMALL_ELEMENTS


@dataclass
class _Small:
    """Per-row outputs kept for small inputs."""

    p: list[list[float]]
    logp: list[list[float]]


def analyze_array(
    src: LoadedArray, cfg: AnalysisConfig, progress: ProgressCallback | None = None
) -> rm.SourceReport:
    """Run every configured cell on one loaded source and build its report.

    ``progress`` is called with a :class:`~smcheck.chunkflow.ProgressEvent` after each chunk.
    """
    import torch

    view = RowView(src.array, cfg.dim, src.name)
    fmts = [get_format(d) for d in cfg.dtypes]
    methods = [get_method(m) for m in cfg.methods]
    temps = cfg.temperatures
    cells = {(m.name, f.name, t): CellAccumulator(f) for f in fmts for t in temps for m in methods}
    groups = {(f.name, t): GroupAccumulator(f) for f in fmts for t in temps}
    rounding = {f.name: RoundingAccumulator(f) for f in fmts}
    inp = InputAccumulator()
    small = _is_small(view)
    shown: dict[tuple[str, ...], _Small] = {}

    chunk = cfg.chunk_rows or view.chunk_rows(cfg.memory_budget)
    src_dtype = np.dtype(view.dtype)

    def done(rows: int) -> None:
        if progress is not None:
            progress(ProgressEvent(src.name, rows, view.n_rows, view.row_length))

    lanes = FormatLanes([f.name for f in fmts], done)  # the formats run in parallel
    for start, x in lanes.run(read_ahead(float64_chunks(view, chunk))):
        if cfg.softmin:
            x = -x  # Softmin(x) = softmax(-x); negation is exact
        upstream, masked = row_block_mask(x)
        base_valid = ~upstream & ~masked
        ref0 = exact_softmax(x)
        inp.add(x, ref0, upstream, masked, start)

        def per_format(f: FloatFormat, x=x, start=start, ref0=ref0, base_valid=base_valid) -> None:  # type: ignore[no-untyped-def]  # noqa: E501 - binds this chunk's values
            xd = round_chunk(x, f, cfg.ftz, src_dtype)
            # the T=1 reference of the rounded input: computed once, shared with the rounding
            # summary and the cells (for an input that rounding leaves unchanged it is ref0)
            rd = ref0 if xd is x else (None if f.t > 24 else exact_softmax(xd))
            valid = rounding[f.name].add(x, xd, ref0, base_valid, start, rd=rd)
            xw = xd if f.t > 24 else xd.astype(working_dtype(f))  # float64 cells: double-double
            xt = torch.from_numpy(xd).to(f.torch_dtype())  # exact: xd holds values of f
            for t in temps:
                xs, xsw, scale_over = _scaled(xt, xw, f, t)
                ref = cell_reference(xd, xsw, f, t, rd)
                live = valid[:, None] & ~np.isneginf(xsw)
                blk = Block(start, f, valid, live, ref, scale_over)
                groups[(f.name, t)].add(xsw, blk)
                if small:
                    _keep(shown, ("exact", f.name, str(t)), ref.p, ref.logp)
                for m in methods:
                    if cfg.model == "framework":
                        out = m.framework(xs).to_output()
                    else:
                        # the strict model starts from the same rounded x/T the framework sees
                        out = m.strict(xs.to(torch.float64).numpy(), f, cfg.ftz)
                    cells[(m.name, f.name, t)].add(out, blk)
                    if small:
                        _keep(shown, (m.name, f.name, str(t)), out.p, out.logp)

        lanes.submit(start + len(x), {f.name: partial(per_format, f) for f in fmts})

    return _build(
        src, cfg, view, fmts, methods, cells, groups, rounding, inp, shown if small else None
    )


def _scaled(xt, xw, f: FloatFormat, t: float):  # type: ignore[no-untyped-def]
    """Divide by T in the format, as user code does; the exact quotient feeds the reference."""
    import torch

    if t == 1.0:
        return xt, xw, np.zeros(xw.shape, dtype=bool)
    td = float(f.round(t))
    xs = xt / torch.tensor(td, dtype=xt.dtype)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        xsw = xw / xw.dtype.type(td)
    scale_over = (torch.isposinf(xs) & torch.isfinite(xt)).numpy()
    return xs, xsw, scale_over


def _keep(
    shown: dict[tuple[str, ...], _Small], key: tuple[str, ...], p: np.ndarray, logp: np.ndarray
) -> None:
    s = shown.setdefault(key, _Small([], []))
    s.p.extend(np.asarray(p, dtype=np.float64).tolist())
    s.logp.extend(np.asarray(logp, dtype=np.float64).tolist())


def _count(c: CountStat, view: RowView) -> rm.Count:
    return rm.Count(c.elements, c.rows, view.index(c.worst_row))


def _cell_metrics(acc: CellAccumulator, grp: GroupAccumulator, view: RowView) -> rm.CellMetrics:
    f = acc.fmt
    top, deep = grp.top_logit, grp.deepest_logp
    return rm.CellMetrics(
        overflow=_count(acc.overflow, view),
        temperature_overflow=_count(acc.temperature_overflow, view),
        nan=rm.NanCount(
            acc.nan.elements,
            acc.nan.rows,
            view.index(acc.nan.worst_row),
            dict(sorted(acc.nan_causes.items())),
        ),
        underflow=_count(acc.underflow, view),
        exact_zero=_count(acc.exact_zero, view),
        log_nonfinite=_count(acc.log_nonfinite, view),
        lost_mass=rm.Extreme(
            acc.lost_mass.result if acc.underflow.elements else 0.0,
            view.index(acc.lost_mass.row) if acc.underflow.elements else None,
        ),
        error=rm.ErrorMetric(
            acc.max_ulp.result, acc.ulp.median, acc.normwise_u.result, view.index(acc.max_ulp.row)
        ),
        sum_error=rm.Extreme(acc.sum_error.result, view.index(acc.sum_error.row)),
        argmax_flips=rm.FlipCount(acc.argmax_flips.rows, view.index(acc.argmax_flips.worst_row)),
        kl=rm.KLMetric(acc.kl_max.result, acc.kl_sum.mean, view.index(acc.kl_max.row)),
        headroom=rm.Headroom(
            None if top.result is None else f.exp_overflow_x - top.value,
            view.index(top.row),
            None if deep.result is None else -deep.value - f.log_zero,
            view.index(deep.row),
        ),
        rows_checked=acc.rows_checked,
    )


def _build(src, cfg, view, fmts, methods, cells, groups, rounding, inp, shown) -> rm.SourceReport:  # type: ignore[no-untyped-def]
    out_cells = []
    for f in fmts:
        for t in cfg.temperatures:
            for m in methods:
                metrics = _cell_metrics(cells[(m.name, f.name, t)], groups[(f.name, t)], view)
                verdict, reasons = judge(m.name, f, t, metrics, cfg.thresholds)
                key = (m.name, f.name, str(t))
                out_cells.append(
                    rm.Cell(
                        method=m.name,
                        dtype=f.name,
                        temperature=t,
                        model=cfg.model,
                        verdict=verdict,
                        reasons=tuple(reasons),
                        metrics=metrics,
                        probabilities=shown[key].p if shown else None,
                        log_probabilities=shown[key].logp if shown else None,
                    )
                )
    exact = None
    if shown:
        exact = [
            rm.Exact(
                f.name, t, shown[("exact", f.name, str(t))].p, shown[("exact", f.name, str(t))].logp
            )
            for f in fmts
            for t in cfg.temperatures
        ]
    return rm.SourceReport(
        name=src.name,
        shape=list(view.shape),
        dtype=src.source_dtype,
        dim=cfg.dim,
        rows=view.n_rows,
        row_length=view.row_length,
        softmin=cfg.softmin,
        reference={f.name: reference_precision(f) for f in fmts},
        input=rm.InputSummary(
            min=None if inp.lo > inp.hi else inp.lo,
            max=None if inp.lo > inp.hi else inp.hi,
            nan=inp.nan,
            posinf=inp.posinf,
            neginf=inp.neginf,
            fully_masked_rows=inp.fully_masked_rows,
            upstream_rows=inp.upstream_rows,
            max_logsumexp=inp.lse.result,
            max_logsumexp_row=view.index(inp.lse.row),
        ),
        input_rounding=[
            rm.InputRounding(
                dtype=f.name,
                exact=r.changed == 0 and r.cast_overflow.elements == 0,
                changed_elements=r.changed,
                max_abs_dlogp=r.dlogp.result if r.changed else 0.0,
                kl_max=r.kl_max.result if r.changed else 0.0,
                kl_mean=r.kl_sum.mean,
                cast_overflow=_count(r.cast_overflow, view),
            )
            for f in fmts
            for r in [rounding[f.name]]
        ],
        cells=out_cells,
        notes=list(src.notes),
        exact=exact,
    )


def smcheck_version() -> str:
    return __version__
