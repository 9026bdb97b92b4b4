"""One method × format × temperature cell of an analysis: its accumulators over the chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from smcheck.analysis.boundcheck import BoundsAccumulator, StallAccumulator, stall_limit
from smcheck.analysis.bounds import RowFeatures
from smcheck.analysis.cells import Block, CellAccumulator
from smcheck.analysis.gradients import ExactGradient, GradientAccumulator, forward_backward
from smcheck.analysis.methodinput import run_method
from smcheck.config import AnalysisConfig
from smcheck.dtypes import FloatFormat
from smcheck.findings.verdicts import MASKED_NAN, MaskedNaN, judge
from smcheck.methods.base import MethodOutput, SoftmaxMethod
from smcheck.report import model as rm
from smcheck.report.phrases import cell_name

if TYPE_CHECKING:
    import torch

    from smcheck.analysis.engine import SourceAnalysis


@dataclass
class Shown:
    """Every row's outputs, kept for small inputs."""

    p: list[list[float]] = field(default_factory=list)
    logp: list[list[float]] = field(default_factory=list)

    def keep(self, p: np.ndarray, logp: np.ndarray) -> None:
        """Append a chunk's rows."""
        self.p.extend(np.asarray(p, dtype=np.float64).tolist())
        self.logp.extend(np.asarray(logp, dtype=np.float64).tolist())


@dataclass
class Lane:
    """One method × format × temperature cell: its accumulators over the chunks of a source."""

    method: SoftmaxMethod
    fmt: FloatFormat
    temperature: float
    cell: CellAccumulator
    bounds: BoundsAccumulator
    stall: StallAccumulator
    gradient: GradientAccumulator | None
    """None when no gradients are measured (strict model, --no-gradients)."""
    shown: Shown | None
    """None unless the input is small."""

    @classmethod
    def open(
        cls,
        m: SoftmaxMethod,
        f: FloatFormat,
        t: float,
        cfg: AnalysisConfig,
        *,
        gradients: bool,
        small: bool,
    ) -> Lane:
        """A lane with empty accumulators."""
        return cls(
            m,
            f,
            t,
            CellAccumulator(f),
            BoundsAccumulator(m.name, cfg.model, f, cfg.ftz),
            StallAccumulator(f, stall_limit(f, cfg.thresholds)),
            GradientAccumulator(f, keep=small) if gradients else None,
            Shown() if small else None,
        )

    def forward(
        self, xs: torch.Tensor, eg: ExactGradient | None, cfg: AnalysisConfig
    ) -> MethodOutput:
        """The method's output on the scaled chunk (and its gradient, folded in, if measured)."""
        if self.gradient is not None and eg is not None:
            # one forward feeds both the forward metrics and the backward pass
            return forward_backward(self.method.framework, xs, eg, self.gradient)
        return run_method(self.method, cfg.model, xs, self.fmt, cfg.ftz)

    def add(self, out: MethodOutput, blk: Block, feats: RowFeatures) -> None:
        """Fold one chunk of the method's output into every accumulator of the lane."""
        per_row = self.cell.add(out, blk)
        self.bounds.add(per_row, blk, feats)
        self.stall.add(out, blk)
        if self.shown is not None:
            self.shown.keep(out.p, out.logp)

    def result(
        self, src: SourceAnalysis, headroom: rm.Headroom, why_masked: dict[bool, str]
    ) -> rm.Cell:
        """The report's cell, judged (``why_masked``: what fully masked rows of finite logits
        in this format and T, for the NaN the method returns there; True: rows of masks)."""
        view, cfg, masks = src.view, src.cfg, src.masks
        m, f, t = self.method.name, self.fmt, self.temperature
        masked = []
        for kind, why in why_masked.items():  # rows of logits and rows of masks: a finding each
            nan = masks.masked_nan(m, f.name, t, kind)
            if nan.elements:  # NaN from finite logits: the cell's NaN, with its own finding
                self.cell.nan.merge(nan)
                masked.append(
                    MaskedNaN(nan.elements, nan.rows, view.index(nan.worst_row), why, kind)
                )
        if masked:
            self.cell.nan_causes[MASKED_NAN] = sum(mk.elements for mk in masked)
        cast = src.rounding[f.name].cast_posinf.result(view.index)
        metrics = self.cell.result(headroom, view.index, cast, masks.masked_rows(f.name, t))
        bounds = self.bounds.result(view.index, cfg.thresholds)
        acc = self.stall.result(view.index)
        target = src.targets.label if src.targets is not None else ""
        grad = self.gradient.result(view, target) if self.gradient is not None else None
        verdict, findings = judge(
            m,
            f,
            t,
            metrics,
            cfg.thresholds,
            bounds=bounds,
            accumulation=acc,
            gradient=grad,
            use=src.use,
            masked=masked,
            has_masks=bool(src.inputs.neginf or src.masks.sentinels.stats),
            softmin=cfg.softmin,
        )
        return rm.Cell(
            method=m,
            dtype=f.name,
            temperature=t,
            model=cfg.model,
            verdict=verdict,
            reasons=tuple(x.sentence(cell_name(m, f.name, t)) for x in findings),
            metrics=metrics,
            gradient=grad,
            probabilities=self.shown.p if self.shown is not None else None,
            log_probabilities=self.shown.logp if self.shown is not None else None,
            bounds=bounds,
            accumulation=acc,
            fully_masked_output=masks.masked_output(m, f.name, t),
            findings=tuple(findings),
            hypothetical=m in cfg.comparisons,
        )
