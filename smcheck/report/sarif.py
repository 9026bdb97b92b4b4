"""SARIF 2.1.0, the log format code-scanning services read: one result per violation.

Each result's ``partialFingerprints`` hash the baseline's key (path relative to the working
directory, tensor key, method, dtype, temperature, condition), so a service tracks the same
finding across runs as ``--baseline`` does; each condition of the policy is one rule. Baselined
violations are kept as suppressed results (``baselineState`` "unchanged").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from smcheck import __version__
from smcheck.report.json import encode_nonfinite
from smcheck.report.violations import CheckResult, Severity, Violation, relative_path

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "smcheck/v1"
"""The partialFingerprints key; a new version if what is hashed ever changes."""
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning"}


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
        "message": {"text": f"{v.source}: {v.cell}: {v.message}"},
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


def check_sarif(result: CheckResult) -> str:
    """The SARIF 2.1.0 log of a check: its rules, results and unreadable sources."""
    rules: dict[str, int] = {}
    rule_list: list[dict[str, object]] = []
    for v in result.violations:
        if v.condition not in rules:
            rules[v.condition] = len(rule_list)
            rule_list.append(_rule(v.condition, v.severity))
    baseline = result.baseline is not None
    results = [_result(v, rules[v.condition], baseline) for v in result.violations]
    notices = [
        {"level": "error", "message": {"text": f"cannot check {e.source}: {e.message}"}}
        for e in result.errors
    ]
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "smcheck",
                "version": __version__,
                "informationUri": "https://pypi.org/project/smcheck-softmax/",
                "rules": rule_list,
            }
        },
        "invocations": [
            {"executionSuccessful": not result.errors, "toolExecutionNotifications": notices}
        ],
        "results": results,
    }
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(encode_nonfinite(doc), indent=2, allow_nan=False) + "\n"
