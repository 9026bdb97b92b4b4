"""What the analysis costs without its per-element metric kernels (not part of the test run).

Run from the repository root:

    python tests/benchmarks/bench_without_kernels.py               # 1024 x 32000, gen:llm
    python tests/benchmarks/bench_without_kernels.py --rows 256 --rounds 3

Issue 16's ratio targets are set against one torch.softmax pass. This script asks how far a
faster cell kernel could take the analysis: in one process on the same data (bench_scale.py's
gen:llm float32, seed 1) it times one torch.softmax pass (median of 7, the unit), then the full
default analysis with and without gradients as they are, with the cell-metrics kernel's launches
(every cell's per-element statistics and histograms, smcheck.kernels.cellmetrics) skipped, and
with gradients also the gradient kernel's (smcheck.kernels.gradients). A skipped launch leaves
its outputs zero, so those runs' reports are meaningless; their time is what everything else
costs: the methods' own torch passes, the references, the rounding, bounds, block and entropy
kernels, the masks and the Python around them. No kernel that computes the same figures can
bring the analysis below that. Each configuration runs ``--rounds`` times, in turn with the
others (medians printed), after one analysis to load the kernels and warm up. Last, the same
file's plain-torch floor of the 16 cells (tests/benchmarks/floor.py, in a fresh process as
bench_scale.py runs it): the part of those times that is the methods' own arithmetic.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # smcheck's own (smcheck/threads.py)
from bench_scale import make_llm, run_script  # noqa: E402

# (label, gradients, kernels skipped) in the order they run in each round
RUNS = (
    ("analysis, gradients=False", False, ()),
    ("  without the cell-metrics kernel", False, ("cellmetrics",)),
    ("analysis, default (gradients on)", None, ()),
    ("  without the cell-metrics kernel", None, ("cellmetrics",)),
    ("  without it and the gradient kernel", None, ("cellmetrics", "gradients")),
)
TARGET = {False: 60, None: 100}  # issue 16: x one torch.softmax pass


@contextlib.contextmanager
def skipped(names: tuple[str, ...]) -> Iterator[None]:
    """Launches of the named modules' ``_cell_rows`` kernels return at once, outputs untouched
    (zero); the exact-median histograms take no bins (a skipped chunk has no values for them)."""
    import smcheck.analysis.stats as stats
    import smcheck.kernels.cellmetrics as cm
    import smcheck.kernels.gradients as gk

    mods = {"cellmetrics": cm, "gradients": gk}
    real = {n: mods[n].run_blocks for n in names}
    real_bins = stats.Histogram.add_bins

    def launcher(mod: Any) -> Any:
        def run_blocks(body: Any, rows: int, *args: Any, **kw: Any) -> int:
            if body is not mod._cell_rows:
                return real[mod.__name__.rsplit(".", 1)[-1]](body, rows, *args, **kw)
            if mod is cm:  # an empty bin range in the one block reported, for _gather_bins
                rng = args[7]
                rng[:, :, 0], rng[:, :, 1] = 0, -1
            return 1

        return run_blocks

    try:
        for n in names:
            mods[n].run_blocks = launcher(mods[n])
        if "cellmetrics" in names:
            stats.Histogram.add_bins = lambda self, b: None  # type: ignore[method-assign]
        yield
    finally:
        for n in names:
            mods[n].run_blocks = real[n]
        stats.Histogram.add_bins = real_bins  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1, help="runs of each configuration")
    a = ap.parse_args()

    import numpy as np
    import torch

    from smcheck import analyze, kernels

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smcheck-bench-") as tmp:
        f = Path(tmp) / "llm.npy"
        make_llm(f, a.rows, a.cols, a.seed)
        x = torch.from_numpy(np.load(f))
        kernels.compile_all()
        analyze(str(f), gradients=False)  # warm-up: first large allocations, page cache
        passes = []
        for _ in range(7):
            t = time.perf_counter()
            torch.softmax(x, -1)
            passes.append(time.perf_counter() - t)
        unit = statistics.median(passes)
        times: list[list[float]] = [[] for _ in RUNS]
        for _ in range(a.rounds):
            for i, (_, grad, names) in enumerate(RUNS):
                with skipped(names):
                    t = time.perf_counter()
                    analyze(str(f), gradients=grad)
                    times[i].append(time.perf_counter() - t)
        floor = run_script(ROOT / "tests/benchmarks/floor.py", str(f))
    print(
        f"data: gen:llm {a.rows}x{a.cols} float32, seed {a.seed}; torch {torch.__version__}; "
        f"threads: torch {torch.get_num_threads()}, kernels {kernels.threads()}; load average "
        f"{load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; {a.rounds} round(s)"
    )
    print(f"{'torch.softmax float32, in memory (median of 7)':52s} {unit:8.3f} s      1.0x")
    for (label, grad, _), ts in zip(RUNS, times, strict=True):
        s = statistics.median(ts)
        met = "met" if s / unit <= TARGET[grad] else "missed"
        print(f"{label:52s} {s:8.3f} s {s / unit:7.1f}x  (target <= {TARGET[grad]}x: {met})")
    for label, key in (("forward", "forward_s"), ("forward + backward", "backward_s")):
        label = f"the cells' floor, {label} (median of 3)"
        print(f"{label:52s} {floor[key]:8.3f} s {floor[key] / unit:7.1f}x")


if __name__ == "__main__":
    main()
