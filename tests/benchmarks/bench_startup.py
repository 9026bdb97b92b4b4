"""Start-up benchmark (not part of the test run): CLI wall times against `python -c "import torch"`.

Run from the repository root:

    python tests/benchmarks/bench_startup.py                    # this tree, 7 rounds
    python tests/benchmarks/bench_startup.py --other /tmp/base  # and another checkout, same run

Every timing is a fresh process; the commands run round-robin (so background load hits them
alike) and each figure is the median over the rounds. The issue-7 target: `smcheck analyze
--values ...` at most the torch import plus 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALUES = ["analyze", "--values", "-999,1,2,5,6", "--no-progress"]


def commands(root: Path, label: str) -> list[tuple[str, list[str], Path]]:
    """The timed smcheck commands of one checkout, run from its root (`-m` puts the cwd first)."""
    py = [sys.executable, "-m", "smcheck"]
    return [
        (f"{label}: smcheck --help", [*py, "--help"], root),
        (f'{label}: smcheck analyze --values "-999,1,2,5,6"', [*py, *VALUES], root),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="rounds (fresh processes per command)")
    ap.add_argument("--other", type=Path, help="another checkout (repository root) to time too")
    a = ap.parse_args()

    cmds = [('python -c "import torch"', [sys.executable, "-c", "import torch"], ROOT)]
    cmds += commands(ROOT, "this tree")
    if a.other is not None:
        cmds += commands(a.other.resolve(), str(a.other))
    times: dict[str, list[float]] = {name: [] for name, _, _ in cmds}
    for _ in range(a.repeat):
        for name, cmd, cwd in cmds:
            t = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t)

    torch_s = statistics.median(times[cmds[0][0]])
    print(f"{a.repeat} rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print("| command | median s | - torch import s | all s |")
    print("|---|---:|---:|---|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| `{name}` | {m:.3f} | {m - torch_s:+.3f} | {' '.join(f'{t:.2f}' for t in ts)} |")


if __name__ == "__main__":
    main()
