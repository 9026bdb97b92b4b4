"""SARIF 2.1.0, the log format code-scanning services read: one result per violation.

Each result's ``partialFingerprints`` hash the baseline's key (path relative to the working
directory, tensor key, method, dtype, temperature, condition), so a service tracks the same
finding across runs as ``--baseline`` does; each condition of the policy is one rule. Baselined
violations are kept as suppressed results (``baselineState`` "unchanged"). A condition the
report cannot evaluate (no gradient metrics) is a warning notification of the invocation, so the
gap shows in the log as it does in every other format; so is, as a note, each source whose
checked cells judged no row (JUnit's skipped test cases, the summary's "on no row"): they passed
nothing, and no result would read as "checked and fine".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from smcheck import __version__
from smcheck.report.json import encode_nonfinite
from smcheck.report.model import SourceReport
from smcheck.report.phrases import NOT_JUDGED_WHY, plural
from smcheck.report.violations import (
    CheckResult,
    Severity,
    Unmeasured,
    Violation,
    cell_name,
    relative_path,
)

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "smcheck/v1"
"""The partialFingerprints key; a new version if what is hashed ever changes."""
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning"}
NOT_MEASURED = {
    "id": "not-measured",
    "name": "not-measured",
    "shortDescription": {"text": "a policy condition the report cannot evaluate in some cells"},
    "defaultConfiguration": {"level": "warning"},
}
"""The descriptor of a condition's gap: a notification's ``associatedRule`` names the condition."""
NOT_JUDGED = {
    "id": "no-row-judged",
    "name": "no-row-judged",
    "shortDescription": {"text": f"a checked cell that passed nothing: {NOT_JUDGED_WHY}"},
    "defaultConfiguration": {"level": "note"},
}
"""The descriptor of a source's cells that judged no row."""


def fingerprint(v: Violation, folder: Path) -> str:
    """sha256 of the baseline key, its path relative to ``folder``."""
    return hashlib.sha256(json.dumps(v.fingerprint_from(folder)).encode()).hexdigest()


def _uri(path: str) -> str | None:
    """A relative URI for a file under the working directory, absolute (file:) otherwise."""
    if path == "-" or path.startswith("gen:"):
        return None  # no artifact: the result carries the source in its message
    rel = relative_path(path, Path.cwd())
    if rel.startswith("../") or Path(rel).is_absolute():
        return Path(path).resolve().as_uri()
    return quote(rel)


def _rule(condition: str, severity: Severity) -> dict[str, object]:
    kind = "fail-on" if severity is Severity.ERROR else "warn-on"
    return {
        "id": condition,
        "name": condition,
        "shortDescription": {"text": f"softmax condition {condition} ({kind} in the policy)"},
        "defaultConfiguration": {"level": _LEVEL[severity]},
    }


def _result(v: Violation, rule_index: int, baseline: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "ruleId": v.condition,
        "ruleIndex": rule_index,
        "level": _LEVEL[v.severity],
        "message": {"text": f"{v.source}: {v.placed_message}"},
        "partialFingerprints": {FINGERPRINT: fingerprint(v, Path.cwd())},
        "properties": {
            "source": v.source,
            "key": v.key,
            "method": v.method,
            "dtype": v.dtype,
            "temperature": v.temperature,
            "model": v.model,
            "value": v.value,
            "rows": v.rows,
        },
    }
    uri = _uri(v.path)
    if uri is not None:
        out["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": uri}}}]
    if baseline:
        out["baselineState"] = "unchanged" if v.baselined else "new"
    if v.baselined:
        out["suppressions"] = [
            {"kind": "external", "justification": "accepted in the smcheck baseline"}
        ]
    return out


def _not_measured(u: Unmeasured, rule_index: int) -> dict[str, object]:
    """The warning notification of a condition some cells could not be checked on."""
    return {
        "level": "warning",
        "message": {"text": f"{u.condition} not measured in {plural(u.cells, 'cell')}: {u.reason}"},
        "descriptor": {"id": NOT_MEASURED["id"], "index": 0},
        "associatedRule": {"id": u.condition, "index": rule_index},
        "properties": {"condition": u.condition, "cells": u.cells, "reason": u.reason},
    }


def _not_judged(s: SourceReport, path: str, descriptor: int) -> dict[str, object] | None:
    """The note of a source's checked (not hypothetical) cells that judged no row; None for none."""
    cells = [
        cell_name(c.method, c.dtype, c.temperature)
        for c in s.cells
        if not c.hypothetical and not c.judged
    ]
    if not cells:
        return None
    out: dict[str, object] = {
        "level": "note",
        "message": {
            "text": f"{s.name}: {NOT_JUDGED_WHY} in {plural(len(cells), 'cell')}: "
            + ", ".join(cells)
        },
        "descriptor": {"id": NOT_JUDGED["id"], "index": descriptor},
        "properties": {"source": s.name, "cells": cells},
    }
    uri = _uri(path)
    if uri is not None:
        out["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": uri}}}]
    return out


def check_sarif(result: CheckResult) -> str:
    """The SARIF 2.1.0 log of a check: its rules, results, unreadable sources and unmeasured
    conditions."""
    fail_on = set(result.policy.get("fail_on", ()))
    rules: dict[str, int] = {}
    rule_list: list[dict[str, object]] = []
    conditions = [(v.condition, v.severity) for v in result.violations] + [
        (u.condition, Severity.ERROR if u.condition in fail_on else Severity.WARNING)
        for u in result.unmeasured
    ]
    for condition, severity in conditions:
        if condition not in rules:
            rules[condition] = len(rule_list)
            rule_list.append(_rule(condition, severity))
    baseline = result.baseline is not None
    results = [_result(v, rules[v.condition], baseline) for v in result.violations]
    descriptors = [NOT_MEASURED] if result.unmeasured else []
    idle = [
        n
        for s, (path, _) in zip(result.report.sources, result.checked, strict=False)
        if (n := _not_judged(s, path, len(descriptors))) is not None
    ]
    notices = (
        [{"level": "error", "message": {"text": e.line}} for e in result.errors]
        + [_not_measured(u, rules[u.condition]) for u in result.unmeasured]
        + idle
    )
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "smcheck",
                "version": __version__,
                "informationUri": "https://pypi.org/project/smcheck-softmax/",
                "rules": rule_list,
                "notifications": descriptors + ([NOT_JUDGED] if idle else []),
            }
        },
        "invocations": [
            {"executionSuccessful": not result.errors, "toolExecutionNotifications": notices}
        ],
        "results": results,
    }
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(encode_nonfinite(doc), indent=2, allow_nan=False) + "\n"
