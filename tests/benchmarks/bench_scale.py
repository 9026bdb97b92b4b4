"""Scale benchmark (not part of the test run): smcheck's full analysis against torch.softmax.

Run from the repository root:

    python tests/benchmarks/bench_scale.py              # 4096 x 32000 float32, gen:llm
    python tests/benchmarks/bench_scale.py --rows 64    # a quick run
    python tests/benchmarks/bench_scale.py --big-gib 4  # also peak RSS on a 4 GiB .npy

Prints a markdown table measured in this one run on the same data (issue 16): one in-memory
torch.softmax float32 pass (median of several, the unit of the ratios); the plain-torch floor
of the 16 default cells, forward and forward + backward, and an estimate of the least a
reference and metrics add to them (tests/benchmarks/floor.py); smcheck's full default analysis with
and without gradients, each against that floor; the kernels compiled into an empty numba cache
(compile time apart from the analysis) and loaded from it; the analysis under one busy
CPU-bound neighbour process that the script starts and kills; the naive whole-array script
(tests/benchmarks/naive_metrics.py); peak resident memory; the CLI start-up times with the
cache warm. Then the issue's targets, met or not, and beside each speed target the floor plus
that estimate. Every timed run is a fresh subprocess, with
its own peak RSS (VmHWM, see peakrss.py), its threads and the load average; files and the
numba cache go to a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# every run under the OpenMP spin count smcheck itself chooses (smcheck/threads.py), also the
# plain torch runs, so the ratios compare work, not thread scheduling
ENV = {"GOMP_SPINCOUNT": "10000", **os.environ, "PYTHONPATH": str(ROOT)}
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from neighbour import busy_neighbours  # noqa: E402

# compile_all apart from the analysis, so a cold cache's compile time is its own figure
_ANALYZE = """
import json, sys, time
from tests.benchmarks.peakrss import peak_rss_mib
t0 = time.perf_counter()
from smcheck import analyze, kernels
import resource
def cpu():  # this process's CPU and its finished children's (compile_all's compile processes)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + r.ru_utime + r.ru_stime
t1, c1 = time.perf_counter(), cpu()
kernels.compile_all()
t2, c2 = time.perf_counter(), cpu()
report = analyze(sys.argv[1], gradients=None if sys.argv[2] == "default" else False)
t3 = time.perf_counter()
import torch
cells = report.sources[0].cells
print(json.dumps({"import_s": t1 - t0, "compile_s": t2 - t1, "compile_cpu_s": c2 - c1,
                  "analyze_s": t3 - t2,
                  "peak_rss_mib": peak_rss_mib(), "verdict": report.verdict.value,
                  "cells": len(cells), "gradients": sum(c.gradient is not None for c in cells),
                  "threads": f"torch {torch.get_num_threads()}, kernels {kernels.threads()}",
                  "load": __import__("os").getloadavg()[0]}))
"""

_SOFTMAX = """
import json, statistics, sys, time
import numpy as np, torch
x = torch.from_numpy(np.load(sys.argv[1]))
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); torch.softmax(x, -1); times.append(time.perf_counter() - t)
print(json.dumps({"median_s": statistics.median(times), "all_s": times}))
"""


def run_py(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    return run_script("-c", code, *args, env=env)


def run_script(*args: str | Path, env: dict[str, str] | None = None) -> dict:
    """The JSON last line of ``python ARGS`` (a fresh process)."""
    out = subprocess.run(
        [sys.executable, *args],
        env=env or ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], env: dict[str, str], repeat: int = 3) -> float:
    """Median wall time of a command (a fresh process each time)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired_wall(a: list[str], b: list[str], env: dict[str, str], repeat: int = 5):  # type: ignore[no-untyped-def]
    """Median wall times of two commands run in turn (fresh processes), and the median of the
    rounds' differences a - b: this host's speed drifts, so a difference of medians taken
    one command after the other moves by more than the start-up it compares."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(wall(a, env, repeat=1))
        tb.append(wall(b, env, repeat=1))
    diff = statistics.median(x - y for x, y in zip(ta, tb, strict=True))
    return statistics.median(ta), statistics.median(tb), diff


def make_llm(path: Path, rows: int, cols: int, seed: int) -> None:
    """gen:llm float32 logits, written in blocks of rows (so any size fits in memory).

    Plain writes, not a writable memory map: every page written through a map stays in this
    process's resident set, and a child started afterwards inherits that peak in its ru_maxrss.
    """
    import numpy as np

    from smcheck.sources.generators import generate_logits

    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False}
    block = max(1, 2**24 // cols)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, {**header, "shape": (rows, cols)})
        for i, start in enumerate(range(0, rows, block)):
            stop = min(rows, start + block)
            x = generate_logits("llm", shape=(stop - start, cols), seed=seed + i, dtype="float32")
            fh.write(x.astype("<f4", copy=False).tobytes())


Row = tuple[str, float, float | None, float | None, float | None]


def ratio(r: float | None) -> str:
    return "" if r is None else f"{r:.1f}x"


def analyses(f: Path, env: dict[str, str]) -> dict[str, dict]:
    """The analysis runs, in this order: the first compiles the kernels into the empty cache."""
    runs = {"cold": run_py(_ANALYZE, str(f), "default", env=env)}
    runs["warm"] = run_py(_ANALYZE, str(f), "default", env=env)
    runs["nograd"] = run_py(_ANALYZE, str(f), "no-gradients", env=env)
    with busy_neighbours(1):
        runs["busy"] = run_py(_ANALYZE, str(f), "default", env=env)
    return runs


LEAST = (
    "estimate of the least a reference and metrics add to them (floor.py: a float64 "
    "log_softmax as the reference, one read of every output)"
)


def table_rows(sm: float, floor: dict, runs: dict[str, dict]) -> list[Row]:
    """(measurement, seconds, x torch.softmax, x the cells' floor, peak RSS MiB) rows."""
    fwd, both, least = floor["forward_s"], floor["backward_s"], floor["least_s"]
    warm, nograd, cold, busy = runs["warm"], runs["nograd"], runs["cold"], runs["busy"]
    return [
        ("torch.softmax float32, in memory (median)", sm, 1.0, None, None),
        ("the 16 cells' own forward passes as plain torch, chunked", fwd, fwd / sm, 1.0, None),
        ("the same with their cross-entropy backward passes", both, both / sm, 1.0, None),
        (LEAST, least, least / sm, least / fwd, None),
        (
            "smcheck full default analysis (gradients on)",
            warm["analyze_s"],
            warm["analyze_s"] / sm,
            warm["analyze_s"] / both,
            warm["peak_rss_mib"],
        ),
        (
            "smcheck full analysis, `gradients=False` (`--no-gradients`)",
            nograd["analyze_s"],
            nograd["analyze_s"] / sm,
            nograd["analyze_s"] / fwd,
            nograd["peak_rss_mib"],
        ),
        (
            "full default analysis under one busy neighbour process",
            busy["analyze_s"],
            busy["analyze_s"] / sm,
            busy["analyze_s"] / both,
            None,
        ),
        (
            "kernels compiled into an empty cache (`compile_all`, cold; "
            f"{cold['compile_cpu_s']:.1f} s of CPU with its compile processes)",
            cold["compile_s"],
            None,
            None,
            None,
        ),
        (
            "kernels loaded from the cache (`compile_all`, warm; "
            f"{warm['compile_cpu_s']:.2f} s of CPU)",
            warm["compile_s"],
            None,
            None,
            None,
        ),
        ("`import smcheck` (warm)", warm["import_s"], None, None, None),
    ]


def targets(rows: list[Row], runs: dict[str, dict], values_over_torch: float) -> list[tuple]:
    """(issue-16 target, measured, met, the floor + least-work estimate) from this run.

    The estimate (floor.py) is the floor plus a cheap stand-in for the reference and one read
    of every output: what an analysis far leaner than smcheck's might reach, not a proven
    bound."""
    by = {r[0]: r for r in rows}
    warm = by["smcheck full default analysis (gradients on)"]
    nograd = by["smcheck full analysis, `gradients=False` (`--no-gradients`)"]
    fwd = by["the 16 cells' own forward passes as plain torch, chunked"]
    both = by["the same with their cross-entropy backward passes"]
    least = by[LEAST][1]
    with_least, without_least = both[1] + least, fwd[1] + least
    sm = by["torch.softmax float32, in memory (median)"][1]
    busy = runs["busy"]["analyze_s"] / runs["warm"]["analyze_s"]
    compile_s = runs["cold"]["compile_s"]

    def speed(name: str, got: float, limit: float, estimate: float, digits: int) -> tuple:
        return (name, f"{got:.{digits}f}x", got <= limit, f"{estimate:.{digits}f}x")

    return [
        speed("full default analysis <= 100x torch.softmax", warm[2], 100, with_least / sm, 1),
        speed("without gradients <= 60x torch.softmax", nograd[2], 60, without_least / sm, 1),
        speed(
            "full default analysis <= 1.5x its floor (forward + backward)",
            warm[3],
            1.5,
            with_least / both[1],
            2,
        ),
        speed(
            "without gradients <= 1.5x its floor (forward)",
            nograd[3],
            1.5,
            without_least / fwd[1],
            2,
        ),
        ("under one busy neighbour <= 2.5x idle", f"{busy:.2f}x", busy <= 2.5, ""),
        ("cold compile of all kernels <= 15 s", f"{compile_s:.1f} s", compile_s <= 15, ""),
        (
            "`analyze --values` <= `import torch` + 0.5 s (warm cache; median of 5 differences)",
            f"{values_over_torch:+.2f} s",
            values_over_torch <= 0.5,
            "",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7, help="torch.softmax passes (median)")
    ap.add_argument("--skip-naive", action="store_true", help="do not run the naive script")
    ap.add_argument("--big-gib", type=float, default=0, help="also analyse a file this large")
    a = ap.parse_args()

    load0 = os.getloadavg()[0]
    extra: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="smcheck-bench-") as tmp:
        f = Path(tmp) / "llm.npy"
        make_llm(f, a.rows, a.cols, a.seed)
        size = f"{a.rows}x{a.cols} float32 ({f.stat().st_size / 2**20:.0f} MiB)"
        # an empty numba cache of this run's own: the first analysis compiles every kernel
        env = {**ENV, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba-cache")}
        sm = run_py(_SOFTMAX, str(f), str(a.repeat), env=env)["median_s"]
        floor = run_script(ROOT / "tests/benchmarks/floor.py", str(f), env=env)
        runs = analyses(f, env)
        rows = table_rows(sm, floor, runs)
        if not a.skip_naive:
            cmd = [sys.executable, str(ROOT / "tests/benchmarks/naive_metrics.py"), str(f)]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            nv = float(out.stdout.split()[0])
            extra.append(("naive whole-array torch script", nv, nv / sm, None, None))
        f.unlink()
        if a.big_gib:
            extra.append(big_file(Path(tmp), a, env))
        py = [sys.executable]
        help_s = wall([*py, "-m", "smcheck", "--help"], env)
        values = [*py, "-m", "smcheck", "analyze", "--values", "-999,1,2,5,6", "--no-progress"]
        values_s, torch_s, values_over = paired_wall(values, [*py, "-c", "import torch"], env)

    warm = runs["warm"]
    print(
        f"data: gen:llm {size}, seed {a.seed}; torch {version('torch')}, numba "
        f"{version('numba')}; {os.cpu_count()} CPUs; threads: {warm['threads']}; "
        f"GOMP_SPINCOUNT={ENV['GOMP_SPINCOUNT']}; load average {load0:.2f} at the start, "
        f"{warm['load']:.2f} after the warm analysis, {os.getloadavg()[0]:.2f} at the end; "
        f"gradients in {warm['gradients']} of {warm['cells']} cells (default), "
        f"{runs['nograd']['gradients']} with gradients=False; verdict {warm['verdict']}"
    )
    print()
    print("| measurement | seconds | x torch.softmax | x the cells' floor | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for name, s, r, fl, rss in rows + extra:
        m = "" if rss is None else f"{rss:.0f}"
        print(f"| {name} | {s:.3f} | {ratio(r)} | {ratio(fl)} | {m} |")
    print(f"| `smcheck --help` | {help_s:.3f} | | | |")
    label = '`smcheck analyze --values "-999,1,2,5,6"` (warm cache; median of 5, run in turn)'
    print(f"| {label} | {values_s:.3f} | | | |")
    print(f'| `python -c "import torch"` | {torch_s:.3f} | | | |')
    print()
    print("| issue-16 target | this run | met | floor + least-work estimate |")
    print("|---|---:|---|---:|")
    for name, got, met, bound in targets(rows, runs, values_over):
        print(f"| {name} | {got} | {'yes' if met else 'no'} | {bound} |")


def big_file(tmp: Path, a: argparse.Namespace, env: dict[str, str]) -> Row:
    """The full analysis of a file --big-gib large: its time and peak RSS."""
    big = tmp / "big.npy"
    brows = int(a.big_gib * 2**30 / (4 * a.cols))
    make_llm(big, brows, a.cols, a.seed)
    res = run_py(_ANALYZE, str(big), "default", env=env)
    name = f"full analysis of {big.stat().st_size / 2**30:.2f} GiB ({brows}x{a.cols})"
    big.unlink()
    return (name, res["analyze_s"], None, None, res["peak_rss_mib"])


def version(module: str) -> str:
    import importlib

    return importlib.import_module(module).__version__


if __name__ == "__main__":
    main()
