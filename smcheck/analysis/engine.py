"""The analysis loop: chunks of rows × formats × temperatures × methods, merged into a report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smcheck import __version__
from smcheck.analysis.boundcheck import BoundsAccumulator, StallAccumulator, stall_limit
from smcheck.analysis.bounds import row_features
from smcheck.analysis.chunkflow import cell_reference, float64_chunks, read_ahead, round_chunk
from smcheck.config import AnalysisConfig
from smcheck.analysis.cells import Block, CellAccumulator, GroupAccumulator
from smcheck.dtypes import FloatFormat, get_format
from smcheck.analysis.gradients import (
    GradientAccumulator,
    exact_gradient,
    forward_backward,
    gradient_budget,
)
from smcheck.findings.errorbounds import stall_notes
from smcheck.findings.inputs import input_findings
from smcheck.analysis.inputstats import InputAccumulator, RoundingAccumulator
from smcheck.analysis.masks import MaskAccumulator
from smcheck.methods import get_method
from smcheck.progress import ProgressFn
from smcheck.reference.exact import exact_softmax, reference_precision, working_dtype
from smcheck.report import model as rm
from smcheck.sources.rows import RowView, row_block_mask
from smcheck.analysis.stats import CountStat
from smcheck.analysis.targets import resolve_targets
from smcheck.analysis.temperature import SweepAccumulator, critical_temperatures
from smcheck.findings.verdicts import judge

if TYPE_CHECKING:
    from smcheck.sources.loaders import LoadedArray

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
    src: LoadedArray, cfg: AnalysisConfig, progress: ProgressFn | None = None
) -> rm.SourceReport:
    """Run every configured cell on one loaded source and build its report.

    ``progress(task, done, total)`` is called after each chunk and each critical-temperature step.
    """
    import torch

    view = RowView(src.array, cfg.dim, src.name)
    fmts = [get_format(d) for d in cfg.dtypes]
    methods = [get_method(m) for m in cfg.methods]
    temps = cfg.temperatures
    cells = {(m.name, f.name, t): CellAccumulator(f) for f in fmts for t in temps for m in methods}
    groups = {(f.name, t): GroupAccumulator(f) for f in fmts for t in temps}
    checks = {
        (m.name, f.name, t): BoundsAccumulator(m.name, cfg.model, f, cfg.ftz)
        for f in fmts
        for t in temps
        for m in methods
    }
    stalls = {
        key: StallAccumulator(get_format(key[1]), stall_limit(get_format(key[1]), cfg.thresholds))
        for key in cells
    }
    rounding = {f.name: RoundingAccumulator(f) for f in fmts}
    inp = InputAccumulator()
    masks = MaskAccumulator()
    small = _is_small(view)
    shown: dict[tuple[str, ...], _Small] = {}
    # gradients need autograd: the framework model only (the strict model reports them as null)
    targets = resolve_targets(cfg.targets, view) if cfg.gradients else None
    grads = {
        k: GradientAccumulator(c.fmt, keep=small)
        for k, c in cells.items()
        if targets is not None and cfg.model == "framework"
    }
    sweep = SweepAccumulator(temps)

    budget = gradient_budget(cfg.memory_budget) if grads else cfg.memory_budget
    chunk = cfg.chunk_rows or view.chunk_rows(budget)
    src_dtype = np.dtype(view.dtype)
    # the next chunk is read and cast in a background thread while this one is analysed
    for start, x in read_ahead(float64_chunks(view, chunk)):
        if cfg.softmin:
            x = -x  # Softmin(x) = softmax(-x); negation is exact
        upstream, masked = row_block_mask(x)
        base_valid = ~upstream & ~masked
        ref0 = exact_softmax(x)
        inp.add(x, ref0, upstream, masked, start)
        sweep.add(x, base_valid)
        mchunk = masks.add_source(x, upstream, masked, start)
        tgt = None
        if grads and targets is not None:
            tgt = targets.rows(x, start, skip=mchunk.sentinel_entries)
        for f in fmts:
            xd = round_chunk(x, f, cfg.ftz, src_dtype)
            # the T=1 reference of the rounded input: computed once, shared with the rounding
            # summary and the cells (for an input that rounding leaves unchanged it is ref0)
            rd = ref0 if xd is x else (None if f.t > 24 else exact_softmax(xd))
            valid = rounding[f.name].add(x, xd, ref0, base_valid, start, rd=rd)
            masks.add_cast(mchunk, f, xd)
            xw = xd if f.t > 24 else xd.astype(working_dtype(f))  # float64 cells: double-double
            xt = torch.from_numpy(xd).to(f.torch_dtype())  # exact: xd holds values of f
            for t in temps:
                xs, xsw, scale_over = _scaled(xt, xw, f, t)
                ref = cell_reference(xd, xsw, f, t, rd)
                # rows entirely -inf once cast and divided by T are a finding, not the methods'
                valid_t = masks.add_format(mchunk, f, t, xs, ref.p, valid)
                live = valid_t[:, None] & ~np.isneginf(xsw) & ~mchunk.sentinel_entries
                blk = Block(start, f, valid_t, live, ref, scale_over)
                eg = exact_gradient(blk, tgt) if tgt is not None else None
                groups[(f.name, t)].add(xsw, blk)
                feats = row_features(xsw, ref, live, f)
                if small:
                    _keep(shown, ("exact", f.name, str(t)), ref.p, ref.logp)
                for m in methods:
                    if cfg.model == "framework" and eg is not None:
                        # one forward feeds both the forward metrics and the backward pass
                        out = forward_backward(m.framework, xs, eg, grads[(m.name, f.name, t)])
                    elif cfg.model == "framework":
                        out = m.framework(xs).to_output()
                    else:
                        # the strict model starts from the same rounded x/T the framework sees
                        out = m.strict(xs.to(torch.float64).numpy(), f, cfg.ftz)
                    per_row = cells[(m.name, f.name, t)].add(out, blk)
                    checks[(m.name, f.name, t)].add(per_row, blk, feats)
                    stalls[(m.name, f.name, t)].add(out, blk)
                    masks.add_output(mchunk, m.name, f.name, t, out)
                    if small:
                        _keep(shown, (m.name, f.name, str(t)), out.p, out.logp)
        if progress is not None:
            progress("analysing rows", start + len(x), view.n_rows)

    temperature = rm.TemperatureAnalysis(sweep.result())
    if cfg.wants_critical:
        critical, scan = critical_temperatures(view, cfg, fmts, methods, chunk, progress)
        temperature = rm.TemperatureAnalysis(temperature.sweep, critical, scan)
    label = targets.label if targets is not None else ""
    gradient = {k: a.metrics(view, label) for k, a in grads.items()}
    report = _build(
        src,
        cfg,
        view,
        fmts,
        methods,
        cells,
        groups,
        rounding,
        inp,
        shown if small else None,
        checks,
        stalls,
        masks,
        gradient,
    )
    return dataclasses.replace(report, temperature=temperature)


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


def _build(  # type: ignore[no-untyped-def]
    src, cfg, view, fmts, methods, cells, groups, rounding, inp, shown, checks, stalls, masks,
    gradient,
) -> rm.SourceReport:
    out_cells = []
    for f in fmts:
        for t in cfg.temperatures:
            for m in methods:
                metrics = _cell_metrics(cells[(m.name, f.name, t)], groups[(f.name, t)], view)
                bounds = checks[(m.name, f.name, t)].result(view.index, cfg.thresholds)
                acc = stalls[(m.name, f.name, t)].result(view.index)
                grad = gradient.get((m.name, f.name, t))
                verdict, reasons = judge(
                    m.name,
                    f,
                    t,
                    metrics,
                    cfg.thresholds,
                    bounds=bounds,
                    accumulation=acc,
                    gradient=grad,
                )
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
                        gradient=grad,
                        probabilities=shown[key].p if shown else None,
                        log_probabilities=shown[key].logp if shown else None,
                        bounds=bounds,
                        accumulation=acc,
                        fully_masked_output=masks.masked_output(m.name, f.name, t),
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
            **_mask_fields(masks, inp, view),
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
        notes=list(src.notes) + stall_notes(view.row_length, fmts),
        exact=exact,
    )


def _mask_fields(masks: MaskAccumulator, inp: InputAccumulator, view: RowView) -> dict:  # type: ignore[type-arg]
    """The InputSummary fields about masks, sentinels and upstream rows, with their findings."""
    became, sentinels = masks.became_masked(view), masks.sentinel_reports(view)
    outputs = {k: masks.masked_output(*k) for k in masks.outputs}
    return {
        "upstream_first_row": view.index(masks.upstream.worst_row),
        "fully_masked_first_row": view.index(masks.masked.worst_row),
        "became_fully_masked": became,
        "sentinels": sentinels,
        "findings": input_findings(
            upstream_rows=inp.upstream_rows,
            upstream_first=view.index(masks.upstream.worst_row),
            nan=inp.nan,
            posinf=inp.posinf,
            masked_rows=inp.fully_masked_rows,
            masked_first=view.index(masks.masked.worst_row),
            outputs=outputs,
            became=became,
            sentinels=sentinels,
        ),
    }


def smcheck_version() -> str:
    return __version__
