"""The analysis loop: chunks of rows × formats × temperatures × methods, merged into a report."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from smcheck import kernels
from smcheck.analysis.bounds import row_features
from smcheck.analysis.cells import Block, HeadroomAccumulator
from smcheck.analysis.gradients import (
    GRADIENT_ARRAYS_PER_ELEMENT,
    exact_gradient,
    gradient_budget,
)
from smcheck.analysis.gradienttargets import Targets, resolve_targets
from smcheck.analysis.inputstats import (
    DivisionAccumulator,
    InputAccumulator,
    RoundingAccumulator,
)
from smcheck.analysis.lane import Lane, Shown
from smcheck.analysis.masks import MaskAccumulator, MaskChunk
from smcheck.analysis.methodinput import (
    method_input,
    prepare_chunk,
    round_chunk,
    scale_by_temperature,
)
from smcheck.analysis.sentinels import SentinelAccumulator
from smcheck.analysis.temperature import SweepAccumulator, critical_temperatures
from smcheck.analysis.use import resolve_use
from smcheck.config import AnalysisConfig
from smcheck.dtypes import FloatFormat, get_format
from smcheck.errors import FLAGS, ConfigError
from smcheck.findings.errorbounds import stall_notes
from smcheck.findings.inputs import masked_target_findings
from smcheck.findings.rounding import division_findings, zero_mass_findings
from smcheck.findings.settling import settle
from smcheck.kernels import compile_all
from smcheck.methods import get_method
from smcheck.progress import ProgressFn
from smcheck.reference.cellref import cell_reference
from smcheck.reference.exact import Reference, exact_softmax, reference_precision, working_dtype
from smcheck.report import model as rm
from smcheck.report.maskmodel import SEVERITIES
from smcheck.sources.chunks import TORCH_GRAIN, float64_chunks, read_ahead
from smcheck.sources.readlimits import ReadLimit, mib_up
from smcheck.sources.rows import WORK_ARRAYS_PER_ELEMENT, RowView
from smcheck.threads import shared_among

if TYPE_CHECKING:
    from smcheck.sources.loaders import LoadedArray

SMALL_ELEMENTS = 64
"""Inputs up to this many elements (and 8 rows) show every probability beside the exact ones."""


def _is_small(view: RowView) -> bool:
    return view.n_rows <= 8 and view.n_rows * view.row_length <= SMALL_ELEMENTS


class SourceAnalysis:
    """Every accumulator of one source's analysis; chunks go in, the SourceReport comes out."""

    def __init__(self, view: RowView, cfg: AnalysisConfig) -> None:
        self.view, self.cfg = view, cfg
        self.fmts = [get_format(d) for d in cfg.dtypes]
        self.methods = [get_method(m) for m in cfg.methods]
        self.small = _is_small(view)
        self.use, self.use_reason = resolve_use(
            view, cfg, cfg.chunk_rows or view.chunk_rows(cfg.memory_budget)
        )
        # gradients only where the loss is judged, unless --gradients/--no-gradients says;
        # they need autograd: the framework model only (the strict model reports them as null)
        wanted = self.use == "loss" if cfg.gradients is None else cfg.gradients
        self.targets: Targets | None = resolve_targets(cfg.targets, view) if wanted else None
        self.gradients = self.targets is not None and cfg.model == "framework"
        given = not (isinstance(cfg.targets, str) and cfg.targets == "argmax")  # not the default
        self.unused = (  # targets given that no loss reads: said, not silently dropped
            [f"the targets given are not used: no gradients run ({why_no_loss(self, cfg)})"]
            if given and not self.gradients
            else []
        )
        self.lanes: dict[tuple[str, float], list[Lane]] = {
            (f.name, t): [
                Lane.open(m, f, t, cfg, gradients=self.gradients, small=self.small)
                for m in self.methods
            ]
            for f in self.fmts
            for t in cfg.temperatures
        }
        self.headroom = {key: HeadroomAccumulator(get_format(key[0])) for key in self.lanes}
        self.exact = {key: Shown() for key in self.lanes} if self.small else None
        self.rounding = {f.name: RoundingAccumulator(f) for f in self.fmts}
        # what rounding x/T does (float64: at most |x/T| 2^-53 in log p, not measured)
        self.division = {
            key: DivisionAccumulator(get_format(key[0]), key[1])
            for key in self.lanes
            if key[1] != 1.0 and get_format(key[0]).t <= 24
        }
        self.inputs = InputAccumulator()
        sentinels = SentinelAccumulator(cfg.sentinel)
        self.masks = MaskAccumulator(sentinels=sentinels, softmin=cfg.softmin)
        self.masks.expect([f.name for f in self.fmts], cfg.temperatures, list(cfg.methods))
        self.pool: ThreadPoolExecutor | None = None
        """Threads for a chunk's formats (:meth:`formats_on`); None: one after another."""
        self.seconds = {f.name: 0.0 for f in self.fmts}
        """Each format's time on the last chunk: the pool takes the longest first."""
        self.sweep = SweepAccumulator(cfg.temperatures)
        self.src_dtype = np.dtype(view.dtype)

    def workers(self) -> int:
        """How many formats of a chunk run at once: as many as the kernels have threads, at
        most one per format; one where a row per format at once would pass the budget, or
        where torch would split a row's sums between its threads (a chunk of fewer rows than
        threads: chunks.chunk_bounds), whose bits then follow the threads a format gets."""
        import torch

        n = min(len(self.fmts), kernels.threads())
        if n == 1 or self.view.row_length * self._element_bytes() * n > self.cfg.memory_budget:
            return 1
        threads, view = torch.get_num_threads(), self.view
        splits = (threads - 1) * view.row_length >= TORCH_GRAIN
        return 1 if splits and min(view.n_rows, self.chunk_rows(n)) < threads else n

    def _element_bytes(self) -> int:
        """Working memory per input element the budget counts (float64 temporaries)."""
        return 8 * (WORK_ARRAYS_PER_ELEMENT + GRADIENT_ARRAYS_PER_ELEMENT * self.gradients)

    def budget_rows(self, workers: int = 1) -> int:
        """Rows a chunk may hold within the memory budget, its formats ``workers`` at once; a
        row that alone does not fit is refused here, before any of it is read (its temporaries
        would pass the budget)."""
        cfg, view = self.cfg, self.view
        per_element = self._element_bytes()
        need = view.row_length * per_element
        if need > cfg.memory_budget:
            limit = ReadLimit(cfg.memory_budget, view.spelling)
            raise ConfigError(
                f"{view.name}: one row of {view.row_length} elements needs "
                f"{mib_up(need)} of working memory ({per_element} bytes per element), "
                f"more than {limit.named()} allows; {limit.raise_it(need)}",
                options=("memory_budget",),
            )
        budget = gradient_budget(cfg.memory_budget) if self.gradients else cfg.memory_budget
        return view.chunk_rows(budget // workers)

    def chunk_rows(self, workers: int = 1) -> int:
        """Rows per chunk: configured, or what the memory budget allows."""
        return self.cfg.chunk_rows or self.budget_rows(workers)

    def add(self, start: int, raw: np.ndarray) -> None:
        """Fold in the float64 chunk of rows ``start ..``."""
        x, upstream, masked = prepare_chunk(raw, self.cfg.softmin)
        base_valid = ~upstream & ~masked
        ref0 = exact_softmax(x)
        mchunk = self.masks.add_source(x, upstream, masked, start)
        self.inputs.add(
            x, ref0, upstream | masked, start, mchunk.mask_rows, mchunk.sentinel_entries
        )
        self.sweep.add(x, base_valid)
        tgt = None
        if self.gradients and self.targets is not None:
            tgt = self.targets.rows(x, start, skip=mchunk.sentinel_entries)
        args = (start, x, ref0, base_valid, mchunk, tgt)
        if self.pool is None:
            for f in self.fmts:
                self._add_format(f, *args)
        else:  # every format's accumulators are its own: only their order of work differs
            # longest first, as the last chunk timed them: four formats on two threads then end
            # closer together (float16 and float64 take the longest, by up to 1.6x float32's)
            todo = sorted(self.fmts, key=lambda f: -self.seconds[f.name])
            for done in [self.pool.submit(self._timed_format, f, *args) for f in todo]:
                done.result()

    def _timed_format(self, f: FloatFormat, *args: object) -> None:
        start = time.perf_counter()
        self._add_format(f, *args)  # type: ignore[arg-type]
        self.seconds[f.name] = time.perf_counter() - start

    @contextlib.contextmanager
    def formats_on(self, workers: int) -> Iterator[None]:
        """Run each chunk's formats on ``workers`` threads for the block (1: in this one)."""
        if workers == 1:
            yield
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="smcheck-format") as pool:
            self.pool = pool
            try:
                yield
            finally:  # after an error or ^C, the formats not started are not
                self.pool = None
                pool.shutdown(cancel_futures=True)

    def _add_format(
        self,
        f: FloatFormat,
        start: int,
        x: np.ndarray,
        ref0: Reference,
        base_valid: np.ndarray,
        mchunk: MaskChunk,
        tgt: np.ndarray | None,
    ) -> None:
        import torch

        cfg = self.cfg
        xd = round_chunk(x, f, cfg.ftz, self.src_dtype)
        # the T=1 reference of the rounded input: computed once, shared with the rounding
        # summary and the cells (for an input that rounding leaves unchanged it is ref0)
        rd = ref0 if xd is x else (None if f.t > 24 else exact_softmax(xd))
        valid = self.rounding[f.name].add(
            x, xd, ref0, base_valid, start, rd=rd, masks=mchunk.sentinel_entries
        )
        self.masks.add_cast(mchunk, f, xd)
        xw = xd if f.t > 24 else xd.astype(working_dtype(f))  # float64 cells: double-double
        xt = torch.from_numpy(xd).to(f.torch_dtype())  # exact: xd holds values of f
        for t in cfg.temperatures:
            xs, xsw, scale_over = scale_by_temperature(xt, xw, f, t)
            # the reference is the softmax of what the methods see, fl(x/T): rounding x/T is
            # the format's (measured by ``division``), as the cast is, not a method's error
            xin = xsw if t == 1.0 else method_input(xs, xsw, scale_over)
            ref = cell_reference(xin, xin, f, 1.0, rd if t == 1.0 else None)
            # rows entirely -inf once cast and divided by T are a finding, not the methods'
            valid_t = self.masks.add_format(mchunk, f, t, xs, ref, valid)
            live = valid_t[:, None] & (xsw != -np.inf) & ~mchunk.sentinel_entries
            if (f.name, t) in self.division:
                exact = ref if xin is xsw else cell_reference(xd, xsw, f, t, None)
                self.division[(f.name, t)].add(xin, xsw, ref, exact, live, start)
            blk = Block(start, f, valid_t, live, ref, scale_over, xin, 1)
            eg = exact_gradient(blk, tgt) if tgt is not None else None
            self.headroom[(f.name, t)].add(blk)
            feats = row_features(xin, ref, live, f)
            if self.exact is not None:
                self.exact[(f.name, t)].keep(ref.p, ref.logp)
            for lane in self.lanes[(f.name, t)]:
                out = lane.forward(xs, eg, cfg)
                lane.add(out, blk, feats)
                self.masks.add_output(mchunk, lane.method.name, f.name, t, out)

    def report(self, src: LoadedArray, temperature: rm.TemperatureAnalysis) -> rm.SourceReport:
        """The source's report from everything accumulated."""
        view, cfg = self.view, self.cfg
        sentinels = self.masks.sentinel_reports(view)
        headroom = {key: acc.result(view.index) for key, acc in self.headroom.items()}
        cells = [
            lane.result(
                self,
                headroom[key],
                {k: self.masks.masked_by(*key, sentinels, k) for k in (False, True)},
            )
            for key, lanes in self.lanes.items()
            for lane in lanes
        ]
        inp = self.inputs.result(self.masks, view, src.source_dtype)
        rounding = [self._rounding(f.name) for f in self.fmts]
        found = [
            *inp.findings,
            *division_findings(rounding, cfg.thresholds),
            *zero_mass_findings(headroom, cfg.thresholds),
            *masked_target_findings(cells, self.use),
        ]
        found.sort(key=lambda f: -SEVERITIES.index(f.severity))  # most severe first, stably
        inp = dataclasses.replace(inp, findings=found)
        # each remedy is re-picked knowing every cell: a switch seen to fail is not advised
        largest, lowest = self.inputs.judged_hi, self.inputs.judged_floor
        mask_lowest = self.inputs.mask_floor
        cells = settle(
            cells,
            use=self.use,
            masked=inp.has_masks,
            largest=largest,
            lowest=lowest,
            mask_lowest=mask_lowest,
            softmin=cfg.softmin,
            gradient_abs_u=cfg.thresholds.gradient_abs_u,
        )
        exact = None
        if self.exact is not None:
            exact = [rm.Exact(f, t, s.p, s.logp) for (f, t), s in self.exact.items()]
        return rm.SourceReport(
            name=src.name,
            shape=list(view.shape),
            dtype=src.source_dtype,
            dim=cfg.dim,
            rows=view.n_rows,
            row_length=view.row_length,
            softmin=cfg.softmin,
            reference={f.name: reference_precision(f) for f in self.fmts},
            input=inp,
            input_rounding=rounding,
            cells=cells,
            notes=[
                *src.notes_read(view.rounded),
                *self.unused,
                *stall_notes(view.row_length, self.fmts, self.inputs.longest_live),
            ],
            exact=exact,
            temperature=temperature,
            use=self.use,
            use_reason=self.use_reason,
        )

    def _rounding(self, dtype: str) -> rm.InputRounding:
        """The cast's effect on the input, and the division's at each T."""
        division = [a.result(self.view.index) for (d, _), a in self.division.items() if d == dtype]
        return dataclasses.replace(self.rounding[dtype].result(self.view.index), division=division)


def why_no_loss(run: SourceAnalysis, cfg: AnalysisConfig) -> str:
    """Why an analysis runs no gradients, for the note on unused targets."""
    if cfg.model != "framework":
        return "the strict model has no autograd"
    if cfg.gradients is False:
        return "--no-gradients"
    return f"the use is {run.use}, which judges no loss; --use loss or --gradients would"


def analyze_array(
    src: LoadedArray,
    cfg: AnalysisConfig,
    progress: ProgressFn | None = None,
    spelling: str = FLAGS,
) -> rm.SourceReport:
    """Run every configured cell on one loaded source and build its report.

    Args:
        src: the loaded source.
        cfg: the analysis options; ``cfg.targets`` is ``argmax``, ``argmin`` or read indices.
        progress: called as ``progress(task, done, total)`` after each chunk and each
            critical-temperature step.
        spelling: how an error names an option the user gave (smcheck.errors.FLAGS, ARGUMENTS).

    Returns:
        The source's report.
    """
    import torch

    # normal tensors even where the caller runs under torch.inference_mode(): the gradient
    # checks need autograd, and the methods' shared intermediates are keyed by version counters
    with torch.inference_mode(False):
        return _analyze_array(src, cfg, progress, spelling)


def _analyze_array(
    src: LoadedArray, cfg: AnalysisConfig, progress: ProgressFn | None, spelling: str
) -> rm.SourceReport:
    """:func:`analyze_array`, run outside inference mode."""
    view = RowView(src.stored, cfg.dim, src.name, src.decoder, spelling)
    run = SourceAnalysis(view, cfg)
    workers = run.workers()
    chunk = run.chunk_rows(workers)
    # before the first chunk, so a first run's compile shows as its own bar and not as a
    # stalled "analysing rows"; a no-op once done in this process, a cache load after a first run
    compile_all(progress)
    # the next chunk is read and cast in a background thread while this one is analysed
    with shared_among(workers), run.formats_on(workers):
        for start, x in read_ahead(float64_chunks(view, chunk, run.budget_rows(workers))):
            run.add(start, x)
            if progress is not None:
                progress("analysing rows", start + len(x), view.n_rows)
    temperature = rm.TemperatureAnalysis(run.sweep.result())
    if cfg.wants_critical:
        # after the formats' threads: one format at a time, its chunk not halved
        cast = {f.name: run.rounding[f.name].cast_posinf.result(view.index) for f in run.fmts}
        critical, scan = critical_temperatures(
            view,
            cfg,
            run.fmts,
            run.methods,
            run.chunk_rows(),
            progress,
            cast,
            largest=run.inputs.judged_hi,
            mask_lowest=run.inputs.mask_floor,
            cast_masked={f.name: run.masks.cast_masked(f.name) for f in run.fmts},
            use=run.use,
        )
        temperature = rm.TemperatureAnalysis(temperature.sweep, critical, scan)
    return run.report(src, temperature)
