"""The fused reference and input-statistics kernels against the code they replaced (not a test).

Run from the repository root:

    python tests/benchmarks/bench_reference_kernels.py              # 256 x 32000, 11-row chunks
    python tests/benchmarks/bench_reference_kernels.py --rows 64 --chunk 8

On gen:llm float32 logits (seed 1) cast to float64, in row chunks as the analysis reads them,
times in this one process (best of --repeat, kernels compiled first): the float64 reference
(torch ops vs smcheck.kernels.reference.softmax64), the double-double reference at T = 1 and
T = 0.7 (torch ops vs dd_softmax), the float16 rounding statistics (numpy vs rounding_rows,
the old KL formula included) and the entropy at one temperature (numpy vs entropy_rows). The
old code is the tests' oracles. Prints each pair and its ratio, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def best(fn: Callable[[np.ndarray], object], chunks: list[np.ndarray], repeat: int) -> float:
    out = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in chunks:
            fn(c)
        out = min(out, time.perf_counter() - t0)
    return out


def old_rounding(x: np.ndarray) -> None:
    from smcheck.dtypes import get_format
    from tests.analysis import oracle_inputstats as oracle
    from tests.reference.oracle_exact import fast_softmax64

    xd = get_format("float16").round(x)
    _, _, valid = oracle.cast_rows(x, xd, np.ones(x.shape[0], dtype=bool))
    logp, p, _ = fast_softmax64(x)
    logq, _, _ = fast_softmax64(xd)
    oracle.rounding_dlogp(logp, logq, xd, valid)
    live = valid[:, None] & np.isfinite(xd)
    np.where(live, p * (logp - logq), 0).sum(-1)


def new_rounding(x: np.ndarray) -> None:
    from smcheck.dtypes import get_format
    from smcheck.kernels.inputs import rounding_rows
    from smcheck.kernels.reference import softmax64

    xd = get_format("float16").round(x)
    logp, p, _ = softmax64(x)
    logq, _, _ = softmax64(xd)
    rounding_rows(x, xd, np.ones(x.shape[0], dtype=bool), logp, p, logq)


def main() -> None:
    import torch

    import smcheck.kernels as k
    from smcheck.kernels.inputs import entropy_rows
    from smcheck.kernels.reference import dd_softmax, dd_table, softmax64
    from smcheck.sources.generators import generate_logits
    from tests.analysis import oracle_inputstats as oracle
    from tests.reference import oracle_doubledouble, oracle_exact

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--chunk", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    x = generate_logits("llm", shape=(a.rows, a.cols), seed=1).astype(np.float32).astype(np.float64)
    chunks = [np.ascontiguousarray(x[i : i + a.chunk]) for i in range(0, a.rows, a.chunk)]
    k.compile_all()
    tab = dd_table()
    ok = np.ones(a.chunk, dtype=bool)
    pairs = [
        ("float64 reference", oracle_exact.fast_softmax64, softmax64),
        (
            "double-double reference T=1",
            lambda c: oracle_doubledouble.dd_reference(torch.from_numpy(c)),
            lambda c: dd_softmax(c, 1.0, *tab),
        ),
        (
            "double-double reference T=0.7",
            lambda c: oracle_doubledouble.dd_reference(torch.from_numpy(c), 0.7),
            lambda c: dd_softmax(c, 0.7, *tab),
        ),
        ("float16 rounding statistics", old_rounding, new_rounding),
        (
            "entropy and max p, T=0.7",
            lambda c: oracle.entropy_and_max(c, 0.7),
            lambda c: entropy_rows(c, ok[: c.shape[0]], 0.7),
        ),
    ]
    print(
        f"gen:llm {a.rows}x{a.cols} float32 as float64, {len(chunks)} chunks of {a.chunk} rows; "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}"
    )
    for name, old, new in pairs:
        t_old, t_new = best(old, chunks, a.repeat), best(new, chunks, a.repeat)
        print(f"{name:32s} old {t_old:7.3f} s  new {t_new:7.3f} s  {t_old / t_new:5.1f}x")


if __name__ == "__main__":
    main()
