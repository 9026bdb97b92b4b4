"""The result of ``smcheck check``: report, violations, unreadable sources, baseline diff."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from smcheck.report.model import Report, plain

INPUT = "input"
"""The ``method`` of a violation about the source's values themselves (an input condition)."""
INPUT_CONDITIONS = ("input", "fully-masked")
"""The input conditions (``findings.inputconditions.INPUT_METRICS``, a layer above this one):
each message says "in the input", so a report names no cell before it."""

Fingerprint = tuple[str, str, str, str, float, str]
"""(path, key, method, dtype, temperature, condition): what a baseline remembers."""


class Severity(str, Enum):
    """How a violated condition counts: an error fails the check, a warning does not."""

    ERROR = "error"
    """A ``fail-on`` condition: fails the check (exit 1) unless baselined."""
    WARNING = "warning"
    """A ``warn-on`` condition: reported, never fails."""


@dataclass(frozen=True)
class Violation:
    """One condition met by one cell (method × dtype × temperature) of one source, or by its
    input (method ``input``, dtype the source's, temperature 1)."""

    source: str
    """The source's display name (``path`` or ``path:key``)."""
    path: str
    key: str | None
    method: str
    dtype: str
    temperature: float
    model: str
    condition: str
    severity: Severity
    value: float
    """The measured value compared with the condition's limit (a count, or the metric)."""
    rows: int | None
    worst_row: tuple[int, ...] | None
    message: str
    remedy: str = ""
    """The fixes its message states, each once, ``; ``-joined (a verdict level's: those of the
    cell's findings); empty for none, and for an input finding's (its message holds it)."""
    baselined: bool = False
    """Present in the ``--baseline`` file, so it does not fail the check."""

    @property
    def cell(self) -> str:
        """``naive float16 T=1``; ``input`` for an input condition."""
        return cell_name(self.method, self.dtype, self.temperature)

    @property
    def place(self) -> str:
        """The cell a report names before the message; empty for an input condition's, whose
        message names the input ("input  input: 1 row ... in the input" said it thrice)."""
        return "" if self.condition.split(">")[0] in INPUT_CONDITIONS else self.cell

    @property
    def placed_message(self) -> str:
        """``naive float16 T=1: message``; the message alone where :attr:`place` is empty."""
        return f"{self.place}: {self.message}" if self.place else self.message

    @property
    def fingerprint(self) -> Fingerprint:
        """What a baseline file remembers of this violation."""
        return (
            self.path,
            self.key or "",
            self.method,
            self.dtype,
            self.temperature,
            self.condition,
        )

    def fingerprint_from(self, folder: Path) -> Fingerprint:
        """The fingerprint with its path relative to ``folder`` (a baseline file's, or the
        working directory for SARIF), so it does not depend on where the check ran."""
        return (relative_path(self.path, folder), *self.fingerprint[1:])  # type: ignore[return-value]


def relative_path(path: str, folder: Path) -> str:
    """A file path relative to ``folder`` (posix); ``gen:`` specs and ``-`` as they are."""
    if path == "-" or path.startswith("gen:"):
        return path
    try:
        return Path(os.path.relpath(os.path.abspath(path), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(os.path.abspath(path)).as_posix()


@dataclass(frozen=True)
class SourceError:
    """A source that could not be checked (exit 2)."""

    source: str
    message: str

    @property
    def line(self) -> str:
        """The message, after the source where it does not name it already (a load error's
        does: "NOT CHECKED a.npy  cannot load 'a.npy': ..." said the path twice)."""
        named = f"'{self.source}'" in self.message or self.message.startswith(f"{self.source}: ")
        return self.message if named else f"{self.source}: {self.message}"


@dataclass(frozen=True)
class SkippedSource:
    """A file of several tensors given without a key, left out by ``--skip-multi-tensor``."""

    source: str
    holds: str
    """What it holds, ``4 tensors``."""

    @property
    def note(self) -> str:
        """The report's note on it."""
        return (
            f"skipped {self.source}: it holds {self.holds} and no key (--skip-multi-tensor); "
            "to check one, give it as 'FILE:KEY'"
        )


@dataclass(frozen=True)
class Unmeasured:
    """A condition the report cannot evaluate in some cells (e.g. no gradient metrics)."""

    condition: str
    cells: int
    reason: str


def cell_name(method: str, dtype: str, temperature: float) -> str:
    """A violation's or baseline entry's cell, ``naive float16 T=1``; ``input`` for the input's."""
    return INPUT if method == INPUT else f"{method} {dtype} T={temperature:g}"


@dataclass(frozen=True)
class BaselineDiff:
    """How this run compares with a ``--baseline`` file."""

    file: str
    known: int
    """Current violations already in the baseline (not failing)."""
    new: int
    """Current violations not in the baseline."""
    fixed: list[dict[str, Any]] = field(default_factory=list)
    """Baseline entries that were checked again and no longer occur."""
    unchecked: int = 0
    """Baseline entries this run did not check (another source, cell or condition)."""


@dataclass(frozen=True)
class CheckResult:
    """Everything ``smcheck check`` found, and its exit code."""

    report: Report
    policy: dict[str, Any]
    violations: list[Violation]
    errors: list[SourceError] = field(default_factory=list)
    unmeasured: list[Unmeasured] = field(default_factory=list)
    baseline: BaselineDiff | None = None
    notes: list[str] = field(default_factory=list)
    checked: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, key) of each source in ``report.sources``, in the same order (not in JSON)."""

    @property
    def failing(self) -> list[Violation]:
        """Error violations not covered by the baseline: these fail the check."""
        return [v for v in self.violations if v.severity is Severity.ERROR and not v.baselined]

    @property
    def warnings(self) -> list[Violation]:
        """Warning violations not covered by the baseline."""
        return [v for v in self.violations if v.severity is Severity.WARNING and not v.baselined]

    @property
    def exit_code(self) -> int:
        """2 when a source could not be read, else 1 when a violation fails, else 0."""
        return 2 if self.errors else (1 if self.failing else 0)

    @property
    def passed(self) -> bool:
        """True when the check exits 0."""
        return self.exit_code == 0

    def counts(self) -> dict[str, int]:
        """Failing errors, warnings and baselined violations."""
        return {
            "error": len(self.failing),
            "warning": len(self.warnings),
            "baselined": sum(v.baselined for v in self.violations),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract plus ``policy``, ``violations``, ``errors`` and ``baseline``."""
        doc = self.report.to_dict()
        doc["summary"].update(
            {
                "passed": self.passed,
                "exit_code": self.exit_code,
                "violations": self.counts(),
                "unreadable_sources": len(self.errors),
            }
        )
        doc["policy"] = self.policy
        doc["violations"] = [plain(v) for v in self.violations]
        doc["errors"] = [plain(e) for e in self.errors]
        doc["unmeasured"] = [plain(u) for u in self.unmeasured]
        doc["baseline"] = None if self.baseline is None else plain(self.baseline)
        doc["notes"] = list(self.notes)
        return doc
