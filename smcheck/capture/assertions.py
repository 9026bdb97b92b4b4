"""Pass/fail for users' tests: ``assert_stable`` and the policy check of captured sites."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smcheck.check.policy import Policy, load_policy
from smcheck.check.policykeys import conditions
from smcheck.check.run import evaluate
from smcheck.errors import ConfigError
from smcheck.report.model import Report
from smcheck.report.phrases import plural
from smcheck.report.violations import INPUT, Severity, Violation
from smcheck.sources.expand import SourceSpec


def policy_violations(report: Report, policy: Policy) -> list[str]:
    """One line per error of the policy's ``fail_on`` conditions, sources in order: each source
    evaluated as ``smcheck check`` evaluates it, so one problem is one violation there too."""
    out = []
    for rep in report.sources:
        found, _ = evaluate(rep, SourceSpec(rep.name, rep.name), policy)
        errors = [v for v in found if v.severity is Severity.ERROR]  # warnings never fail
        out += [f"{rep.name}{_cell_of(v)}: {v.message}" for v in errors]
    return out


def _cell_of(v: Violation) -> str:
    """`` naive float16 T=1``: the cell a violation is of (nothing for the input's own)."""
    return "" if v.method == INPUT else f" {v.cell}"


def analysis_options(policy: Policy) -> dict[str, Any]:
    """The analysis options a policy sets (None: the site's own default); its ``dim`` and
    ``softmin`` describe files of logits, while a site knows its own axis and op."""
    keys = ("methods", "dtypes", "temperatures", "model", "ftz")
    keys += ("memory_budget", "chunk_rows", "threads")
    return {k: getattr(policy, k) for k in keys if getattr(policy, k) is not None}


def check_captured(capture: Any, cwd: Path | None = None) -> list[str]:
    """The violations of a capture's sites under the policy of ``[tool.smcheck]`` (nearest)."""
    policy = load_policy(cwd or Path.cwd())
    options = analysis_options(policy)
    with policy.naming_file(list(options)):  # a refused mix names the file that set it
        report = capture.analyze(**options)
    return policy_violations(report, policy)


def assert_stable(
    x: Any,
    *,
    dtypes: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    use: str | None = None,
    fail_on: str | Sequence[str] = ("fail",),
    allow_empty: bool = False,
    **options: Any,
) -> Report:
    """Raise AssertionError, listing the findings, when the softmax of ``x`` breaks the policy.

    Args:
        x: logits (array, tensor, path) as ``smcheck.analyze`` takes them, or a finished
            ``smcheck.capture()`` (each site then in its own format and the wider ones).
        dtypes: formats to judge (default: all four; for a capture each site's own).
        methods: softmax methods (default: the analysis default).
        use: what the softmax feeds (probs, logprobs, loss); passed on where the analysis
            takes it (otherwise it only names the question in the message).
        fail_on: ``smcheck check`` conditions: fail, warn, nan, overflow, error-ulp>8, ...; a
            list, or one comma-separated string (``"nan,overflow"``) as ``--fail-on`` takes.
        allow_empty: pass a capture that recorded no softmax call (by default that fails: the
            assertion would have checked nothing).
        **options: any other ``smcheck.analyze`` option (no ``warn_on``: a warning never fails
            an assertion, so it is refused).

    Returns:
        The report, when nothing fails.

    >>> import smcheck
    >>> smcheck.assert_stable([[1.0, 2.0, 3.0]]).verdict.value
    'OK'
    """
    from smcheck.api import analyze
    from smcheck.capture.analysis import analyze_captured
    from smcheck.capture.session import Capture

    if "warn_on" in options:  # else analyze() would refuse it as an unknown keyword
        raise ConfigError(
            "assert_stable takes no warn_on: a warning never fails the assertion; put the "
            "conditions that must fail it in fail_on, or use smcheck.run_check for warnings",
            options=("warn_on",),
        )
    opts = dict(options, dtypes=dtypes, methods=methods)
    if use is not None:
        opts["use"] = use
    policy = Policy(fail_on=conditions(fail_on))
    if isinstance(x, Capture):
        fix = "run the model inside the capture on that thread, or pass allow_empty=True"
        why = None if allow_empty else x.why_empty(fix)
        if why is not None:
            raise AssertionError(
                f"smcheck: no softmax call was captured, so nothing was checked: {why}"
            )
        # Capture.analyze refuses an empty capture; allowed here, it is an empty report
        report = analyze_captured(x.captured(), **opts)
    else:
        report = analyze(x, **opts)
    found = policy_violations(report, policy)
    if found:
        shown = "\n".join(f"  {v}" for v in found[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise AssertionError(
            f"smcheck: {plural(len(found), 'violation')} of fail_on="
            f"{','.join(c.name for c in policy.fail_on)!r}:\n{shown}{more}"
        )
    return report
