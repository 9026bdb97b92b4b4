"""smcheck: numerical-stability diagnostics for softmax in float16, bfloat16, float32 and float64.

>>> import smcheck
>>> report = smcheck.analyze([[-999.0, 1, 2, 5, 6]], dtypes=["float16"], methods=["shifted"])
>>> report.verdict.value  # log(softmax) gives -inf for the -999 entry
'FAIL'
>>> smcheck.analyze([[-999.0, 1, 2, 5, 6]], dtypes=["float16"]).verdict.value  # torch's own
'OK'
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Resolved on first use, so `smcheck --help` starts without numpy or torch.
_LAZY = {
    "analyze": "smcheck.api",
    "capture": "smcheck.capture",
    "assert_stable": "smcheck.capture",
    "AnalysisConfig": "smcheck.config",
    "Thresholds": "smcheck.config",
    "Report": "smcheck.report.model",
    "Verdict": "smcheck.report.model",
    "ExitCode": "smcheck.errors",
    "SmcheckError": "smcheck.errors",
    "LoadError": "smcheck.errors",
    "ConfigError": "smcheck.errors",
    "load_logits": "smcheck.sources.loaders",
    "generate_logits": "smcheck.sources.generators",
    "to_json": "smcheck.report.json",
    "run_check": "smcheck.check.run",
    "Policy": "smcheck.check.policy",
    "load_policy": "smcheck.check.policy",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'smcheck' has no attribute {name!r}")
