"""The cells' floor (not part of the test run): what the 16 default cells cost as plain torch.

    python tests/benchmarks/floor.py FILE.npy [ROWS]

Prints one JSON line with three timings over the row chunks smcheck itself uses (or ROWS),
the first two each the median of REPEAT runs (all of them listed beside it) after an untimed
warm-up on one chunk (a process's first large torch ops start its threads: a single cold run
had read 1.2 to 2.0 s for the same forward passes):

* ``forward_s`` -- the 4 default methods written as user code (no diagnostics) in each of the
  4 formats, shifted and logdomain sharing their first steps (x - max x, its exp and their
  sum) as smcheck's methods do;
* ``backward_s`` -- the same, then each method's cross-entropy gradient by
  ``torch.autograd.grad`` (no accumulation into ``.grad``), the forward graph built once;
* ``least_s`` -- an estimate of the least the reference and the metrics could add: a reference
  p and log p per distinct rounded input, taken as torch's vectorised float64 ``log_softmax``
  and its ``exp`` (cheaper than an exact reference: no compensated sum, no double-double for
  float64 cells), and one read of every cell's p̂ and log p̂ against it, each element once, in
  its own width (16-bit formats through a 65536-entry table), summing one error per row in a
  kernel free to reorder its sum. It reads no gradient and computes one figure where smcheck
  computes a dozen; it is not proven minimal (a kernel fusing the reference into the read, or
  converting 16-bit values by instruction instead of table, could do less).

bench_scale.py runs it beside the analyses and reports the targets against these.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import torch
from numba import njit, prange

from smcheck.analysis.gradients import gradient_budget
from smcheck.config import AnalysisConfig
from smcheck.sources.loaders import load_logits
from smcheck.sources.rows import RowView

FORMATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
REPEAT = 3


def cells(x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(p, log p) of naive, shifted, logdomain and torch's fused kernels on ``x``."""
    w = torch.exp(x)
    p = w / w.sum(-1, keepdim=True)
    out = [(p, torch.log(p))]
    d = x - x.amax(-1, keepdim=True)  # d, w and s are shared by shifted and logdomain
    w = torch.exp(d)
    s = w.sum(-1, keepdim=True)
    p = w / s
    out.append((p, torch.log(p)))
    logp = d - torch.log(s)
    out.append((torch.exp(logp), logp))
    out.append((torch.softmax(x, -1), torch.log_softmax(x, -1)))
    return out


def run(x: torch.Tensor, rows: int, backward: bool) -> float:
    """Seconds for every chunk's 16 cells, forward or forward + backward."""
    t = time.perf_counter()
    for c in torch.split(x, rows):
        for dt in FORMATS:
            xd = c.to(dt).requires_grad_(backward)
            outs = cells(xd)
            if backward:
                tgt = xd.detach().argmax(-1)
                for _, logp in outs:
                    loss = torch.nn.functional.nll_loss(logp, tgt, reduction="sum")
                    torch.autograd.grad(loss, xd, retain_graph=True)
    return time.perf_counter() - t


@njit(parallel=True, fastmath={"reassoc"}, cache=True)
def _read16(tab, p, lp, out, a0, b0, a1, b1, a2, b2, a3, b3):  # type: ignore[no-untyped-def]
    """Per row, the summed |p̂ - p| + |log p̂ - log p| of 4 cells; p̂ as 16-bit patterns."""
    for i in prange(p.shape[0]):
        s = 0.0
        for j in range(p.shape[1]):
            r, q = p[i, j], lp[i, j]
            s += abs(tab[a0[i, j]] - r) + abs(tab[b0[i, j]] - q) + abs(tab[a1[i, j]] - r)
            s += abs(tab[b1[i, j]] - q) + abs(tab[a2[i, j]] - r) + abs(tab[b2[i, j]] - q)
            s += abs(tab[a3[i, j]] - r) + abs(tab[b3[i, j]] - q)
        out[i] = s


@njit(parallel=True, fastmath={"reassoc"}, cache=True)
def _read(p, lp, out, a0, b0, a1, b1, a2, b2, a3, b3):  # type: ignore[no-untyped-def]
    """:func:`_read16` for float32 and float64 outputs."""
    for i in prange(p.shape[0]):
        s = 0.0
        for j in range(p.shape[1]):
            r, q = p[i, j], lp[i, j]
            s += abs(a0[i, j] - r) + abs(b0[i, j] - q) + abs(a1[i, j] - r) + abs(b1[i, j] - q)
            s += abs(a2[i, j] - r) + abs(b2[i, j] - q) + abs(a3[i, j] - r) + abs(b3[i, j] - q)
        out[i] = s


def _table(dt: torch.dtype) -> np.ndarray:
    """Every value of a 16-bit format, as float64, indexed by its bit pattern."""
    bits = torch.arange(65536, dtype=torch.int32).to(torch.int16)
    return bits.view(dt).to(torch.float64).numpy()


def read(dt: torch.dtype, p: np.ndarray, lp: np.ndarray, outs: list[torch.Tensor]) -> None:
    """One read of the 4 cells' outputs ``outs`` (p̂, log p̂, ...) against ``p`` and ``lp``."""
    row = np.empty(p.shape[0])
    if dt.itemsize == 2:
        arrs = [t.view(torch.int16).numpy().view(np.uint16) for t in outs]
        _read16(TABLES[dt], p, lp, row, *arrs)
    else:
        _read(p, lp, row, *(t.numpy() for t in outs))


TABLES = {dt: _table(dt) for dt in FORMATS if dt.itemsize == 2}


def least(x: torch.Tensor, rows: int) -> float:
    """Seconds of the estimate of the least the reference and metrics add (module docstring)."""
    total = 0.0
    for c in torch.split(x, rows):
        refs: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for dt in FORMATS:
            xd = c.to(dt)
            outs = [t for pair in cells(xd) for t in pair]  # not timed: that is the floor
            # one reference per distinct rounded input (float32 logits: float32 and float64
            # cells share theirs)
            key = b"" if xd.to(c.dtype).equal(c) else str(dt).encode()
            t = time.perf_counter()
            if key not in refs:
                lp = torch.log_softmax(xd.to(torch.float64), -1)
                refs[key] = (torch.exp(lp).numpy(), lp.numpy())
            read(dt, *refs[key], outs)
            total += time.perf_counter() - t
    return total


def main() -> None:
    src = load_logits(sys.argv[1])
    view = RowView(src.array, -1, src.name)
    rows = (
        int(sys.argv[2])
        if len(sys.argv) > 2
        else view.chunk_rows(gradient_budget(AnalysisConfig().memory_budget))
    )  # smcheck's own chunks, or these
    x = torch.from_numpy(np.load(sys.argv[1]))
    with torch.no_grad():
        least(x[:2], rows)  # compiles the read kernels (or loads them), apart from the timing
        run(x[:rows], rows, backward=False)  # warm-ups, untimed
    run(x[:rows], rows, backward=True)
    with torch.no_grad():
        fwd = [run(x, rows, backward=False) for _ in range(REPEAT)]
        added = least(x, rows)
    both = [run(x, rows, backward=True) for _ in range(REPEAT)]
    out = {"forward_s": statistics.median(fwd), "backward_s": statistics.median(both)}
    out |= {"least_s": added, "chunk_rows": rows, "forward_all_s": fwd, "backward_all_s": both}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
