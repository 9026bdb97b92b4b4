"""``smcheck check``: analyse every source under a policy, collect the violations, baselines."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from smcheck import __version__
from smcheck.analysis.use import GIVEN
from smcheck.api import each_source, input_files, naming_arguments, with_targets_read
from smcheck.check.baseline import apply_baseline, load_baseline, write_baseline
from smcheck.check.policy import Policy
from smcheck.environment import collect_environment
from smcheck.errors import ARGUMENTS, FLAGS, ConfigError, LoadError
from smcheck.findings.inputconditions import FINDING_OF, OBSERVED_NAN, explained_nan
from smcheck.findings.policyconditions import Condition, Hit
from smcheck.findings.settling import source_situation
from smcheck.output import refuse_unsafe_outputs
from smcheck.report.model import InputSummary, Report, SourceReport
from smcheck.report.renderers import CHECK_FORMATS, render
from smcheck.report.violations import (
    INPUT,
    CheckResult,
    Severity,
    SkippedSource,
    SourceError,
    Unmeasured,
    Violation,
)
from smcheck.sources.expand import SourceSpec, expand_sources


def run_check(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    policy: Policy,
    *,
    stdin: BinaryIO | None = None,
    skip_multi_tensor: bool = False,
) -> CheckResult:
    """Analyse each source as the policy says and evaluate its conditions on every cell.

    A source that cannot be read or analysed becomes a :class:`SourceError` and the others are
    still checked; with ``skip_multi_tensor`` a file of several tensors given without a key is
    left out with a note instead. Raises ConfigError only for a policy that cannot run at all.
    ``sources`` is a list of sources (files, globs, directories, ``gen:NAME``) or one of them.
    Errors name an option as the Policy field the caller set (``dim=7``, ``memory_budget=`` in
    bytes), not as the command line's flag.
    """
    if not isinstance(policy, Policy):
        raise ConfigError(
            f"run_check's policy is a {type(policy).__name__}, not a smcheck.Policy; give e.g. "
            "smcheck.Policy(fail_on='nan') or smcheck.load_policy('.')"
        )
    # one source, not a list of its characters
    one = isinstance(sources, (str, os.PathLike)) or not hasattr(sources, "__iter__")
    items = [sources] if one else list(sources)  # a list, or a generator such as Path.glob's
    if not all(isinstance(s, (str, os.PathLike)) for s in items):
        raise ConfigError(
            "run_check checks files, globs, directories and gen: specs given as paths or strings "
            "(not arrays: smcheck.analyze takes those)"
        )
    specs = [os.fspath(s) for s in items]
    return _run_specs(*expand_sources(specs), policy, stdin, skip_multi_tensor, ARGUMENTS)


def _run_specs(
    specs: list[SourceSpec],
    errors: list[SourceError],
    policy: Policy,
    stdin: BinaryIO | None,
    skip_multi_tensor: bool = False,
    spelling: str = FLAGS,
) -> CheckResult:
    """:func:`run_check` on sources already expanded (``errors``: those that expanded to none);
    ``spelling``: how an error names an option, as ``smcheck check``'s flag (FLAGS, whose
    caller leads an error that names none with its flag) or as the Policy field (ARGUMENTS)."""
    given = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    given |= dict(policy.extra)
    naming = naming_arguments(given) if spelling == ARGUMENTS else contextlib.nullcontext()
    with naming:  # from Python: dtypes=('fp8',): unknown dtype 'fp8', not --dtype
        cfg = policy.analysis_config()
        try:  # once, before any source: a targets file that cannot be read fails the run
            cfg = with_targets_read(cfg, spelling)
        except LoadError as e:
            raise LoadError(policy.blame(e), options=e.options) from None
    reports: list[SourceReport] = []
    analysed: list[SourceSpec] = []
    violations: list[Violation] = []
    unmeasured: Counter[tuple[str, str]] = Counter()
    notes: list[str] = []
    for spec, got in each_source(
        specs,
        cfg,
        stdin=stdin,
        keep_going=True,
        explain=policy.blame,
        skip_multi_tensor=skip_multi_tensor,
        spelling=spelling,
    ):
        if isinstance(got, SkippedSource):
            notes.append(got.note)
            continue
        if isinstance(got, SourceError):
            errors.append(got)
            continue
        got = _use_origin(got, policy)
        reports.append(got)
        analysed.append(spec)
        found, missing = evaluate(got, spec, policy)
        violations += found
        unmeasured.update(missing)
    return CheckResult(
        report=Report(reports, __version__, collect_environment(cfg.threads)),
        policy=policy.to_dict(cfg),
        violations=violations,
        errors=errors,
        unmeasured=[Unmeasured(c, n, why) for (c, why), n in unmeasured.items()],
        notes=notes,
        checked=[(s.path, s.key) for s in analysed],
    )


def _use_origin(rep: SourceReport, policy: Policy) -> SourceReport:
    """``rep`` saying where a use that is not auto came from where the config file set it
    (the analysis says only ``given``, which a command-line --use is)."""
    if rep.use_reason != GIVEN or "use" not in policy.file_keys:
        return rep
    return dataclasses.replace(rep, use_reason=f"use = {policy.use} in {policy.config_file}")


def check_sources(
    sources: Sequence[str],
    policy: Policy,
    baseline: str | None = None,
    new_baseline: str | None = None,
    outputs: Sequence[tuple[str, str]] = (),
    skip_multi_tensor: bool = False,
) -> tuple[CheckResult, int | None]:
    """Run the check and apply the baselines; returns the result and how many entries were written.

    ``--baseline`` decides which violations are new. ``--write-baseline`` records every current
    violation, only when every source could be read; without ``--baseline`` the run is then judged
    against what it just wrote, so it passes. ``outputs`` are the (option, path) pairs the caller
    will write: before any work, none of them nor the new baseline may be an input of the run
    (a ConfigError), and only the new baseline may be the old one. ``skip_multi_tensor``: see
    :func:`run_check`.
    """
    entries = load_baseline(baseline) if baseline is not None else None  # fail before the work
    specs, errors = expand_sources(list(sources))
    stdin = getattr(sys.stdin, "buffer", None)
    inputs = input_files(specs, policy.targets, stdin)
    if policy.config_file is not None:
        inputs.append(policy.config_file)
    new = [("--write-baseline", new_baseline)] if new_baseline is not None else []
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    appended = [("$GITHUB_STEP_SUMMARY", summary)] if summary else []
    refuse_unsafe_outputs([*outputs, *new, *appended], inputs)
    refuse_unsafe_outputs([*outputs, *appended], [baseline] if baseline is not None else [])
    result = _run_specs(specs, errors, policy, stdin, skip_multi_tensor)
    if baseline is not None and entries is not None:
        result = apply_baseline(result, baseline, entries)
    written = None
    if new_baseline is not None and not result.errors:
        new_entries = write_baseline(new_baseline, result)
        written = len(new_entries)
        if baseline is None:
            result = apply_baseline(result, new_baseline, new_entries)
    return result, written


def append_step_summary(result: CheckResult) -> str | None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` when set; a problem, or None."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(render(CHECK_FORMATS, result, "markdown") + "\n")
    except OSError as e:
        return f"cannot append to $GITHUB_STEP_SUMMARY '{path}' ({e.strerror or e})"
    return None


def evaluate(
    rep: SourceReport, spec: SourceSpec, policy: Policy
) -> tuple[list[Violation], Counter[tuple[str, str]]]:
    """The violations of one source's input and selected cells, and (condition, reason) counts
    of unmeasured cells.

    The input is checked once (input conditions, and a verdict level met by an input finding);
    hypothetical comparison cells are never checked. A cell meeting a condition in both lists is
    reported once, as an error; the ``warn`` level adds no warning to a cell that already has one.
    """
    out: list[Violation] = []
    missing: Counter[tuple[str, str]] = Counter()
    fail_names = {c.name for c in policy.fail_on}
    warn_on = [c for c in policy.warn_on if c.name not in fail_names]
    lists = ((Severity.ERROR, policy.fail_on), (Severity.WARNING, warn_on))
    model = rep.cells[0].model if rep.cells else "framework"
    where = Violation(rep.name, spec.path, spec.key, INPUT, rep.dtype, 1.0, model, "", *_NONE)
    # a verdict level leaves out the input finding an input condition of its list (or of the
    # errors, for warnings) already reports: one problem, one violation, never a weaker one
    said: set[str] = set()
    rest: dict[Severity, InputSummary] = {}
    for severity, conds in lists:
        said |= {
            kind
            for c in conds
            if c.name in FINDING_OF and c.check_input(rep.input, softmin=rep.softmin)
            for kind in FINDING_OF[c.name]
        }
        if rep.site is not None and explained_nan(rep.input, rep.site.nan_rows, said):
            said.add(OBSERVED_NAN)  # the NaN rows the op returned: those rows' own problems
        kept = [f for f in rep.input.findings if f.kind not in said]
        rest[severity] = dataclasses.replace(rep.input, findings=kept)
    level = {c.name: sev for sev, conds in lists for c in conds}
    for severity, cond, hit in _met(
        lists,
        lambda c: c.check_input(
            rest[level[c.name]] if c.level is not None else rep.input,
            softmin=rep.softmin,
            dtype=rep.dtype,
        ),
    ):
        out.append(_violation(where, cond, severity, hit))  # type: ignore[arg-type]
    situation = source_situation(rep)  # for a remedy a cell's own findings do not give
    for cell in rep.cells:
        if cell.hypothetical:
            continue
        at = dataclasses.replace(
            where, method=cell.method, dtype=cell.dtype, temperature=cell.temperature
        )
        for severity, cond, got in _met(lists, lambda c, cell=cell: c.check(cell, situation)):
            if isinstance(got, str):
                missing[(cond.name, got)] += 1
            else:
                out.append(_violation(at, cond, severity, got))
    return out, missing


def _met(
    lists: tuple[tuple[Severity, Sequence[Condition]], ...],
    check: Callable[[Condition], Hit | str | None],
) -> Iterator[tuple[Severity, Condition, Hit | str]]:
    """Each condition met (or unmeasurable) in one place, with its severity; the ``warn`` level
    adds no warning where an error is already met."""
    errors = False
    for severity, conds in lists:
        for cond in conds:
            if severity is Severity.WARNING and cond.name == "warn" and errors:
                continue
            got = check(cond)
            if got is None:
                continue
            errors |= severity is Severity.ERROR and not isinstance(got, str)
            yield severity, cond, got


_NONE = (Severity.ERROR, 0.0, None, None, "")
"""The fields of a violation's place (source, cell) before a condition fills them."""


def _violation(at: Violation, cond: Condition, severity: Severity, hit: Hit) -> Violation:
    """``at`` (the source and cell) with the condition met there."""
    return dataclasses.replace(
        at,
        condition=cond.name,
        severity=severity,
        value=hit.value,
        rows=hit.rows,
        worst_row=hit.worst_row,
        message=cond.message(hit),
        remedy=cond.remedy(hit),
    )
