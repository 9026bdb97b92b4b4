"""Benchmark: the default analysis with and without the gradient diagnostics, in one run.

Not collected by pytest (not a test_*.py file). Run from the repository root:

    python tests/benchmarks/bench_gradients.py                  # 512 x 32000 float32 gen:llm
    python tests/benchmarks/bench_gradients.py --rows 64 --repeat 2
    python tests/benchmarks/bench_gradients.py --threads 1  # steadier on a busy 2-core machine

Runs alternate (off, on, on, off, ...) so a machine's drift hits both alike; the ratio of the
minima is the figure to quote (issue 3: gradients add at most 2x to the default analysis).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's smcheck

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each variant")
    ap.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (default: torch's own)"
    )
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from smcheck import analyze
    from smcheck.sources.generators import generate_logits

    x = generate_logits("llm", shape=(args.rows, args.vocab), seed=args.seed)
    spec = f"gen:llm:shape={args.rows}x{args.vocab},seed={args.seed}"
    analyze(x[:2])  # warm up torch's kernels and lazy imports

    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(args.repeat):
        for gradients in (False, True) if i % 2 == 0 else (True, False):
            t0 = time.perf_counter()
            analyze(x, gradients=gradients)
            times[gradients].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    torch.softmax(torch.from_numpy(np.asarray(x)), -1)
    plain = time.perf_counter() - t0

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"source      {spec} ({x.dtype}, {x.size:,} elements)")
    print(
        f"machine     {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.2f} at the end"
    )
    print("analysis    default: float16,bfloat16,float32,float64 x naive,shifted,logdomain,torch")
    for gradients, label in ((False, "--no-gradients"), (True, "with gradients")):
        ts = times[gradients]
        print(
            f"{label:<15} min {min(ts):8.2f} s   median {statistics.median(ts):8.2f} s   "
            f"runs {', '.join(f'{t:.2f}' for t in ts)}"
        )
    ratio = min(times[True]) / min(times[False])
    ratio_med = statistics.median(times[True]) / statistics.median(times[False])
    print(f"ratio       {ratio:.2f}x (minima), {ratio_med:.2f}x (medians); target <= 2x")
    print(f"reference   one torch.softmax float32 pass: {plain:.3f} s")


if __name__ == "__main__":
    main()
