"""Baselines: accepted violations, so ``smcheck check`` fails only on new ones.

A violation is fingerprinted by (source path, tensor key, method, dtype, temperature, condition);
paths are stored relative to the baseline file's folder, so the check may run from anywhere.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from smcheck import __version__
from smcheck.errors import ConfigError
from smcheck.output import write_output
from smcheck.report.violations import (
    INPUT,
    BaselineDiff,
    CheckResult,
    Fingerprint,
    relative_path,
)

BASELINE_VERSION = 1
_FIELDS = ("path", "key", "method", "dtype", "temperature", "condition")


def _entry_fingerprint(e: dict[str, Any]) -> Fingerprint:
    return (
        e["path"],
        e["key"] or "",
        e["method"],
        e["dtype"],
        float(e["temperature"]),
        e["condition"],
    )


def write_baseline(path: str, result: CheckResult) -> list[dict[str, Any]]:
    """Record every current violation in ``path``; returns the entries written.

    The caller judges the run against these entries, not against the file read back: the file
    may be ``/dev/null`` or a FIFO.
    """
    folder = Path(path).parent
    entries: dict[Fingerprint, dict[str, Any]] = {}
    for v in result.violations:
        fp = v.fingerprint_from(folder)
        entries.setdefault(
            fp,
            {
                **dict(zip(_FIELDS, fp, strict=True)),
                "key": v.key,
                "severity": v.severity.value,
                "message": v.message,
            },
        )
    doc = {
        "smcheck_baseline": BASELINE_VERSION,
        "smcheck_version": __version__,
        "violations": [entries[fp] for fp in sorted(entries, key=repr)],
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the folder of baseline '{path}' ({e.strerror})") from None
    write_output(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return doc["violations"]  # type: ignore[return-value]


def load_baseline(path: str) -> list[dict[str, Any]]:
    """The entries of a baseline file; ConfigError when it is missing or malformed."""
    fix = f"regenerate it with --write-baseline {path}"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"baseline '{path}' does not exist; create it with --write-baseline {path}"
        ) from None
    except (OSError, ValueError) as e:  # also bad UTF-8, bad JSON, a 5000-digit integer
        raise ConfigError(f"cannot read baseline '{path}' ({e}); {fix}") from None
    except RecursionError:  # json nests recursively: no baseline is deeper than a few levels
        raise ConfigError(f"baseline '{path}' nests lists too deeply to read; {fix}") from None
    if not isinstance(doc, dict) or doc.get("smcheck_baseline") != BASELINE_VERSION:
        raise ConfigError(f"'{path}' is not a smcheck baseline (version {BASELINE_VERSION}); {fix}")
    entries = doc.get("violations")
    ok = isinstance(entries, list) and all(
        isinstance(e, dict)
        and all(k in e for k in _FIELDS)
        and isinstance(e["temperature"], (int, float))
        and (e["key"] is None or isinstance(e["key"], str))
        and all(isinstance(e[k], str) for k in ("path", "method", "dtype", "condition"))
        for e in entries
    )
    if not ok:
        raise ConfigError(f"baseline '{path}' has malformed violations; {fix}")
    return entries  # type: ignore[return-value]


def apply_baseline(result: CheckResult, path: str, entries: list[dict[str, Any]]) -> CheckResult:
    """Mark the violations the baseline knows; report new ones and those that disappeared."""
    folder = Path(path).parent
    known = {_entry_fingerprint(e): e for e in entries}
    marked = [
        dataclasses.replace(v, baselined=v.fingerprint_from(folder) in known)
        for v in result.violations
    ]
    current = {v.fingerprint_from(folder) for v in result.violations}
    checked_sources = {(relative_path(p, folder), k or "") for p, k in result.checked}
    pol = result.policy
    cells = {
        (m, d, float(t)) for m in pol["methods"] for d in pol["dtypes"] for t in pol["temperatures"]
    }
    conditions = set(pol["fail_on"]) | set(pol["warn_on"])
    fixed, unchecked = [], 0
    for fp, e in known.items():
        if fp in current:
            continue
        # an input's violation has no cell: its source and condition checked again are enough
        cell_checked = fp[2] == INPUT or fp[2:5] in cells
        if fp[:2] in checked_sources and cell_checked and fp[5] in conditions:
            fixed.append(e)
        else:
            unchecked += 1
    diff = BaselineDiff(
        file=path,
        known=sum(v.baselined for v in marked),
        new=sum(not v.baselined for v in marked),
        fixed=fixed,
        unchecked=unchecked,
    )
    return dataclasses.replace(result, violations=marked, baseline=diff)
