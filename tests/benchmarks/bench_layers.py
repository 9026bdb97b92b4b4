"""numba threading-layer benchmark (not part of the test run): which layer, spin and schedule.

Run from the repository root:

    python tests/benchmarks/bench_layers.py              # 256 x 32000, idle and 1 busy neighbour
    python tests/benchmarks/bench_layers.py --busy 0     # idle machine only

The analysis alternates the framework's own ops (torch, libgomp threads) with smcheck's fused
kernels (numba's thread pool). This times that pattern with a stand-in kernel
(standin_kernel.py): per chunk, for 16 cells, a torch softmax and log_softmax in the cell's
format, then one parallel kernel over the float32 outputs and a float64 reference. Each
setting runs in fresh processes, alternating, the median of --repeat runs: numba's ``omp``
layer under libgomp's default spin and under smcheck's GOMP_SPINCOUNT=10000, the
``workqueue`` layer, and each with dynamic scheduling (``numba.set_parallel_chunksize``);
then again while --busy processes spin on the CPU (one neighbour: the issue-16 target is
at most 2.5x idle). Prints each median, its ratio to smcheck's choice, and the ratio busy/idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ENV, make_llm  # noqa: E402
from neighbour import busy_neighbours  # noqa: E402

_RUN = """
import os, sys, time
import numpy as np, torch, numba
from tests.benchmarks.standin_kernel import cell_stats, warm
if os.environ.get("BENCH_CHUNKSIZE"):
    numba.set_parallel_chunksize(int(os.environ["BENCH_CHUNKSIZE"]))
x = np.load(sys.argv[1])
rows = int(sys.argv[2])
fmts = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
def one_pass():
    for c in range(0, x.shape[0], rows):
        xt = torch.from_numpy(x[c:c + rows])
        x64 = xt.double()
        ref, logref = torch.softmax(x64, -1).numpy(), torch.log_softmax(x64, -1).numpy()
        for dt in fmts:
            xd = xt.to(dt)
            for _ in range(4):  # the 4 default methods
                p = torch.softmax(xd, -1).float().numpy()
                logp = torch.log_softmax(xd, -1).float().numpy()
                cell_stats(p, logp, ref, logref)
warm()
one_pass()  # first calls of torch's ops out of the timing
t = time.perf_counter()
one_pass()
print(time.perf_counter() - t, numba.threading_layer(), numba.get_num_threads(),
      torch.get_num_threads())
"""

CHOICE = "omp, GOMP_SPINCOUNT=10000"
"""smcheck's choice (smcheck/kernels/__init__.py, smcheck/openmp.py): the ratios' unit."""

SETTINGS = {
    "omp, libgomp default spin": {"NUMBA_THREADING_LAYER": "omp"},
    CHOICE: {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "10000"},
    "omp, GOMP_SPINCOUNT=10000, chunksize 1": {
        "NUMBA_THREADING_LAYER": "omp",
        "GOMP_SPINCOUNT": "10000",
        "BENCH_CHUNKSIZE": "1",
    },
    "workqueue, GOMP_SPINCOUNT=10000": {
        "NUMBA_THREADING_LAYER": "workqueue",
        "GOMP_SPINCOUNT": "10000",
    },
    "workqueue, GOMP_SPINCOUNT=10000, chunksize 1": {
        "NUMBA_THREADING_LAYER": "workqueue",
        "GOMP_SPINCOUNT": "10000",
        "BENCH_CHUNKSIZE": "1",
    },
    "omp, OMP_WAIT_POLICY=PASSIVE": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "PASSIVE"},
}

_OURS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER", "BENCH_CHUNKSIZE")


def timed(path: Path, rows: int, setting: dict[str, str], cache: str) -> tuple[float, str]:
    """Seconds of one timed pass in a fresh process, and its layer and thread counts."""
    env = {k: v for k, v in ENV.items() if k not in _OURS}
    env.update(setting, NUMBA_CACHE_DIR=cache)
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(path), str(rows)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    s, layer, nthreads, tthreads = out.stdout.split()[-4:]
    return float(s), f"{layer}, numba {nthreads} / torch {tthreads} threads"


def measure(path: Path, rows: int, repeat: int, cache: str) -> dict[str, tuple[float, str]]:
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    seen: dict[str, str] = {}
    for _ in range(repeat):
        for name, setting in SETTINGS.items():  # alternate: drift in the load hits all alike
            s, seen[name] = timed(path, rows, setting, cache)
            times[name].append(s)
    return {k: (statistics.median(v), seen[k]) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--chunk-rows", type=int, default=16, help="rows per kernel call")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--busy", type=int, default=1, help="spinning processes in the busy run")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smcheck-layers-") as tmp:
        path = Path(tmp) / "llm.npy"
        make_llm(path, a.rows, a.cols, 1)
        cache = str(Path(tmp) / "numba-cache")
        results = [("idle", measure(path, a.chunk_rows, a.repeat, cache))]
        if a.busy:
            with busy_neighbours(a.busy):
                results.append((f"{a.busy} busy", measure(path, a.chunk_rows, a.repeat, cache)))
    print(
        f"data: gen:llm {a.rows}x{a.cols} float32, {a.chunk_rows} rows per kernel call; "
        f"{os.cpu_count()} CPUs; median of {a.repeat}; load average {load0:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print("| machine | setting | seconds | x smcheck's choice | x idle | layer, threads |")
    print("|---|---|---:|---:|---:|---|")
    idle = results[0][1]
    for machine, r in results:
        for name, (s, seen) in r.items():
            print(
                f"| {machine} | {name} | {s:.3f} | {s / r[CHOICE][0]:.2f}x "
                f"| {s / idle[name][0]:.2f}x | {seen} |"
            )


if __name__ == "__main__":
    main()
