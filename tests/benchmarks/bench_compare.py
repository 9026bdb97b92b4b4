"""Code-against-code benchmark (not part of the test run): this tree's analysis against another
checkout's, timed alternately in one sitting.

Run from the repository root:

    git worktree add /tmp/base <commit>
    python tests/benchmarks/bench_compare.py /tmp/base                # 1024 x 32000, 3 rounds
    python tests/benchmarks/bench_compare.py /tmp/base --rows 256 --rounds 5 --neighbour

This machine's speed drifts by up to 1.5x within an hour (docs/performance.md), so a figure
from another hour says little about a change; two trees alternating in the same minutes do.
Each round runs, for each tree and for gradients on and off, a fresh process that compiles
(or loads) the kernels, analyses the file once to warm up and then times a second analysis,
wall and process CPU. ``--neighbour`` runs everything beside one busy CPU-bound process. The
input is float32 ``normal x 4`` with the given rows and 32000 columns, seed 0. Prints each
run, then the median wall and process CPU time per tree and the ratios of this tree's to the
other's (CPU moves far less than wall time on this shared machine).
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from logits import normal_logits  # noqa: E402
from neighbour import busy_neighbours  # noqa: E402

_TIMED = """
import json, sys, time
from smcheck import analyze, kernels
kernels.compile_all()
grad = None if sys.argv[2] == "on" else False
analyze(sys.argv[1], gradients=grad)
t, c = time.perf_counter(), time.process_time()
analyze(sys.argv[1], gradients=grad)
print(json.dumps([time.perf_counter() - t, time.process_time() - c]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="the root of the other checkout")
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--neighbour", action="store_true", help="beside one busy process")
    args = ap.parse_args()
    trees = {"other": args.other.resolve(), "this": ROOT}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}  # (wall, CPU) per run
    with tempfile.TemporaryDirectory() as tmp:
        path = normal_logits(tmp, args.rows)
        with busy_neighbours(1 if args.neighbour else 0):
            for r in range(args.rounds):
                for name, root in trees.items():
                    for grad in ("on", "off"):
                        env = {**os.environ, "PYTHONPATH": str(root)}
                        p = subprocess.run(
                            [sys.executable, "-c", _TIMED, path, grad],
                            cwd=root,
                            env=env,
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        wall, cpu = json.loads(p.stdout.splitlines()[-1])
                        times.setdefault((name, grad), []).append((wall, cpu))
                        print(
                            f"round {r + 1} {name:5s} gradients {grad:3s}: {wall:6.2f} s wall, "
                            f"{cpu:6.2f} s CPU, load {os.getloadavg()[0]:.2f}",
                            flush=True,
                        )
    print(f"\n{args.rows} x 32000 float32; this: {ROOT}; other: {trees['other']}")
    for grad in ("on", "off"):
        for k, what in enumerate(("wall", "CPU")):
            a, b = (statistics.median(t[k] for t in times[(n, grad)]) for n in ("this", "other"))
            print(
                f"gradients {grad}, {what:4s}: this {a:.2f} s, other {b:.2f} s (medians): "
                f"{a / b:.2f}x"
            )


if __name__ == "__main__":
    main()
