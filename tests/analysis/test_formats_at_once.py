"""A chunk's formats on threads (SourceAnalysis.formats_on): the same report as one after
another, torch's threads shared out and restored, the memory budget kept, errors raised."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

import smcheck
from smcheck import kernels
from smcheck.analysis import engine
from smcheck.report.json import to_json
from smcheck.sources.rows import WORK_ARRAYS_PER_ELEMENT, RowView

pytestmark = pytest.mark.skipif(kernels.threads() < 2, reason="one kernel thread: no workers")


def _json(**kw: Any) -> dict[str, Any]:
    doc = json.loads(to_json(smcheck.analyze(**kw)))
    doc.pop("environment")
    return doc


def _hard_input() -> np.ndarray:
    """Masks, a sentinel that float16 turns into -inf, a NaN row, overflow at low T."""
    x = np.random.default_rng(5).normal(0, 4, (23, 40))
    x[2, :4] = -1e9
    x[3] = -np.inf
    x[4, 1] = np.nan
    x[5, 0] = 30.0
    return x


@pytest.mark.parametrize(
    "kw",
    [
        {"chunk_rows": 4, "temperatures": [0.05, 1.0]},
        {"chunk_rows": 7, "model": "strict", "dtypes": ["float16", "bfloat16"]},
        {"softmin": True, "mask_value": 1e9},
    ],
    ids=["sweep", "strict", "softmin"],
)
def test_formats_at_once_give_the_report_of_one_after_another(
    monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any]
) -> None:
    x = _hard_input()
    if kw.get("softmin"):
        x = -x
    at_once = _json(source=x, **kw)
    monkeypatch.setattr(engine.SourceAnalysis, "workers", lambda self: 1)
    assert _json(source=x, **kw) == at_once  # every figure, and every list in the same order


def test_torch_threads_are_shared_out_while_formats_run_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    real = engine.SourceAnalysis._add_format

    def recording(self: engine.SourceAnalysis, *args: Any) -> None:
        seen.append(torch.get_num_threads())
        real(self, *args)

    monkeypatch.setattr(engine.SourceAnalysis, "_add_format", recording)
    before = torch.get_num_threads()
    smcheck.analyze([[1.0, 2.0, 3.0]], dtypes=["float16", "float32"], gradients=False)
    assert seen == [max(1, before // 2)] * 2 and torch.get_num_threads() == before


def test_two_formats_at_once_halve_the_chunk_and_need_room_for_two_rows() -> None:
    view = RowView(np.zeros((1000, 4000)), -1, "x", None)
    cfg = smcheck.AnalysisConfig(dtypes=("float16", "float32"), gradients=False)
    run = engine.SourceAnalysis(view, cfg)
    assert run.workers() == 2
    assert run.budget_rows(2) == run.budget_rows(1) // 2
    row = view.row_length * 8 * WORK_ARRAYS_PER_ELEMENT  # one row's budgeted bytes
    tight = smcheck.AnalysisConfig(
        dtypes=("float16", "float32"), gradients=False, memory_budget=row + row // 2
    )
    assert engine.SourceAnalysis(view, tight).workers() == 1  # room for one row, not two


def test_an_error_in_a_format_thread_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine.SourceAnalysis._add_format

    def failing(self: engine.SourceAnalysis, f: Any, *args: Any) -> None:
        if f.name == "float32":
            raise MemoryError("no room for float32")
        real(self, f, *args)

    monkeypatch.setattr(engine.SourceAnalysis, "_add_format", failing)
    before = torch.get_num_threads()
    with pytest.raises(MemoryError, match="no room for float32"):
        smcheck.analyze(np.ones((3, 5)), dtypes=["float16", "float32"], gradients=False)
    assert torch.get_num_threads() == before


def test_a_cell_is_the_same_whatever_other_formats_run_beside_it() -> None:
    # one row longer than torch's grain: with two threads torch splits its sums, so the
    # formats run one at a time here (workers), and float16's cell reads the same alone
    x = np.random.default_rng(0).normal(0, 3, (1, 200000))

    def shifted16(dtypes: list[str]) -> Any:
        rep = smcheck.analyze(x, dtypes=dtypes, methods=["shifted"], gradients=False)
        return next(c.metrics for c in rep.cells if c.dtype == "float16")

    assert shifted16(["float16"]) == shifted16(["float16", "float32"])


def test_gradients_run_under_the_callers_no_grad() -> None:
    # the format threads start with autograd on; the caller's thread may have it off
    with torch.no_grad():
        one = smcheck.analyze([[1.0, 2.0, 3.0]], dtypes=["float16"]).cells[0].gradient
        two = smcheck.analyze([[1.0, 2.0, 3.0]], dtypes=["float16", "float32"]).cells[0].gradient
    assert one is not None and one == two
