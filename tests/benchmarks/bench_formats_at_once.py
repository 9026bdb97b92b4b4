"""A chunk's formats two at once against one after another (not part of the test run).

Run from the repository root:

    python tests/benchmarks/bench_formats_at_once.py              # 256 x 32000, idle and busy
    python tests/benchmarks/bench_formats_at_once.py --rows 64 --rounds 5

One process analyses the same file (normal x 4 logits) with and without gradients, the two
modes alternating, ``--rounds`` times each, and prints each mode's median wall time: first on
its own, then beside one busy CPU-bound neighbour process that the script starts and kills.
"One after another" is SourceAnalysis.workers patched to 1; the report is the same either way
(tests/analysis/test_formats_at_once.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from logits import normal_logits  # noqa: E402
from neighbour import busy_neighbours  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    import smcheck
    from smcheck import kernels
    from smcheck.analysis import engine

    at_once = engine.SourceAnalysis.workers
    modes = {"one after another": lambda self: 1, "two at once": at_once}
    with tempfile.TemporaryDirectory() as tmp:
        path = normal_logits(tmp, rows=a.rows)
        kernels.compile_all()
        for busy in (False, True):
            with busy_neighbours(1) if busy else contextlib.nullcontext():
                for grad in (None, False):
                    smcheck.analyze(path, gradients=grad)  # warm
                    times: dict[str, list[float]] = {m: [] for m in modes}
                    for _ in range(a.rounds):
                        for name, workers in modes.items():
                            engine.SourceAnalysis.workers = workers  # type: ignore[method-assign]
                            t = time.perf_counter()
                            smcheck.analyze(path, gradients=grad)
                            times[name].append(time.perf_counter() - t)
                    engine.SourceAnalysis.workers = at_once  # type: ignore[method-assign]
                    where = "busy neighbour" if busy else "idle"
                    label = f"{where}, gradients {'on' if grad is None else 'off'}"
                    shown = ", ".join(f"{m} {statistics.median(v):.2f} s" for m, v in times.items())
                    print(f"{label}: {shown} (median of {a.rounds})", flush=True)
    print(f"{a.rows} x 32000 float32; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
