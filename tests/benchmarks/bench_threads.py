"""OpenMP spin-wait benchmark (not part of the test run): how torch's idle threads should wait.

Run from the repository root:

    python tests/benchmarks/bench_threads.py            # 64 x 32000 float32, idle and busy
    python tests/benchmarks/bench_threads.py --busy 0   # idle machine only

Times the full default analysis (`smcheck.analyze(FILE)`) in fresh processes under three
settings of libgomp, alternating, the median of --repeat runs each: libgomp's default (spin
~300000 times before sleeping), smcheck's default (GOMP_SPINCOUNT=10000, smcheck/threads.py) and
OMP_WAIT_POLICY=PASSIVE (never spin); then again while --busy processes spin on the CPU, as on
a shared CI machine. Prints each median and its ratio to smcheck's default, from this one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ENV, make_llm  # noqa: E402

_RUN = """
import sys, time
import torch  # loads libgomp with the environment as given (smcheck's own choice then defers)
from smcheck import analyze
analyze(sys.argv[1], dtypes=["float16"])  # warm-up: first-call costs out of the timing
t = time.perf_counter()
analyze(sys.argv[1])
print(time.perf_counter() - t)
"""

SETTINGS = {
    "libgomp default": {},
    "smcheck default (GOMP_SPINCOUNT=10000)": {"GOMP_SPINCOUNT": "10000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


def timed(path: Path, setting: dict[str, str]) -> float:
    env = {k: v for k, v in ENV.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(path)],
        env={**env, **setting}, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def measure(path: Path, repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(repeat):
        for name, setting in SETTINGS.items():  # alternate: drift in the load hits all alike
            times[name].append(timed(path, setting))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--busy", type=int, default=1, help="spinning processes in the busy run")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="smcheck-threads-") as tmp:
        path = Path(tmp) / "llm.npy"
        make_llm(path, a.rows, a.cols, 1)
        results = [("idle", measure(path, a.repeat))]
        if a.busy:
            stop = time.time() + 3600
            spinners = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(a.busy)]
            for p in spinners:
                p.start()
            try:
                results.append((f"{a.busy} busy process(es)", measure(path, a.repeat)))
            finally:
                for p in spinners:
                    p.terminate()
    print(f"data: gen:llm {a.rows}x{a.cols} float32; {os.cpu_count()} CPUs; median of {a.repeat}")
    print("| machine | setting | seconds | x smcheck default |")
    print("|---|---|---:|---:|")
    base = "smcheck default (GOMP_SPINCOUNT=10000)"
    for machine, r in results:
        for name, s in r.items():
            print(f"| {machine} | {name} | {s:.2f} | {s / r[base]:.2f}x |")


if __name__ == "__main__":
    main()
