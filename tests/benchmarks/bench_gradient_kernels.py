"""Benchmark: the fused gradient and bound kernels against the torch/numpy code they replaced.

Not collected by pytest (not a test_*.py file). Run from the repository root:

    python tests/benchmarks/bench_gradient_kernels.py             # 256 x 32000 float32 gen:llm
    python tests/benchmarks/bench_gradient_kernels.py --rows 64 --chunk 16 --repeat 5
    python tests/benchmarks/bench_gradient_kernels.py --kernels --threads 1   # ns per element

Same blocks, same gradients, in one process: per chunk of rows and format at T = 1, the exact
gradient, the statistics of one method's gradient (torch.softmax's cross-entropy backward,
computed once beforehand and not timed) and the bounds' row features, old (the oracles in
tests/analysis/oracle_*.py) and new alternating, minimum of the repeats.

``--kernels`` times the two gradient kernels alone instead (smcheck.kernels.gradients'
exact_gradient_rows and gradient_rows on the same blocks' arrays, argmax and random targets):
CPU ns per element, the minimum of the repeats; run it from two checkouts to compare them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's smcheck

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--n", type=int, default=32000)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtypes", default="float16,bfloat16,float32,float64")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (0: all CPUs)")
    ap.add_argument("--kernels", action="store_true", help="time the gradient kernels alone")
    a = ap.parse_args()
    if a.kernels:
        kernel_times(a)
        return

    from smcheck.threads import bound_spin_waiting, using_threads

    bound_spin_waiting()  # as smcheck.api does, before torch loads libgomp

    from smcheck import kernels
    from smcheck.analysis import bounds, gradients
    from smcheck.methods import METHODS
    from smcheck.sources.generators import generate_logits
    from tests.analysis import oracle_bounds, oracle_gradients
    from tests.kernels.blocks import blocks

    kernels.compile_all()
    x = np.asarray(generate_logits("llm", shape=(a.rows, a.n), seed=1), dtype=np.float64)
    work = []  # (block, target, gradient, logp) per chunk and format at T = 1
    for s in range(0, a.rows, a.chunk):
        xc = x[s : s + a.chunk]
        tgt = np.argmax(xc, -1)
        for blk, xs in blocks(xc, tuple(a.dtypes.split(",")), temperatures=(1.0,)):
            res, g = gradients.backprop(METHODS["torch"].framework, xs, tgt)
            work.append((blk, tgt, g, res.logp.detach()))

    def run_grad(mod, acc_cls):  # type: ignore[no-untyped-def]
        t, c = time.perf_counter(), time.process_time()
        for blk, tgt, g, logp in work:
            e = mod.exact_gradient(blk, tgt)
            acc_cls(blk.fmt).add(g, logp, e)
        return time.perf_counter() - t, time.process_time() - c

    def run_bounds(fn):  # type: ignore[no-untyped-def]
        t, c = time.perf_counter(), time.process_time()
        for blk, *_ in work:
            fn(blk.logits / blk.divisor, blk.ref, blk.live, blk.fmt)
        return time.perf_counter() - t, time.process_time() - c

    times: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("g_old", "g_new", "b_old", "b_new")
    }
    with using_threads(a.threads or None):  # torch's and the kernels' threads alike
        for _ in range(a.repeat):
            old = oracle_gradients.OracleGradientAccumulator
            times["g_old"].append(run_grad(oracle_gradients, old))
            times["g_new"].append(run_grad(gradients, gradients.GradientAccumulator))
            times["b_old"].append(run_bounds(oracle_bounds.row_features))
            times["b_new"].append(run_bounds(bounds.row_features))
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    threads = a.threads or os.cpu_count()
    print(
        f"data: gen:llm {a.rows}x{a.n}, chunks of {a.chunk} rows, {a.dtypes}, T=1; {threads} "
        f"threads (torch, kernels); load average {os.getloadavg()[0]:.2f}; min of {a.repeat}"
    )
    print("| part | old wall (s) | fused wall (s) | speed-up | old CPU (s) | fused CPU (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, key in (("exact gradient + one cell's statistics", "g"), ("row features", "b")):
        o, n = key + "_old", key + "_new"
        print(
            f"| {name} | {wall[o]:.3f} | {wall[n]:.3f} | {wall[o] / wall[n]:.1f}x "
            f"| {cpu[o]:.3f} | {cpu[n]:.3f} |"
        )


def kernel_times(a: argparse.Namespace) -> None:
    """CPU ns per element of each gradient kernel, per format and target kind (T = 1)."""
    import torch

    from smcheck import kernels
    from smcheck.analysis.gradients import _pieces, backprop, exact_gradient
    from smcheck.kernels.gradients import exact_gradient_rows, gradient_rows
    from smcheck.methods import METHODS
    from smcheck.sources.generators import generate_logits
    from smcheck.threads import using_threads
    from tests.kernels.blocks import blocks

    kernels.compile_all()
    x = np.asarray(generate_logits("llm", shape=(a.chunk, a.n), seed=1), dtype=np.float64)
    rng = np.random.default_rng(0)
    targets = {"argmax": np.argmax(x, -1), "random": rng.integers(0, a.n, a.chunk)}

    def best(fn, *args) -> float:  # type: ignore[no-untyped-def]
        out = np.inf
        for _ in range(a.repeat):
            c = time.process_time()
            for _ in range(5):
                fn(*args)
            out = min(out, (time.process_time() - c) / 5)
        return out * 1e9 / x.size

    print(
        f"gen:llm {a.chunk}x{a.n} (one chunk), T=1, {a.threads or os.cpu_count()} threads; "
        f"load average {os.getloadavg()[0]:.2f}; CPU ns per element, min of {a.repeat} x 5"
    )
    print("| format | targets | exact_gradient_rows | gradient_rows |")
    print("|---|---|---:|---:|")
    with using_threads(a.threads or None):
        for dtype in a.dtypes.split(","):
            blk, xs = next(blocks(x, (dtype,), temperatures=(1.0,)))
            ph, pl, lh, ll, dd = _pieces(blk.ref)
            live = np.ascontiguousarray(blk.live)
            for kind, tgt in targets.items():
                e = exact_gradient(blk, tgt)
                _, g = backprop(METHODS["torch"].framework, xs, tgt)
                gd = g.to(torch.float64).contiguous().numpy()
                ex = best(exact_gradient_rows, ph, pl, lh, ll, dd, live, tgt, blk.fmt.log_zero)
                gr = best(gradient_rows, gd, ph, pl, dd, e.nonzero, tgt, e.rows, e.rest, e.norm)
                print(f"| {dtype} | {kind} | {ex:.2f} | {gr:.2f} |")


if __name__ == "__main__":
    main()
