"""numba threading-layer benchmark (not part of the test run): which layer, spin and schedule.

Run from the repository root:

    python tests/benchmarks/bench_layers.py              # 128 x 32000, then 1 busy neighbour
    python tests/benchmarks/bench_layers.py --busy 0     # without the neighbour only

The analysis alternates the framework's own ops (torch, libgomp threads) with smcheck's fused
kernels (numba's thread pool). This times that pattern with a stand-in kernel
(standin_kernel.py): per chunk of --chunk-rows rows, for 16 cells, a torch softmax and
log_softmax in the cell's format, then one parallel kernel over the float32 outputs and a
float64 reference. Settings that need a fresh process (numba's ``omp`` layer under libgomp's
default spin, under smcheck's GOMP_SPINCOUNT=10000 and under OMP_WAIT_POLICY=PASSIVE; the
``workqueue`` layer) alternate over --repeat processes; within each process the static and
the dynamic schedule (``numba.set_parallel_chunksize(1)``) alternate over --passes passes, so
that pair sees the same load. Then all again while --busy processes spin on the CPU (one
neighbour: the issue-16 target is at most 2.5x the time without). Prints each median, its
ratio to smcheck's choice, and the ratio to the same setting without the neighbour.
"""

from __future__ import annotations

import argparse
import json
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
import json, os, statistics, sys, time
import numpy as np, torch, numba
from tests.benchmarks.standin_kernel import cell_stats, warm
x = np.load(sys.argv[1])
rows, passes = int(sys.argv[2]), int(sys.argv[3])
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
times = {size: [] for size in CHUNKSIZES}
for _ in range(passes):
    for size in CHUNKSIZES:  # alternating in one process: both schedules see the same load
        numba.set_parallel_chunksize(size)
        t = time.perf_counter()
        one_pass()
        times[size].append(time.perf_counter() - t)
print(json.dumps({"s": {k: statistics.median(v) for k, v in times.items()},
                  "seen": f"{numba.threading_layer()}, numba {numba.get_num_threads()} / "
                          f"torch {torch.get_num_threads()} threads"}))
"""

CHUNKSIZES = (0, 1)
"""numba's static schedule (0: equal shares of the rows per thread) and dynamic, a row at a time."""

CHOICE = ("workqueue, GOMP_SPINCOUNT=10000", 0)
"""smcheck's choice (smcheck/kernels/__init__.py, smcheck/threads.py): the ratios' unit."""

SETTINGS = {
    "omp, libgomp default spin": {"NUMBA_THREADING_LAYER": "omp"},
    "omp, GOMP_SPINCOUNT=10000": {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "10000"},
    "omp, OMP_WAIT_POLICY=PASSIVE": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "PASSIVE"},
    "workqueue, GOMP_SPINCOUNT=10000": {
        "NUMBA_THREADING_LAYER": "workqueue",
        "GOMP_SPINCOUNT": "10000",
    },
}

_OURS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER")

Result = dict[tuple[str, int], tuple[float, str]]


def timed(path: Path, a: argparse.Namespace, setting: dict[str, str], cache: str) -> dict:
    """Median seconds of a pass per chunk size in a fresh process, its layer and threads."""
    env = {k: v for k, v in ENV.items() if k not in _OURS}
    env.update(setting, NUMBA_CACHE_DIR=cache)
    code = _RUN.replace("CHUNKSIZES", repr(CHUNKSIZES))
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(a.chunk_rows), str(a.passes)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: Path, a: argparse.Namespace, cache: str) -> Result:
    times: dict[tuple[str, int], list[float]] = {}
    seen: dict[str, str] = {}
    for _ in range(a.repeat):
        for name, setting in SETTINGS.items():  # alternate: drift in the load hits all alike
            r = timed(path, a, setting, cache)
            seen[name] = r["seen"]
            for size, s in r["s"].items():
                times.setdefault((name, int(size)), []).append(s)
    return {k: (statistics.median(v), seen[k[0]]) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--chunk-rows", type=int, default=16, help="rows per kernel call")
    ap.add_argument("--passes", type=int, default=3, help="timed passes per process")
    ap.add_argument("--repeat", type=int, default=2, help="processes per setting")
    ap.add_argument("--busy", type=int, default=1, help="spinning processes in the busy run")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smcheck-layers-") as tmp:
        path = Path(tmp) / "llm.npy"
        make_llm(path, a.rows, a.cols, 1)
        cache = str(Path(tmp) / "numba-cache")
        results = [("no neighbour", measure(path, a, cache))]
        if a.busy:
            with busy_neighbours(a.busy):
                results.append((f"{a.busy} busy neighbour(s)", measure(path, a, cache)))
    print(
        f"data: gen:llm {a.rows}x{a.cols} float32, {a.chunk_rows} rows per kernel call; "
        f"{os.cpu_count()} CPUs; median of {a.passes} passes x {a.repeat} processes; "
        f"load average {load0:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print("| machine | setting | schedule | seconds | x smcheck's choice | x no neighbour | seen |")
    print("|---|---|---|---:|---:|---:|---|")
    idle = results[0][1]
    for machine, r in results:
        for (name, size), (s, seen) in r.items():
            sched = "static" if size == 0 else f"dynamic, chunksize {size}"
            print(
                f"| {machine} | {name} | {sched} | {s:.3f} | {s / r[CHOICE][0]:.2f}x "
                f"| {s / idle[(name, size)][0]:.2f}x | {seen} |"
            )


if __name__ == "__main__":
    main()
