"""The engine compiles (or loads) every kernel before the first chunk, as its own progress task."""

from __future__ import annotations

import numpy as np
import pytest

from smcheck import kernels
from smcheck.api import analyze

ROWS = "analysing rows"


def _run(events: list[tuple[str, int, int]]) -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    opts = {"dtypes": ["float32"], "methods": ["naive"], "gradients": False}
    analyze(x, **opts, progress=lambda *e: events.append(e))


def test_kernels_compile_once_before_the_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    warmed: list[int] = []
    # two stand-in warm-ups in place of the real ones (whatever they are, and cached or not)
    monkeypatch.setattr(kernels, "KERNEL_MODULES", ())
    monkeypatch.setattr(kernels, "_warmups", [lambda: warmed.append(1), lambda: warmed.append(2)])
    monkeypatch.setattr(kernels, "_compiled", False)
    events: list[tuple[str, int, int]] = []
    _run(events)
    task = kernels.COMPILE_TASK
    assert warmed == [1, 2]
    # each warm-up announced before it runs, then done; all before the first row is analysed
    assert [e for e in events if e[0] == task] == [(task, 0, 2), (task, 1, 2), (task, 2, 2)]
    assert [e[0] for e in events[:3]] == [task] * 3 and events[3][0] == ROWS
    events.clear()
    _run(events)  # once per process: the second analysis compiles nothing and says nothing of it
    assert warmed == [1, 2] and {e[0] for e in events} == {ROWS}


_SIGNATURES = """
import importlib, json
import numpy as np
from smcheck import kernels
from smcheck.api import analyze

def signatures():
    found = {}
    for name in kernels.KERNEL_MODULES:
        for attr, obj in vars(importlib.import_module(name)).items():
            py = getattr(obj, "py_func", None)
            if py is not None and py.__module__ == name:  # a kernel defined there
                found[f"{name}.{attr}"] = len(obj.signatures)
    return found

kernels.compile_all()
before = signatures()
x = np.random.default_rng(0).standard_normal((40, 300)) * 30
x[3, :7] = -np.inf  # masks
x[5] = np.linspace(-2000, 2000, 300)  # overflow in the narrow formats
analyze(x, temperatures=[0.5, 1.0], gradients=True)  # every format and default method
print(json.dumps([before, signatures()]))
"""


def test_the_warm_ups_compile_every_signature_an_analysis_uses() -> None:
    """A signature the warm-ups miss is compiled in the middle of a user's first analysis
    (seconds), outside the compile progress task; a C- versus F-order argument is enough. A
    fresh process: kernels called earlier in this one may hold other signatures already."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SIGNATURES], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    before, after = json.loads(out.stdout.splitlines()[-1])
    assert before["smcheck.kernels.cellmetrics._cell_rows"] == 1
    assert after == before
