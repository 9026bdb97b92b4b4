"""Cell-kernel benchmark (not part of the test run): ns per element of ``cell_metrics``, per format.

Run from the repository root:

    python tests/benchmarks/bench_cellmetrics.py            # 256 x 32000 float32, normal x 4
    python tests/benchmarks/bench_cellmetrics.py FILE.npy   # another input

It runs one default analysis, keeps a copy of the arguments of the first binning call of
each cell-format kind (t, double-double, direct KL) on a full chunk that keeps no values,
then calls the kernel on each copy --repeat times on one kernel thread and prints the least
process CPU time per element.
CPU time, not wall time: on a loaded machine it is what a kernel change moves, and the least of
many calls leaves out the time slices other processes took (``--threads 1 2``: also the least
wall time on 2 threads, how much a second thread gains). Also prints the kernel's share of
one analysis (wall time of all its calls, at the default thread count) and, per cell, the
median wall ns per element of its binning calls in that analysis: the copies
above are the first method's of each kind, and another method's outputs can cost the kernel
more (float16 and bfloat16 KL terms whose |r| leave the vectorised series, for one).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cellcalls import binning, copied  # noqa: E402
from logits import normal_logits  # noqa: E402


def _kind(t_bits: int, dd: bool, direct: bool) -> str:
    return f"t={t_bits}{' double-double' if dd else ''}{' direct KL' if direct else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", help="a .npy of logits (default: generated)")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1],
        help="kernel threads per timing; above 1, the least wall time (CPU time counts them all)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import smcheck
    import smcheck.kernels.cellmetrics as k
    from smcheck import kernels
    from smcheck.analysis.lane import Lane

    tmp = tempfile.TemporaryDirectory()
    path = args.path or normal_logits(tmp.name)
    kernel, kept, wall = k.cell_metrics, {}, [0.0, 0]
    lane_add, method, per_cell = Lane.add, [""], collections.defaultdict(list)

    def named(self: Any, *a: Any) -> Any:
        method[0] = self.method.name
        return lane_add(self, *a)

    def spy(*a: Any) -> Any:
        fmt = a[4]
        key = (fmt[0], bool(fmt[4]), bool(fmt[6]))
        fill = len(a) < 9 or a[8]  # a binning call, not a second pass that only keeps values
        if binning(a) and key not in kept:  # bins only
            kept[key] = copied(a)
        t = time.perf_counter()
        r = kernel(*a)
        dt = time.perf_counter() - t
        wall[0] += dt
        wall[1] += 1
        if fill:
            per_cell[(_kind(*key), method[0])].append(dt / a[1][2].size * 1e9)
        return r

    k.cell_metrics, Lane.add = spy, named  # type: ignore[method-assign]
    smcheck.analyze(path)  # compiles and warms
    wall[:] = [0.0, 0]
    per_cell.clear()
    t = time.perf_counter()
    smcheck.analyze(path)
    total = time.perf_counter() - t
    k.cell_metrics, Lane.add = kernel, lane_add  # type: ignore[method-assign]
    print(f"analysis {total:.2f} s wall, cell_metrics {wall[0]:.2f} s in {wall[1]} calls")
    for (kind, name), ns in per_cell.items():
        print(f"  in the analysis: {kind:24s} {name:10s} {np.median(ns):6.2f} ns/element (wall)")
    for threads in args.threads:
        kernels.set_threads(threads)
        clock, what = (time.process_time, "CPU") if threads == 1 else (time.perf_counter, "wall")
        for (t_bits, dd, direct), a in sorted(kept.items()):
            n = a[1][2].size
            best = np.inf
            for _ in range(args.repeat):
                c = clock()
                kernel(*a)
                best = min(best, clock() - c)
            kind = _kind(t_bits, dd, direct)
            print(
                f"{kind:28s} {a[1][2].shape} {best / n * 1e9:6.2f} ns/element "
                f"({threads} thread{'s' * (threads > 1)}, {what})"
            )


if __name__ == "__main__":
    main()
