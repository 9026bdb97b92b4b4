"""Shared fixtures and helpers: dtypes, tolerances, sample inputs, picking a cell, a clean env."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from smcheck.report.model import Cell, Report

DTYPES = ["float16", "bfloat16", "float32", "float64"]

# rtol/atol from torch.testing._comparison (_DTYPE_PRECISIONS)
TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_inputs"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, the controller loads or compiles the kernels before any worker
    starts: on a cold cache they compile once, not once in every worker at the same time."""
    config = session.config
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        from smcheck import kernels

        kernels.compile_all()


def sample_input(name: str) -> Path:
    """Path of a bundled sample; fails loudly if it is missing."""
    path = SAMPLES / name
    assert path.exists(), f"missing sample input {path}"
    return path


def selected_params(request: pytest.FixtureRequest, name: str) -> list[object]:
    """The values of the parameter ``name`` of this session's selected tests in the requesting
    module: what a module fixture that runs every case at once should run."""
    return [
        item.callspec.params[name]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and name in getattr(getattr(item, "callspec", None), "params", {})
    ]


def cell(report: Report, method: str, dtype: str, temperature: float = 1.0) -> Cell:
    """The one cell of ``report`` for this method, format and temperature."""
    (c,) = [
        c
        for c in report.cells
        if (c.method, c.dtype, c.temperature) == (method, dtype, temperature)
    ]
    return c


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "LINES", "GITHUB_STEP_SUMMARY", "TERM"):
        monkeypatch.delenv(var, raising=False)
