"""``smcheck check``: analyse every source under a policy and collect the violations."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import BinaryIO

from smcheck import __version__
from smcheck.findings.policyconditions import Condition, Hit
from smcheck.errors import SmcheckError
from smcheck.check.policy import Policy, supports_targets
from smcheck.report.model import Report, SourceReport
from smcheck.report.violations import (
    CheckResult,
    Severity,
    SourceError,
    Unmeasured,
    Violation,
)
from smcheck.sources.expand import SourceSpec, expand_sources


def run_check(
    sources: Sequence[str], policy: Policy, *, stdin: BinaryIO | None = None
) -> CheckResult:
    """Analyse each source as the policy says and evaluate its conditions on every cell.

    A source that cannot be read or analysed becomes a :class:`SourceError` and the others are
    still checked. Raises ConfigError only for a policy that cannot run at all.
    """
    from smcheck.api import analyze_loaded
    from smcheck.sources.loaders import load_logits

    cfg = policy.analysis_config()
    specs, errors = expand_sources(list(sources))
    reports: list[SourceReport] = []
    violations: list[Violation] = []
    unmeasured: Counter[tuple[str, str]] = Counter()
    checked: list[tuple[str, str | None]] = []
    for spec in specs:
        try:
            src = load_logits(spec.spec, stdin=stdin if stdin is not None else sys.stdin.buffer)
            rep = analyze_loaded(src, cfg)
        except SmcheckError as e:
            errors.append(SourceError(spec.spec, str(e)))
            continue
        reports.append(rep)
        checked.append((spec.path, spec.key))
        found, missing = evaluate(rep, spec, policy)
        violations += found
        unmeasured.update(missing)
    notes = []
    if policy.targets is not None and not supports_targets():
        notes.append(f"targets = {policy.targets!r} is not used: this build measures no gradients")
    return CheckResult(
        report=Report(reports, __version__),
        policy=policy.to_dict(cfg),
        violations=violations,
        errors=errors,
        unmeasured=[Unmeasured(c, n, why) for (c, why), n in unmeasured.items()],
        notes=notes,
        checked=checked,
    )


def evaluate(
    rep: SourceReport, spec: SourceSpec, policy: Policy
) -> tuple[list[Violation], Counter[tuple[str, str]]]:
    """The violations of one source's cells, and (condition, reason) counts of unmeasured cells.

    A cell meeting a condition in both lists is reported once, as an error; the ``warn`` level
    adds no warning to a cell that already has an error.
    """
    out: list[Violation] = []
    missing: Counter[tuple[str, str]] = Counter()
    fail_names = {c.name for c in policy.fail_on}
    warn_on = [c for c in policy.warn_on if c.name not in fail_names]
    for cell in rep.cells:
        errors = False
        for severity, conds in ((Severity.ERROR, policy.fail_on), (Severity.WARNING, warn_on)):
            for cond in conds:
                if severity is Severity.WARNING and cond.name == "warn" and errors:
                    continue
                got = cond.check(cell)
                if isinstance(got, str):
                    missing[(cond.name, got)] += 1
                elif got is not None:
                    errors |= severity is Severity.ERROR
                    out.append(_violation(rep, spec, cell, cond, severity, got))
    return out, missing


def _violation(rep, spec, cell, cond: Condition, severity: Severity, hit: Hit) -> Violation:  # type: ignore[no-untyped-def]
    return Violation(
        source=rep.name,
        path=spec.path,
        key=spec.key,
        method=cell.method,
        dtype=cell.dtype,
        temperature=cell.temperature,
        model=cell.model,
        condition=cond.name,
        severity=severity,
        value=hit.value,
        rows=hit.rows,
        worst_row=hit.worst_row,
        message=cond.message(hit),
    )
