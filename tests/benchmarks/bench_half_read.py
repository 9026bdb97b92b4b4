"""16-bit outputs read in the cell kernel (not part of the test run): the kernel on a float16
and a bfloat16 cell's own bits against the same chunk widened to float32 first.

Run from the repository root:

    python tests/benchmarks/bench_half_read.py

It runs one analysis of 96 x 32000 float32 (normal x 4, seed 1), keeps a copy of the arguments
of the first binning call of each 16-bit format on a full chunk, then calls the kernel on one
kernel thread on those arguments and on the same outputs widened to float32 (torch's cast,
as the analysis did before stop 39), alternately, checks the results are identical and prints
the median process CPU ns per element of each and the median of the paired ratios. A decode
that formed a float64 subnormal read 1.47 for float16 (its probabilities are mostly subnormal
in float16: a microcode assist per element); see docs/performance-history.md,
"The kernels read 16-bit outputs and gradients as their own values".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _widened(raw: np.ndarray, t: int) -> np.ndarray:
    """Rows of 16-bit values given as bytes, as the bytes of their float32 values."""
    u = raw.view(np.uint16)
    f = u.view(np.float16).astype(np.float32) if t == 11 else (u.astype(np.uint32) << 16)
    return np.ascontiguousarray(f).view(np.float32).view(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cellcalls import kept_on_normal

    import smcheck.kernels.cellmetrics as k
    from smcheck import kernels

    real = k.cell_metrics
    kept = kept_on_normal(lambda a: a[4][0] if a[4][0] in (8, 11) else None)
    kernels.set_threads(1)
    for t, name in ((11, "float16"), (8, "bfloat16")):
        bits = kept[t]
        out = bits[0]
        wide = ((_widened(out[0], t), _widened(out[1], t), *out[2:]), *bits[1:])
        for x, y in zip(real(*bits), real(*wide), strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True), "outputs differ"
        times: dict[str, list[float]] = {"bits": [], "float32": []}
        for _ in range(args.repeat):
            for how, a in (("bits", bits), ("float32", wide)):
                c = time.process_time()
                real(*a)
                times[how].append((time.process_time() - c) / a[1][2].size * 1e9)
        b, w = np.array(times["bits"]), np.array(times["float32"])
        print(
            f"{name} {bits[1][2].shape}: its bits {np.median(b):.2f}, widened to float32 "
            f"{np.median(w):.2f} ns per element (medians, 1 thread, CPU); paired ratio "
            f"{np.median(b / w):.3f}"
        )


if __name__ == "__main__":
    main()
