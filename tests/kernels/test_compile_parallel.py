"""compile_all's child processes (smcheck.kernels): modules missing from numba's disk cache are
compiled in children on the spare CPUs, the parent loads their work from the cache, a warm
cache or one CPU starts no child, and a child that fails or cannot start leaves its modules to
the parent. Each case runs two tiny stand-in kernel modules in a fresh process with its own
NUMBA_CACHE_DIR, so no test compiles the real kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smcheck import kernels

ROOT = Path(__file__).resolve().parent.parent.parent

# a stand-in kernel module; its warm-up logs which process ran it, and a child of the test's
# process can be told to fail in it before compiling
_STANDIN = """
import os, signal
import numpy as np
from smcheck.kernels import kernel, warmup

@kernel
def scaled(x, k):
    return k * x

@warmup
def _warm():
    with open(os.environ["STANDIN_LOG"], "a") as f:
        f.write(f"{__name__} {os.getpid()}\\n")
    if os.getpid() != int(os.environ["STANDIN_PARENT"]):
        fail = os.environ.get("STANDIN_FAIL")
        if fail == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fail == "raise":
            raise RuntimeError("a child's error")
    scaled(np.arange(3.0), 2.0)
"""

_DRIVER = """
import json, os, sys
import numpy as np
from smcheck import kernels

kernels.KERNEL_MODULES = ("standin_a", "standin_b")
kernels.COMPILE_COST = {"standin_a": 2.0, "standin_b": 1.0}  # a in this process, b in a child
os.environ["STANDIN_PARENT"] = str(os.getpid())
if os.environ.get("STANDIN_FAIL") == "nostart":
    sys.executable = os.path.join(os.environ["STANDIN_LOG"], "no-such-python")
kernels.compile_all()
import standin_a, standin_b

mods = {"standin_a": standin_a, "standin_b": standin_b}
print(json.dumps({
    "pid": os.getpid(),
    "cached": [kernels._cached(name) for name in mods],
    "values": [m.scaled(np.arange(3.0), 2.0).tolist() for m in mods.values()],
    "compiled": {n: sum(m.scaled.stats.cache_misses.values()) for n, m in mods.items()},
    "loaded": {n: sum(m.scaled.stats.cache_hits.values()) for n, m in mods.items()},
}))
"""


def _run(tmp: Path, cpus: int = 2, fail: str = "") -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """The driver in a fresh process on ``tmp``'s cache; its report and the warm-ups' log."""
    for name in ("standin_a", "standin_b"):
        module = tmp / f"{name}.py"
        if not module.exists():  # a rewrite would be a new source to numba 0.58 (its mtime)
            module.write_text(_STANDIN)
    log = tmp / "log"
    log.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp)]),
        NUMBA_CACHE_DIR=str(tmp / "cache"),
        NUMBA_NUM_THREADS=str(cpus),
        STANDIN_LOG=str(log),
        STANDIN_FAIL=fail,
    )
    out = subprocess.run(
        [sys.executable, "-c", _DRIVER], env=env, capture_output=True, text=True, cwd=tmp
    )
    assert out.returncode == 0, out.stderr
    ran = [(m, int(pid)) for m, pid in (line.split() for line in log.read_text().splitlines())]
    return json.loads(out.stdout.splitlines()[-1]), ran


def _check_results(report: dict[str, Any]) -> None:
    assert report["values"] == [[0.0, 2.0, 4.0]] * 2
    assert report["cached"] == [True, True]  # every module left in the cache


def test_a_cold_cache_compiles_a_module_in_a_child(tmp_path: Path) -> None:
    report, ran = _run(tmp_path)
    _check_results(report)
    parent = report["pid"]
    # b's warm-up ran first in a child, then in the parent, which loaded it from the cache
    child = [pid for m, pid in ran if m == "standin_b" and pid != parent]
    assert len(child) == 1 and ran.index(("standin_b", child[0])) < ran.index(("standin_b", parent))
    assert ("standin_a", parent) in ran and len(ran) == 3
    assert report["compiled"] == {"standin_a": 1, "standin_b": 0}
    assert report["loaded"] == {"standin_a": 0, "standin_b": 1}


@pytest.mark.parametrize("cpus", [2, 1])
def test_a_warm_cache_or_one_cpu_starts_no_child(tmp_path: Path, cpus: int) -> None:
    if cpus == 2:
        _run(tmp_path)  # fills the cache
    report, ran = _run(tmp_path, cpus=cpus)
    _check_results(report)
    assert sorted(ran) == [("standin_a", report["pid"]), ("standin_b", report["pid"])]
    expect = int(cpus == 1)  # one CPU: compiled here, cold; two: loaded, warm
    assert report["compiled"] == {"standin_a": expect, "standin_b": expect}


@pytest.mark.parametrize("fail", ["kill", "raise", "nostart"])
def test_a_failing_child_leaves_its_modules_to_the_parent(tmp_path: Path, fail: str) -> None:
    report, ran = _run(tmp_path, fail=fail)
    _check_results(report)
    parent = report["pid"]
    children = [pid for _, pid in ran if pid != parent]
    assert len(children) == (0 if fail == "nostart" else 1)
    assert report["compiled"] == {"standin_a": 1, "standin_b": 1}  # b compiled here after all


def test_the_heaviest_modules_go_first_each_to_the_least_loaded_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kernels, "KERNEL_MODULES", ("a", "b", "c", "d", "e"))
    monkeypatch.setattr(kernels, "COMPILE_COST", {"a": 6.0, "b": 3.0, "c": 2.0, "d": 1.0})
    monkeypatch.setattr(kernels, "_cached", lambda name: name == "c")
    monkeypatch.setattr(kernels, "max_threads", lambda: 2)
    # a (6) here; b (0.5 + 3), d (+1), e (unknown: +1) in the one child
    assert kernels._share_out() == [["b", "d", "e"]]
    monkeypatch.setattr(kernels, "max_threads", lambda: 3)
    assert kernels._share_out() == [["b"], ["d", "e"]]
    monkeypatch.setattr(kernels, "_threads", 1)  # --threads 1: no child on any machine
    assert kernels._share_out() == []
    monkeypatch.setattr(kernels, "_threads", None)
    monkeypatch.setattr(kernels, "max_threads", lambda: 1)
    assert kernels._share_out() == []
