"""A stand-in for smcheck's fused metric kernels, for the thread and start-up benchmarks.

Shaped like the real ones (smcheck/kernels/): one ``@kernel(parallel=True)`` call per cell and
chunk that reads the method's float32 outputs and the float64 reference once, row by row in
``prange``, a sequential loop within each row, one log per element, and a handful of per-row
statistics out. The real kernels do more arithmetic per element, so these timings are a lower
bound on the kernels' own share and an upper bound on what thread hand-offs cost relative to it.
"""

from __future__ import annotations

import numba
import numpy as np

from smcheck.kernels import kernel

N_STATS = 4


@kernel()
def _row_stats(p, logp, ref, logref, out, i):  # type: ignore[no-untyped-def]
    """|sum p - 1|, generalised KL, the largest |p - ref| / ref, and exact zeros of row i."""
    s = 0.0
    kl = 0.0
    worst = 0.0
    zeros = 0
    for j in range(p.shape[1]):
        q = np.float64(p[i, j])
        r = ref[i, j]
        s += q
        if q == 0.0:
            zeros += 1
        if r > 0.0:
            kl += r * (logref[i, j] - np.float64(logp[i, j])) - r + q
            e = abs(q - r) / r
            if e > worst:
                worst = e
        kl += np.log1p(abs(q - r))  # one more libm call per element, as the real kernels make
    out[i, 0] = abs(s - 1.0)
    out[i, 1] = kl
    out[i, 2] = worst
    out[i, 3] = zeros


@kernel(parallel=True)
def cell_stats(p, logp, ref, logref):  # type: ignore[no-untyped-def]
    """``(rows, 4)`` statistics: p, logp float32; ref, logref float64."""
    out = np.empty((p.shape[0], N_STATS))
    for i in numba.prange(p.shape[0]):
        _row_stats(p, logp, ref, logref, out, i)
    return out


def warm() -> None:
    """Compile (or load from the cache) the one signature the benchmarks use."""
    a = np.ones((2, 3), dtype=np.float32)
    b = np.ones((2, 3))
    cell_stats(a, a, b, b)
