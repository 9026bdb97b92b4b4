"""The Python API: ``analyze(source, ...) -> Report``. Orchestration only; no printing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from smcheck import __version__
from smcheck.config import TARGET_RULES, AnalysisConfig, Thresholds
from smcheck.dtypes import DTYPES
from smcheck.analysis.engine import analyze_array
from smcheck.sources.loaders import LoadedArray, array_source, load_logits
from smcheck.methods import DEFAULT_METHODS, STRICT_DEFAULT_METHODS
from smcheck.openmp import bound_spin_waiting
from smcheck.progress import ProgressFn
from smcheck.report.model import Report, SourceReport
from smcheck.sources.targets import TargetIndices, read_targets


def resolve_source(source: Any) -> LoadedArray:
    """A path, ``gen:`` spec, numpy array or torch tensor, as a loaded array."""
    if isinstance(source, LoadedArray):
        return source
    if isinstance(source, (str, Path)):
        return load_logits(str(source))
    return array_source(source)


def analyze(
    source: Any,
    *,
    dim: int = -1,
    dtypes: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    temperatures: Iterable[float] | None = None,
    model: str = "framework",
    targets: Any = None,
    gradients: bool = True,
    softmin: bool = False,
    ftz: bool = False,
    memory_budget: int | None = None,
    chunk_rows: int | None = None,
    thresholds: Thresholds | None = None,
    progress: ProgressFn | None = None,
    critical: bool | None = None,
) -> Report:
    """Analyse the softmax of ``source`` in several formats with several methods.

    Args:
        source: a file path (``.npy``, ``.npz[:key]``, ``.pt[:key]``, ``.safetensors[:key]``,
            ``.csv``, ``.txt``, ``.json``), a generator spec ``gen:NAME[:k=v,...]``, a numpy
            array or a torch tensor.
        dim: the softmax axis; every other axis is flattened into rows.
        dtypes: formats to analyse (default float16, bfloat16, float32, float64).
        methods: method ids (default naive, shifted, logdomain, torch; under the strict model
            naive, shifted, logdomain); also lse-direct and online.
        temperatures: divide the logits by each T in the format before the softmax.
        model: arithmetic model, ``framework`` (PyTorch ops) or ``strict``.
        targets: class targets for the gradient diagnostics: ``argmax`` (default), ``argmin``,
            a path to class indices (one per row) or an array of them.
        gradients: back-propagate the cross-entropy loss through each method in each format
            (framework model; ``cell.gradient`` is None when off).
        softmin: analyse softmax(-x).
        ftz: flush subnormal results to zero (strict model).
        memory_budget: bytes of temporaries per chunk of rows.
        chunk_rows: rows per chunk (overrides memory_budget).
        thresholds: where findings become WARN.
        progress: ``progress(task, done, total)`` called as work advances (rows analysed,
            critical-temperature steps), e.g. to draw a bar; the library never prints.
        critical: search each method × dtype's critical temperatures (lowest safe T, one-hot
            collapse); None does so only when several temperatures are given.

    Returns:
        A :class:`~smcheck.report.model.Report`; ``report.to_dict()`` is the JSON contract.
    """
    bound_spin_waiting()  # before anything imports torch
    cfg = make_config(
        dim=dim,
        dtypes=dtypes,
        methods=methods,
        temperatures=temperatures,
        model=model,
        targets=targets,
        gradients=gradients,
        softmin=softmin,
        ftz=ftz,
        memory_budget=memory_budget,
        chunk_rows=chunk_rows,
        thresholds=thresholds,
        critical=critical,
    )
    return Report(
        sources=[analyze_loaded(resolve_source(source), cfg, progress)],
        smcheck_version=__version__,
    )


def analyze_loaded(
    src: LoadedArray, cfg: AnalysisConfig, progress: ProgressFn | None = None
) -> SourceReport:
    """One loaded source's report; a targets file or array in ``cfg`` is read first.

    Args:
        src: the loaded logits.
        cfg: the analysis options.
        progress: see :func:`analyze`.

    Raises:
        LoadError: the targets cannot be read, or do not fit the source's rows.
    """
    return analyze_array(src, with_targets_read(cfg), progress)


def with_targets_read(cfg: AnalysisConfig) -> AnalysisConfig:
    """``cfg`` with a targets path or array read into TargetIndices (the engine reads no files).

    Only when gradients are measured: otherwise the targets are not used, and not read.
    """
    t = cfg.targets
    if not cfg.gradients or isinstance(t, TargetIndices):
        return cfg
    if isinstance(t, str) and t in TARGET_RULES:
        return cfg
    return dataclasses.replace(cfg, targets=read_targets(t))


def make_config(**options: Any) -> AnalysisConfig:
    """An :class:`AnalysisConfig` from keyword options, where None means the default."""
    defaults = {"dtypes": DTYPES, "methods": DEFAULT_METHODS, "temperatures": (1.0,)}
    if options.get("model") == "strict":
        defaults["methods"] = STRICT_DEFAULT_METHODS  # torch's fused kernel has no strict form
    # None or an empty selection (a CLI option not given) means the default
    kwargs = {
        k: (defaults.get(k) if v is None or (isinstance(v, tuple) and v == ()) else v)
        for k, v in options.items()
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    for k in ("dtypes", "methods", "temperatures"):
        if k in kwargs:
            kwargs[k] = tuple(kwargs[k])
    return AnalysisConfig(**kwargs)
