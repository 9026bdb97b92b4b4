"""Where an analysis spends its time (not part of the test run): each parallel kernel's wall
time, then the main thread's profile.

Run from the repository root:

    python tests/benchmarks/bench_breakdown.py                  # 256 x 32000 float32, normal x 4
    python tests/benchmarks/bench_breakdown.py FILE.npy --no-gradients --top 25

One process: compiles (or loads) the kernels, analyses the file once to warm up, then times a
second analysis with every kernel launch on blocks of rows (``smcheck.kernels.run_blocks``;
the small serial kernels called directly, such as the histogram gather, are not counted)
wrapped, and prints each kernel's total wall time (its blocks on every thread: the time the
launching thread waited), their sum and the analysis' total. Then a third analysis under
``cProfile`` (main thread only: the pool threads' share of a kernel shows as lock waits),
sorted by own time.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import importlib
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from logits import normal_logits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", help="a .npy of logits (default: generated)")
    ap.add_argument("--no-gradients", action="store_true")
    ap.add_argument("--top", type=int, default=15, help="profile rows to print")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from smcheck import analyze, kernels

    tmp = tempfile.TemporaryDirectory()
    path = args.path or normal_logits(tmp.name)
    grad = False if args.no_gradients else None
    kernels.compile_all()
    analyze(path, gradients=grad)

    spent: dict[str, float] = collections.defaultdict(float)
    real = kernels.run_blocks

    def timed(body: Any, *a: Any, **k: Any) -> int:
        t = time.perf_counter()
        n = real(body, *a, **k)
        fn = body.py_func
        spent[f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}"] += time.perf_counter() - t
        return n

    # every module that launches kernels (blockrows is imported by cellmetrics, not listed)
    modules = [importlib.import_module(m) for m in kernels._kernels]
    modules = [m for m in modules if hasattr(m, "run_blocks")]
    for m in modules:  # each module calls run_blocks by the name it imported
        m.run_blocks = timed  # type: ignore[attr-defined]
    t = time.perf_counter()
    analyze(path, gradients=grad)
    total = time.perf_counter() - t
    for m in modules:
        m.run_blocks = real  # type: ignore[attr-defined]
    print(
        f"{path}, gradients {'off' if grad is False else 'default'}, load {os.getloadavg()[0]:.2f}"
    )
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {s:7.3f} s  {s / total:5.1%}")
    k = sum(spent.values())
    print(f"  {'kernels in all':32s} {k:7.3f} s  {k / total:5.1%}")
    print(f"  {'the analysis':32s} {total:7.3f} s")
    prof = cProfile.Profile()
    prof.enable()
    analyze(path, gradients=grad)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
