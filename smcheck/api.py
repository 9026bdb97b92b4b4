"""The Python API: sources + options -> ``Report`` (the one source loop). No printing."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from smcheck import __version__
from smcheck.analysis.engine import analyze_array
from smcheck.config import (
    DEFAULT_MEMORY_BUDGET,
    TARGET_RULES,
    AnalysisConfig,
    Thresholds,
    empty_refused,
)
from smcheck.environment import collect_environment
from smcheck.errors import (
    ARGUMENTS,
    FLAGS,
    ConfigError,
    SeveralTensorsError,
    SmcheckError,
    naming_option,
)
from smcheck.progress import ProgressFn
from smcheck.report.model import Report, SourceReport
from smcheck.report.violations import SkippedSource, SourceError
from smcheck.sources.expand import SourceSpec
from smcheck.sources.generators import generate_logits, parse_generator_spec, parse_shape
from smcheck.sources.loaders import (
    LoadedArray,
    array_source,
    load_logits,
    parse_values,
    split_key,
)
from smcheck.sources.targets import TargetIndices, read_targets
from smcheck.threads import bound_spin_waiting, using_threads


def resolve_source(
    source: Any,
    stdin: BinaryIO | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    spelling: str = FLAGS,
) -> LoadedArray:
    """A path, ``gen:`` spec, expanded :class:`SourceSpec`, numpy array or torch tensor, loaded.

    Args:
        source: what to load; ``-`` reads ``stdin``.
        stdin: the stream read for ``-`` (default ``sys.stdin.buffer``).
        memory_budget: bytes a source read whole into memory may take (see ``load_logits``).
        spelling: how a refusal names the memory budget (see ``load_logits``).

    Returns:
        The loaded array (raises LoadError or ConfigError).
    """
    if isinstance(source, LoadedArray):
        return source
    if isinstance(source, (str, os.PathLike, SourceSpec)):
        spec = source.spec if isinstance(source, SourceSpec) else source
        return load_logits(spec, stdin=stdin, memory_budget=memory_budget, spelling=spelling)
    return array_source(source)


def input_files(
    specs: Sequence[Any], targets: Any = None, stdin: BinaryIO | None = None
) -> list[str | int]:
    """The files a run reads, so that no output is written over one (``output``).

    Args:
        specs: sources as :func:`resolve_source` takes them; ``gen:`` specs and arrays read no
            file, ``FILE:KEY`` reads FILE.
        targets: the targets option: a file of class indices is read too.
        stdin: the stream read for ``-``: its file descriptor stands for it.

    Returns:
        Paths, and the descriptor of standard input when ``-`` is a source.
    """
    named = isinstance(targets, (str, os.PathLike))
    if named and os.fsdecode(targets).strip().lower() not in TARGET_RULES:
        specs = [*specs, targets]
    out: list[str | int] = []
    for s in specs:
        path = s.path if isinstance(s, SourceSpec) else s
        if not isinstance(path, (str, os.PathLike)) or os.fsdecode(path).startswith("gen:"):
            continue
        if os.fsdecode(path) == "-":
            with contextlib.suppress(AttributeError, OSError, ValueError):  # BytesIO, closed
                out.append(stdin.fileno())  # type: ignore[union-attr]
        else:
            out.append(split_key(os.fsdecode(path))[0])
    return out


def _source_label(source: Any) -> str:
    """How a source is named in a :class:`SourceError`: its spec, path or array name."""
    if isinstance(source, SourceSpec):
        return source.spec
    if isinstance(source, LoadedArray):
        return source.name
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    return "array"


def each_source(
    specs: Sequence[Any],
    cfg: AnalysisConfig,
    *,
    stdin: BinaryIO | None = None,
    progress: ProgressFn | None = None,
    keep_going: bool = False,
    explain: Callable[[SmcheckError], str] = str,
    skip_multi_tensor: bool = False,
    spelling: str = FLAGS,
) -> Iterator[tuple[Any, SourceReport | SourceError | SkippedSource]]:
    """Load and analyse each source in turn: the one loop behind analyze, check and the API.

    Args:
        specs: sources as :func:`resolve_source` takes them, analysed in this order.
        cfg: the analysis to run on each.
        stdin: the stream read for ``-``.
        progress: ``progress(task, done, total)``, passed to the engine.
        keep_going: a source that cannot be read or analysed yields its :class:`SourceError`
            and the others still run; otherwise its error raises.
        explain: the message of a :class:`SourceError` from its error (``check`` names the
            config file that set a value the error refuses).
        skip_multi_tensor: a file of several tensors given without a key (a checkpoint)
            yields a :class:`SkippedSource`, not an error.
        spelling: how an error names an option given with a value: ``--dim 5`` (FLAGS), or
            ``dim=5`` (smcheck.errors.ARGUMENTS) from the Python API.

    Yields:
        Each spec with its report, or with its error when ``keep_going``; the analysis runs on
        ``cfg.threads`` threads, restored when the loop ends. The targets file is read once,
        before the first source (its errors are never a source's).
    """
    cfg = with_targets_read(cfg, spelling)
    with using_threads(cfg.threads):
        for spec in specs:
            got: SourceReport | SourceError | SkippedSource
            try:
                src = resolve_source(spec, stdin, cfg.memory_budget, spelling)
                got = analyze_array(src, cfg, progress, spelling)
            except SmcheckError as e:
                if skip_multi_tensor and isinstance(e, SeveralTensorsError):
                    got = SkippedSource(_source_label(spec), e.holds)
                elif keep_going:
                    got = SourceError(_source_label(spec), explain(e))
                else:
                    raise
            yield spec, got


def run_sources(
    specs: Sequence[Any],
    cfg: AnalysisConfig,
    *,
    stdin: BinaryIO | None = None,
    progress: ProgressFn | None = None,
    errors: list[SourceError] | None = None,
    spelling: str = FLAGS,
) -> Report:
    """The report of every source (see :func:`each_source`).

    Args:
        specs: sources as :func:`resolve_source` takes them, analysed in this order.
        cfg: the analysis to run on each.
        stdin: the stream read for ``-``.
        progress: ``progress(task, done, total)``, passed to the engine.
        errors: when given, a source that cannot be read or analysed is appended here as a
            :class:`SourceError` and the others still run; when None the first error raises.
        spelling: how an error names an option given with a value (see :func:`each_source`).

    Returns:
        The report of every source that was analysed.
    """
    cfg = with_targets_read(cfg, spelling)  # a bad targets file fails before any source is opened
    if errors is None:
        # every source is opened before any is analysed, so a bad last path fails at once
        specs = [resolve_source(s, stdin, cfg.memory_budget, spelling) for s in specs]
    reports = []
    for _, got in each_source(
        specs, cfg, stdin=stdin, progress=progress, keep_going=errors is not None, spelling=spelling
    ):
        if isinstance(got, SourceError):
            errors.append(got)  # type: ignore[union-attr]  # keep_going implies a list
        elif isinstance(got, SourceReport):  # no SkippedSource: nothing is skipped here
            reports.append(got)
    return Report(reports, __version__, collect_environment(cfg.threads))


def with_targets_read(cfg: AnalysisConfig, spelling: str = FLAGS) -> AnalysisConfig:
    """``cfg`` with a targets path or array read into TargetIndices (the engine reads no files).

    Not when gradients are off: the targets are then not used, and not read. A targets file
    that cannot be read or holds no class indices is a LoadError whose message starts with the
    option, ``--targets:`` or as ``spelling`` names it (see :func:`read_targets`).
    """
    t = cfg.targets
    if cfg.gradients is False or isinstance(t, TargetIndices):
        return cfg
    if isinstance(t, str) and t in TARGET_RULES:
        return cfg
    return dataclasses.replace(cfg, targets=read_targets(t, spelling))


def _is_many(source: Any) -> bool:
    """Whether ``source`` is a list of sources, not one array: it holds a path, a spec or a
    loaded array (an array beside them is one source too; numbers or arrays alone are one)."""
    return isinstance(source, (list, tuple)) and any(
        isinstance(s, (str, os.PathLike, LoadedArray, SourceSpec)) for s in source
    )


def as_given(options: dict[str, Any]) -> dict[str, Any]:
    """The API's keyword arguments (``analyze``'s, ``Capture.analyze``'s) as
    ``AnalysisConfig.from_options`` takes them (see :func:`~smcheck.config.empty_refused`); a
    ``progress`` that is no function is refused before any work calls it."""
    progress = options.get("progress")
    if progress is not None and not callable(progress):
        raise ConfigError(
            f"progress={progress!r} is not callable; give a function progress(task, done, total)"
        )
    return empty_refused(options)


def analyze(
    source: Any,
    *,
    dim: int = -1,
    dtypes: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    temperatures: Iterable[float] | None = None,
    model: str = "framework",
    targets: Any = None,
    use: str = "auto",
    gradients: bool | None = None,
    softmin: bool = False,
    ftz: bool = False,
    memory_budget: int | None = None,
    chunk_rows: int | None = None,
    thresholds: Thresholds | None = None,
    progress: ProgressFn | None = None,
    critical: bool | None = None,
    mask_value: float | None = None,
    threads: int | None = None,
) -> Report:
    """Analyse the softmax of ``source`` in several formats with several methods.

    Args:
        source: a path (``.npy``, ``.npz[:key]``, ``.pt[:key]``, ``.safetensors[:key]``,
            ``.csv``, ``.txt``, ``.json``; str or os.PathLike), a spec ``gen:NAME[:k=v,...]``,
            a numpy array or a torch tensor; or a list holding paths or specs, each of its items
            one source of the report (a list of numbers or of arrays alone is one array).
        dim: the softmax axis; every other axis is flattened into rows.
        dtypes: formats to analyse (default float16, bfloat16, float32, float64).
        methods: method ids (default naive, shifted, logdomain, torch; under the strict model
            naive, shifted, logdomain); also lse-direct and online.
        temperatures: divide the logits by each T in the format before the softmax (default
            1.0): numbers, or text as ``--temperature`` takes it, ``"0.5,1,2"`` or a
            log-spaced range ``"0.01:100:9"`` (LO:HI:N). None means the default; an empty
            ``dtypes``, ``methods`` or ``temperatures`` (``[]`` or ``()``) is refused.
        model: arithmetic model, ``framework`` (PyTorch ops) or ``strict``.
        targets: class targets for the gradient diagnostics: ``argmax`` (default), ``argmin``,
            a path to class indices (one per row) or an array of them.
        use: what the softmax feeds, which decides what a verdict judges: ``probs``
            (attention weights, sampling), ``logprobs`` (scoring, perplexity), ``loss``
            (training: the cross-entropy loss and its gradient), or ``auto`` (probs where the
            input has -inf masks or known mask sentinels, else loss; ``source.use_reason``).
        gradients: back-propagate the cross-entropy loss through each method in each format
            (framework model; ``cell.gradient`` is None when off); None: where the use is loss.
        softmin: analyse softmax(-x).
        ftz: flush subnormal results to zero (strict model).
        memory_budget: bytes of temporaries per chunk of rows.
        chunk_rows: rows per chunk (overrides memory_budget).
        thresholds: where findings become WARN.
        progress: ``progress(task, done, total)`` called as work advances (rows analysed,
            critical-temperature steps), e.g. to draw a bar; the library never prints.
        critical: search each method × dtype's critical temperatures (the T below which it
            overflows or gives NaN, and one-hot collapse); None: only with several temperatures.
        mask_value: the finite value the input masks with (e.g. -1e4), read as a mask like
            -inf; finfo.min of each format, -1e4, -1e9 and a few more are recognised without it.
        threads: torch's intra-op threads and the numba kernels' threads for this call
            (restored after it); None: what torch and numba pick.

    Returns:
        A :class:`~smcheck.report.model.Report`; ``report.to_dict()`` is the JSON contract.
    """
    bound_spin_waiting()  # before anything imports torch
    given = {k: v for k, v in locals().items() if k != "source"}
    options = as_given(given)
    del options["progress"]  # the callback; every other keyword argument is a config option
    sources = source if _is_many(source) else [source]
    with naming_arguments(given):  # dtypes=['fp8'], not --dtype; dim=5, not --dim 5
        cfg = AnalysisConfig.from_options(**options)
        return run_sources(sources, cfg, progress=progress, spelling=ARGUMENTS)


@contextlib.contextmanager
def naming_arguments(given: dict[str, Any]) -> Iterator[None]:
    """An error inside whose message names no option is led by the keyword argument it
    refuses, as the caller gave it (``dtypes=['fp8']: unknown dtype 'fp8'``), not by a flag."""
    try:
        yield
    except SmcheckError as e:
        e.args, e.unnamed, e.spelled = (naming_option(e, given),), False, None
        raise


def literal_source(text: str) -> LoadedArray:
    """Literal logits such as ``"-999,1,2,5,6"`` (``;`` separates rows), as a source."""
    return parse_values(text)


def generate(
    name: str,
    *,
    shape: str | None = None,
    seed: int | None = None,
    value: float | None = None,
    params: Sequence[str] = (),
) -> np.ndarray:
    """Seeded synthetic logits, as ``smcheck generate`` writes them (same seed, same values).

    Args:
        name: the generator, e.g. ``llm`` or ``constant``.
        shape: ``AxB`` text, e.g. ``64x10`` (default: the generator's).
        seed: the seed (default: ``params``' seed, else 0).
        value: the value of the ``constant`` generator.
        params: ``K=V`` generator parameters, as in a ``gen:NAME:K=V,...`` spec; ``shape``,
            ``seed`` and ``value`` given as arguments win over theirs.

    Returns:
        The generated array (raises ConfigError on a bad name or parameter).
    """
    spec = f"gen:{name}" + (":" + ",".join(params) if params else "")
    gname, kw = parse_generator_spec(spec)
    if shape is not None:  # parsed alone: put in the spec, "4x10,loc=1" would split at the comma
        kw["shape"] = parse_shape(shape)
    if value is not None:
        kw["value"] = value
    if seed is not None:
        kw["seed"] = seed
    return generate_logits(gname, **kw)


def check_data_name(path: str, kind: str) -> None:
    """Refuse a file name with another input format's suffix for ``kind`` bytes (``.npy``
    bytes in ``x.csv``): ``analyze`` reads a file by its suffix, so it could never load it."""
    from smcheck.sources.loaders import EXTENSIONS

    suffix = os.path.splitext(path)[1].lower()
    if suffix in EXTENSIONS and suffix != kind:
        raise ConfigError(
            f"'{path}' would hold {kind} bytes under a {suffix} name; name it *{kind}"
        )


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (never pickled)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
