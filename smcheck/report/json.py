"""Strict JSON rendering: no bare NaN/Infinity, schema_version first, deterministic key order."""

from __future__ import annotations

import json
import math
from typing import Any

from smcheck.report.model import Report
from smcheck.report.violations import CheckResult


def encode_nonfinite(obj: Any) -> Any:
    """Replace non-finite floats by the strings "nan", "inf", "-inf" (the JSON contract)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: encode_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [encode_nonfinite(v) for v in obj]
    return obj


def to_json(report: Report, *, indent: int | None = 2) -> str:
    """The report as strict JSON text (``json.loads`` of it never sees NaN or Infinity)."""
    return json.dumps(encode_nonfinite(report.to_dict()), indent=indent, allow_nan=False)


def check_to_json(result: CheckResult, *, indent: int | None = 2) -> str:
    """``smcheck check`` as strict JSON: the report's contract plus policy, violations, errors."""
    return json.dumps(encode_nonfinite(result.to_dict()), indent=indent, allow_nan=False)
