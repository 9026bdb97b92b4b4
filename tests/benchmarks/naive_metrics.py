"""The 'naive implementation' baseline: smcheck's default metrics with whole-array torch ops.

A straightforward script, written the way one would without smcheck: load the whole array, and
for each format materialise every intermediate over all rows at once -- the rounded input, the
float64 reference, each method's output, every mask and error array. It computes the same
default cell metrics (overflow, NaN, underflow, exact zeros, non-finite log p, lost mass, max and
median ulp error, normwise error, sum error, argmax flips, KL) but with a float64 reference for
every format (a float64 cell would need more; see smcheck.reference.doubledouble) and an exact
median.

Run: python tests/benchmarks/naive_metrics.py FILE.npy   (prints the seconds it took)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

FORMATS = {  # name: (torch dtype, t, emin)
    "float16": (torch.float16, 11, -14),
    "bfloat16": (torch.bfloat16, 8, -126),
    "float32": (torch.float32, 24, -126),
    "float64": (torch.float64, 53, -1022),
}


def run_method(name: str, x: torch.Tensor):  # type: ignore[no-untyped-def]
    """p, log p and the exp-overflow mask of one default method, all rows at once."""
    none = torch.zeros_like(x, dtype=torch.bool)
    if name == "naive":
        w = torch.exp(x)
        p = w / w.sum(-1, keepdim=True)
        return p, torch.log(p), torch.isinf(w) & torch.isfinite(x)
    d = x - x.amax(-1, keepdim=True)
    e = torch.exp(d)
    if name == "shifted":
        p = e / e.sum(-1, keepdim=True)
        return p, torch.log(p), none
    if name == "logdomain":
        z = d - torch.log(e.sum(-1, keepdim=True))
        return torch.exp(z), z, none
    return torch.softmax(x, -1), torch.log_softmax(x, -1), none


def _or_none(v: torch.Tensor, fn) -> float | None:  # type: ignore[no-untyped-def]
    return float(fn(v)) if v.numel() else None


def cell_metrics(p_hat, logp_hat, over, p, logp, t, emin):  # type: ignore[no-untyped-def]
    """The default metrics of one cell, over all rows."""
    log_zero = (emin - t + 1) * math.log(2.0) - math.log(2.0)
    q = p_hat.double()
    fin = torch.isfinite(q).all(-1)
    nonzero = logp > log_zero
    lost = ((q == 0) | torch.isneginf(logp_hat)) & nonzero
    a = p.abs()
    _, e = torch.frexp(torch.where(a > 0, a, 1.0))
    ulp = torch.ldexp(torch.ones_like(a), torch.clamp(e, min=emin + 1) - t)
    diff = (q - p).abs()
    err = diff / ulp
    sel = fin[:, None].expand_as(err)
    errs = err[sel]
    logq = torch.where(q > 0, torch.log(q), log_zero).clamp(min=log_zero)
    kl = (p * (logp - logq)).sum(-1)[fin]
    top = logp.amax(-1, keepdim=True)
    unique = (logp == top).sum(-1) == 1
    return {
        "overflow": int(over.sum()),
        "nan": int(torch.isnan(q).sum()),
        "underflow": int(lost.sum()),
        "exact_zero": int(((q == 0) & ~nonzero).sum()),
        "log_nonfinite": int((~torch.isfinite(logp_hat)).sum()),
        "lost_mass": float(torch.where(lost, p, 0.0).sum(-1).max()),
        "max_ulp": _or_none(errs, torch.max),
        "median_ulp": _or_none(errs, torch.median),
        "normwise_u": _or_none(((diff.amax(-1) / p.amax(-1)) / 2.0**-t)[fin], torch.max),
        "sum_error": _or_none((q.sum(-1) - 1).abs()[fin], torch.max),
        "argmax_flips": int((fin & unique & (q.argmax(-1) != logp.argmax(-1))).sum()),
        "kl_max": _or_none(kl, torch.max),
        "kl_mean": _or_none(kl, torch.mean),
    }


def analyse(x64: torch.Tensor) -> dict[str, dict[str, float]]:
    out = {}
    for name, (dt, t, emin) in FORMATS.items():
        xd = x64.to(dt)
        xr = xd.double()
        m = xr.amax(-1, keepdim=True)
        lse = m + torch.log(torch.exp(xr - m).sum(-1, keepdim=True))
        logp = xr - lse
        p = torch.exp(logp)
        for mname in ("naive", "shifted", "logdomain", "torch"):
            ph, lh, over = run_method(mname, xd)
            out[f"{mname}/{name}"] = cell_metrics(ph, lh, over, p, logp, t, emin)
            del ph, lh, over
    return out


def main() -> None:
    t0 = time.perf_counter()
    x = torch.from_numpy(np.load(sys.argv[1])).double()
    res = analyse(x)
    print(f"{time.perf_counter() - t0:.3f}")
    if "-v" in sys.argv:
        for k, v in res.items():
            print(k, v)


if __name__ == "__main__":
    main()
