"""The per-block kernels' CPU time per call (not part of the test run): blockrows.block_rows
(a float64 reference and a double-double one) and bounds.row_features.

Run from the repository root, in each tree to compare (a checkout of another commit runs the
same file copied in, or its own):

    python tests/benchmarks/bench_row_kernels.py                 # 32 x 32000, 30 calls each
    python tests/benchmarks/bench_row_kernels.py --rows 64 --repeat 50

On normal x 4 logits (seed 0; row 3 with every 7th entry masked, row 5 with a dominant class)
and their float64 softmax, one chunk of the analysis' shape (the screening constants
simplified, a made-up double-double low part: the work per element is the analysis'), on one
kernel thread: the least and median process CPU time of --repeat calls each, then a checksum
of every output, so that two trees can be seen to compute the same bits. This machine's speed
drifts, so run the two trees in turn, several times.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _inputs(rows: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 4, (rows, 32000))
    x[3, ::7] = -np.inf
    x[5, 0] = 80.0
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    return x, p, logp, ~np.isneginf(x)


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    out = fn()  # compiled (or loaded) before timing
    ts = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return min(ts), statistics.median(ts), out


def _digest(out: Any) -> str:
    h = hashlib.sha256()
    for a in out:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=32, help="at least 6 (rows 3 and 5 are set)")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    if args.rows < 6:
        ap.error("--rows must be at least 6")
    from smcheck import kernels
    from smcheck.kernels.blockrows import block_rows
    from smcheck.kernels.bounds import row_features

    kernels.set_threads(1)
    x, p, logp, live = _inputs(args.rows)
    live8, valid = live.astype(np.uint8), np.ones(args.rows, np.uint8)
    none = np.empty((0, 0))
    tiny, ln2 = float(np.finfo(np.float64).tiny), math.log(2.0)
    f32, f64 = (24, -126, -150 * ln2), (53, -1022, -1075 * ln2)  # (t, emin, ln(s/2))
    runs = {
        "block_rows, float64 reference": lambda: block_rows(
            p, logp, live8, valid, none, none, f32, (1 << 8, 0, 0.0), 0.5
        ),
        "block_rows, double-double": lambda: block_rows(
            p, logp, live8, valid, p, p * 2.0**-55, f64, (1 << 8, 0, 2 * tiny), 0.5
        ),
        "row_features (float16's threshold)": lambda: row_features(
            x, p, logp, live, math.log(2.0**-14)
        ),
    }
    print(f"{args.rows} x 32000, {args.repeat} calls each, load {os.getloadavg()[0]:.2f}")
    for name, fn in runs.items():
        least, med, out = _time(fn, args.repeat)
        print(f"  {name:36s} {least * 1e3:7.2f} ms least, {med * 1e3:7.2f} median  {_digest(out)}")


if __name__ == "__main__":
    main()
