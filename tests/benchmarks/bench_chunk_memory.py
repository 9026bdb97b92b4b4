"""What a chunk's rows cost in memory and time (not part of the test run): the measurement behind
rows.WORK_ARRAYS_PER_ELEMENT and gradients.GRADIENT_ARRAYS_PER_ELEMENT.

Run from the repository root:

    python tests/benchmarks/bench_chunk_memory.py            # 96 x 32000, two chunk sizes
    python tests/benchmarks/bench_chunk_memory.py --one-at-a-time   # a chunk's formats in turn

For each configuration, two fresh processes analyse the same rows with --chunk-rows SMALL and
--chunk-rows LARGE, each after a 4-row analysis of the same configuration (so the fixed costs
-- imports, kernels, thread pools, the exact medians' kept values, up to 256 MiB -- are in
both). The difference of their peak RSS over the difference of the chunks' elements is what a
chunk's temporaries take per element; a negative or tiny figure means the fixed costs hid
them (peak RSS is one maximum over the whole run). Also prints each run's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CONFIGS = {
    "float32, gradients (default)": ("f32", {}),
    "float32, no gradients": ("f32", {"gradients": False}),
    "float64, gradients": ("f64", {}),
    "-inf masks (probs)": ("mask", {}),
    "float64, T = 0.3, 1, 3": ("f64", {"temperatures": [0.3, 1, 3]}),
    "strict model": ("f32", {"model": "strict"}),
    "six methods": (
        "f32",
        {"methods": ["naive", "shifted", "logdomain", "torch", "online", "lse-direct"]},
    ),
}


def _child(path: str, cfg: dict, chunk: int) -> None:
    sys.path.insert(0, str(HERE))
    from peakrss import peak_rss_mib

    import smcheck

    if os.environ.get("SMCHECK_BENCH_ONE_AT_A_TIME"):  # --one-at-a-time, passed to the child
        from smcheck.analysis import engine

        engine.SourceAnalysis.workers = lambda self: 1  # type: ignore[method-assign]
    smcheck.analyze(path.replace(".npy", "_head.npy"), chunk_rows=2, **cfg)
    t = time.perf_counter()
    smcheck.analyze(path, chunk_rows=chunk, **cfg)
    print(json.dumps({"peak": peak_rss_mib(), "t": time.perf_counter() - t}))


def _files(folder: Path, rows: int, n: int) -> dict[str, str]:
    x = (np.random.default_rng(2).standard_normal((rows, n)) * 4).astype(np.float32)
    masked = x.copy()
    masked[:, ::3] = -np.inf
    out = {}
    for name, a in (("f32", x), ("f64", x.astype(np.float64) * 30), ("mask", masked)):
        out[name] = str(folder / f"{name}.npy")
        np.save(out[name], a)
        np.save(folder / f"{name}_head.npy", a[:4])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=96)
    ap.add_argument("--length", type=int, default=32000)
    ap.add_argument("--chunks", type=int, nargs=2, default=(8, 40), metavar=("SMALL", "LARGE"))
    ap.add_argument(
        "--one-at-a-time", action="store_true", help="a chunk's formats one after another"
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one_at_a_time:
        os.environ["SMCHECK_BENCH_ONE_AT_A_TIME"] = "1"
    if a.child:
        _child(a.child[0], json.loads(a.child[1]), int(a.child[2]))
        return
    small, large = a.chunks
    print(f"{a.rows} x {a.length} rows; --chunk-rows {small} and {large}; peak RSS in MiB")
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp), a.rows, a.length)
        for label, (f, cfg) in CONFIGS.items():
            runs = []
            for chunk in (small, large):
                cmd = [sys.executable, __file__, "--child", files[f], json.dumps(cfg), str(chunk)]
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                runs.append(json.loads(res.stdout.splitlines()[-1]))
            per = (runs[1]["peak"] - runs[0]["peak"]) * 2**20 / ((large - small) * a.length)
            print(f"{label:30} peak {runs[0]['peak']:6.0f} {runs[1]['peak']:6.0f}   "
                  f"{per:6.0f} B per element ({per / 8:5.1f} float64)   "
                  f"time {runs[0]['t']:6.2f} s {runs[1]['t']:6.2f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
