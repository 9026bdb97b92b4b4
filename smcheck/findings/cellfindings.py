"""A cell's findings as they are judged: which use judges each cause, and the three lists a
verdict is read from (docs/design.md §4)."""

from __future__ import annotations

import dataclasses

from smcheck.config import USES
from smcheck.findings.remedies import finding
from smcheck.report.model import Finding

JUDGED_FROM: dict[str, str] = {
    "log-of-zero": "logprobs",
    "log-error": "logprobs",
    "loss-inf": "loss",
    "loss-nan": "loss",
    "gradient-nan": "loss",
    "dead-gradient": "loss",
    "saturation": "loss",
}
"""The narrowest use that judges a cause (every other cause is judged from ``probs`` on)."""


def judged(cause: str, use: str) -> bool:
    """Whether ``use`` judges ``cause`` (a cause it does not judge is a NOTE whatever its size)."""
    return USES.index(use) >= USES.index(JUDGED_FROM.get(cause, "probs"))


class CellFindings:
    """The findings of one cell as they are judged, each with the registry's remedy."""

    def __init__(self, method: str, dtype: str, use: str) -> None:
        self.method, self.dtype, self.use = method, dtype, use
        self.failures: list[Finding] = []
        self.warnings: list[Finding] = []
        self.notes: list[Finding] = []

    def _add(
        self,
        cause: str,
        severity: str,
        message: str,
        material: bool,
        why: str,
        masks: bool | None = None,
    ) -> None:
        if not judged(cause, self.use):
            if material and JUDGED_FROM[cause] == "loss":  # the gradient's: say who judges it
                message += f"; only --use loss judges it (the use here is {self.use})"
            severity = "NOTE"
        elif not material:
            severity = "NOTE"
        found = finding(cause, severity, message, self.method, self.dtype, why)
        if masks is not None:
            found = dataclasses.replace(found, masks=masks)
        {"FAIL": self.failures, "WARN": self.warnings, "NOTE": self.notes}[severity].append(found)

    def fail(self, cause: str, message: str, *, why: str = "", masks: bool | None = None) -> None:
        self._add(cause, "FAIL", message, True, why, masks)  # why, masks: Finding's

    def warn(self, cause: str, message: str, *, material: bool = True, why: str = "") -> None:
        self._add(cause, "WARN", message, material, why)
