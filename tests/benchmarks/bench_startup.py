"""Start-up benchmark (not part of the test run): CLI wall times against `python -c "import torch"`.

Run from the repository root:

    python tests/benchmarks/bench_startup.py                    # this tree, 7 rounds
    python tests/benchmarks/bench_startup.py --other /tmp/base  # and another checkout, same run

Every timing is a fresh process; the commands run round-robin (so background load hits them
alike) and each figure is the median over the rounds, beside the least CPU time (user + system)
of a round, the steadier figure on a busy machine. The issue-7 target: `smcheck analyze
--values ...` at most the torch import plus 0.5 s, with the kernel cache warm (issue 16).

Then what the compiled kernels add to a start-up, in a process of its own per round: importing
numba, filling its target context, and each registered warm-up (smcheck/kernels, one per
kernel module) compiled into an empty numba cache (the first round) and loaded from it (the
median of the others), each in wall and CPU seconds (CPU time is the better guide on a
busy machine: compiling is single-threaded). The CLI commands above run with that same cache,
warm after the first round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from math import nan
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALUES = ["analyze", "--values", "-999,1,2,5,6", "--no-progress"]

# each step timed apart: numba's target context is filled (its implementations imported and
# registered: what the first kernel call of a process pays, compiled or loaded from the cache,
# ~0.15-0.25 s) before any kernel runs, so a kernel's figure is its own compile or cache load
_KERNELS = """
import importlib, json, time
steps = {}
def step(name, fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    steps[name] = (time.perf_counter() - t, time.process_time() - c)
step("import numba", lambda: importlib.import_module("numba"))
from smcheck import kernels
for name in kernels.KERNEL_MODULES:
    step(f"import {name}", lambda: importlib.import_module(name))
from numba.core.registry import cpu_target
step("fill numba's target context (any first kernel call)", cpu_target.target_context.refresh)
for fn in kernels._warmups:
    step(f"warm-up {fn.__module__}.{fn.__qualname__}", fn)
print(json.dumps(steps))
"""


def commands(root: Path, label: str) -> list[tuple[str, list[str], Path]]:
    """The timed smcheck commands of one checkout, run from its root (`-m` puts the cwd first)."""
    py = [sys.executable, "-m", "smcheck"]
    return [
        (f"{label}: smcheck --help", [*py, "--help"], root),
        (f'{label}: smcheck analyze --values "-999,1,2,5,6"', [*py, *VALUES], root),
    ]


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="rounds (fresh processes per command)")
    ap.add_argument("--other", type=Path, help="another checkout (repository root) to time too")
    a = ap.parse_args()

    cache = tempfile.TemporaryDirectory(prefix="smcheck-startup-")
    env = {**os.environ, "NUMBA_CACHE_DIR": cache.name, "PYTHONPATH": str(ROOT)}
    cmds = [('python -c "import torch"', [sys.executable, "-c", "import torch"], ROOT)]
    cmds += commands(ROOT, "this tree")
    if a.other is not None:
        cmds += commands(a.other.resolve(), str(a.other))
    times: dict[str, list[float]] = {name: [] for name, _, _ in cmds}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in cmds}
    steps: list[dict[str, float]] = []
    for _ in range(a.repeat):
        # the first round fills the empty cache: its kernel figures are the cold compile
        out = subprocess.run(
            [sys.executable, "-c", _KERNELS], cwd=ROOT, env=env, check=True, capture_output=True
        )
        steps.append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
        for name, cmd, cwd in cmds:
            t, c = time.perf_counter(), _children_cpu()
            subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t)
            cpu[name].append(_children_cpu() - c)
    cache.cleanup()

    torch_s, torch_cpu = statistics.median(times[cmds[0][0]]), min(cpu[cmds[0][0]])
    print(f"{a.repeat} rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print("| command | median s | - torch import s | least CPU s | - torch import s | all s |")
    print("|---|---:|---:|---:|---:|---|")
    for name, ts in times.items():
        m, c = statistics.median(ts), min(cpu[name])
        cells = f"{m:.3f} | {m - torch_s:+.3f} | {c:.3f} | {c - torch_cpu:+.3f}"
        print(f"| `{name}` | {cells} | {' '.join(f'{t:.2f}' for t in ts)} |")
    print()
    print("| kernel start-up step | empty cache s | its CPU s | warm cache s | its CPU s |")
    print("|---|---:|---:|---:|---:|")
    for name, (cold, cold_cpu) in steps[0].items():
        warm = [statistics.median([r[name][k] for r in steps[1:]] or [nan]) for k in (0, 1)]
        cells = " | ".join(f"{v:.3f}" for v in (cold, cold_cpu, *warm))
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
