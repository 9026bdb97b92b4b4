"""Cell kernel A/B benchmark (not part of the test run): smcheck.kernels.cellmetrics against a
variant of it, their calls interleaved in one process.

Run from the repository root, with a changed copy of smcheck/kernels/cellmetrics.py:

    python tests/benchmarks/bench_cell_ab.py /tmp/variant.py            # float32 cells
    python tests/benchmarks/bench_cell_ab.py /tmp/variant.py --t 53     # double-double cells
    python tests/benchmarks/bench_cell_ab.py /tmp/variant.py --t 11 --call 1  # shifted float16

On a shared virtual machine one process's kernel can run 30 % slower than the next one's,
whatever the code (bench_cellmetrics.py's least CPU time moved from 8.4 to 13.8 ns per element
between runs of one tree), so two trees timed in turn resolve only large changes. Here both
kernels run in one process on the same arguments (a copy of the analysis's first binning call
for that format on 96 x 32000 normal x 4 logits, no values kept: naive's, whose float16 rows
overflow; ``--call 1`` is the next method's, shifted), alternately, on one kernel
thread; it prints each one's median CPU ns per element and the median of the paired ratios.
Its control, the kernel against an unchanged copy, read paired ratios of 0.97 to 1.00, but
one sitting of an equivalent variant read 0.92 and the next two 1.00: repeat a sitting before
trusting it. The variant's outputs must equal the kernel's (``--no-check`` for a variant that
drops work to see what it cost).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", help="a changed copy of smcheck/kernels/cellmetrics.py")
    ap.add_argument("--t", type=int, default=24, help="the format's precision: 8, 11, 24, 53")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument(
        "--call", type=int, default=0, help="which of the format's binning calls (0: naive's)"
    )
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cellcalls import kept_on_normal

    import smcheck.kernels.cellmetrics as k
    from smcheck import kernels

    real = k.cell_metrics
    seen: dict[int, int] = {}

    def nth(a: tuple[object, ...]) -> tuple[int, int]:  # the format's calls in the run's order
        t = a[4][0]  # type: ignore[index]
        seen[t] = seen.get(t, -1) + 1
        return t, seen[t]

    kept = kept_on_normal(nth)
    spec = importlib.util.spec_from_file_location("cellmetrics_variant", args.variant)
    assert spec is not None and spec.loader is not None
    variant = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # numba's cache
    spec.loader.exec_module(variant)  # looks it up by name
    a = kept[args.t, args.call]
    kernels.set_threads(1)
    base, other = real(*a), variant.cell_metrics(*a)  # compiles the variant
    if not args.no_check:
        for x, y in zip(base, other, strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True), "outputs differ"
    times: dict[str, list[float]] = {"kernel": [], "variant": []}
    for _ in range(args.repeat):
        for name, fn in (("kernel", real), ("variant", variant.cell_metrics)):
            c = time.process_time()
            fn(*a)
            times[name].append((time.process_time() - c) / a[1][2].size * 1e9)
    b, v = np.array(times["kernel"]), np.array(times["variant"])
    print(
        f"t={args.t} {a[1][2].shape}: kernel {np.median(b):.2f}, variant {np.median(v):.2f} "
        f"ns per element (medians, 1 thread, CPU); paired ratio {np.median(v / b):.3f}"
    )


if __name__ == "__main__":
    main()
