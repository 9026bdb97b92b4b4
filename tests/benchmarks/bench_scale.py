"""Scale benchmark (not part of the test run): smcheck's full default analysis vs torch.softmax.

Run from the repository root:

    python tests/benchmarks/bench_scale.py              # 4096 x 32000 float32, gen:llm
    python tests/benchmarks/bench_scale.py --rows 256   # a quick run
    python tests/benchmarks/bench_scale.py --big-gib 4  # also peak RSS on a 4 GiB .npy

Prints, measured in this one run on the same data: the full default analysis (`analyze FILE`:
4 methods x 4 dtypes, references, every metric), one in-memory torch.softmax float32 pass (median
of several), their ratio, the naive whole-array script (tests/benchmarks/naive_metrics.py), peak
resident memory, and the CLI start-up times. Every timed run is a fresh subprocess, and its peak
RSS is that process's own (VmHWM, see peakrss.py). Files go to a temporary folder that is deleted
afterwards.
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

_ANALYZE = """
import json, sys, time
from tests.benchmarks.peakrss import peak_rss_mib
t0 = time.perf_counter()
from smcheck import analyze
t1 = time.perf_counter()
report = analyze(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "analyze_s": t2 - t1,
                  "peak_rss_mib": peak_rss_mib(), "verdict": report.verdict.value}))
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

# The arithmetic every analysis must run whatever it measures: the 4 default methods written as
# user code (no diagnostics), in each of the 4 formats, over the same row chunks smcheck uses;
# then the same with each method's cross-entropy backward pass (gradients are on by default).
_FLOOR = """
import json, sys, time
import numpy as np, torch
from smcheck.analysis.gradients import gradient_budget
from smcheck.sources.loaders import load_logits
from smcheck.sources.rows import RowView
from smcheck.config import AnalysisConfig
src = load_logits(sys.argv[1])
view = RowView(src.array, -1, src.name)
rows = view.chunk_rows(gradient_budget(AnalysisConfig().memory_budget))
x = torch.from_numpy(np.load(sys.argv[1]))
def naive(x):
    w = torch.exp(x); return torch.log(w / w.sum(-1, keepdim=True))
def shifted(x):
    w = torch.exp(x - x.amax(-1, keepdim=True)); return torch.log(w / w.sum(-1, keepdim=True))
def logdomain(x):
    y = x - x.amax(-1, keepdim=True); return y - torch.log(torch.exp(y).sum(-1, keepdim=True))
def fused(x):
    torch.softmax(x, -1); return torch.log_softmax(x, -1)
def run(backward):
    t = time.perf_counter()
    for c in torch.split(x, rows):
        for dt in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            xd = c.to(dt).requires_grad_(backward)
            tgt = xd.detach().argmax(-1)
            for m in (naive, shifted, logdomain, fused):
                logp = m(xd)
                if backward:
                    torch.nn.functional.nll_loss(logp, tgt, reduction="sum").backward()
    return time.perf_counter() - t
with torch.no_grad():
    fwd = run(False)
both = run(True)
print(json.dumps({"forward_s": fwd, "backward_s": both, "chunk_rows": rows}))
"""


def run_py(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=ENV, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str], repeat: int = 3) -> float:
    """Median wall time of a command (a fresh process each time)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7, help="torch.softmax passes (median)")
    ap.add_argument("--skip-naive", action="store_true", help="do not run the naive script")
    ap.add_argument("--big-gib", type=float, default=0, help="also analyse a file this large")
    a = ap.parse_args()

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="smcheck-bench-") as tmp:
        f = Path(tmp) / "llm.npy"
        make_llm(f, a.rows, a.cols, a.seed)
        size = f"{a.rows}x{a.cols} float32 ({f.stat().st_size / 2**20:.0f} MiB)"
        sm = run_py(_SOFTMAX, str(f), str(a.repeat))["median_s"]
        full = run_py(_ANALYZE, str(f))
        floor = run_py(_FLOOR, str(f))
        rows_out.append(("torch.softmax float32, in memory (median)", sm, 1.0, None))
        rows_out.append(
            (
                "smcheck full default analysis",
                full["analyze_s"],
                full["analyze_s"] / sm,
                full["peak_rss_mib"],
            )
        )
        for name, key in (("forward", "forward_s"), ("forward + backward", "backward_s")):
            rows_out.append(
                (
                    f"the 16 cells' own {name} passes as plain torch, chunked",
                    floor[key],
                    floor[key] / sm,
                    None,
                )
            )
        if not a.skip_naive:
            out = subprocess.run(
                [sys.executable, str(ROOT / "tests/benchmarks/naive_metrics.py"), str(f)],
                env=ENV,
                check=True,
                capture_output=True,
                text=True,
            )
            nv = float(out.stdout.split()[0])
            rows_out.append(("naive whole-array torch script", nv, nv / sm, None))
        f.unlink()
        if a.big_gib:
            big = Path(tmp) / "big.npy"
            brows = int(a.big_gib * 2**30 / (4 * a.cols))
            make_llm(big, brows, a.cols, a.seed)
            res = run_py(_ANALYZE, str(big))
            rows_out.append(
                (
                    f"full analysis of {big.stat().st_size / 2**30:.2f} GiB ({brows}x{a.cols})",
                    res["analyze_s"],
                    None,
                    res["peak_rss_mib"],
                )
            )
            big.unlink()

    py = [sys.executable]
    help_s = wall([*py, "-m", "smcheck", "--help"])
    values_s = wall([*py, "-m", "smcheck", "analyze", "--values", "-999,1,2,5,6", "--no-progress"])
    torch_s = wall([*py, "-c", "import torch"])

    print(
        f"data: gen:llm {size}, seed {a.seed}; torch {torch_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"GOMP_SPINCOUNT={ENV['GOMP_SPINCOUNT']}"
    )
    print("| measurement | seconds | x torch.softmax | peak RSS (MiB) |")
    print("|---|---:|---:|---:|")
    for name, s, ratio, rss in rows_out:
        r = "" if ratio is None else f"{ratio:.1f}x"
        m = "" if rss is None else f"{rss:.0f}"
        print(f"| {name} | {s:.3f} | {r} | {m} |")
    print(f"| `smcheck --help` | {help_s:.3f} | | |")
    print(f'| `smcheck analyze --values "-999,1,2,5,6"` | {values_s:.3f} | | |')
    print(f'| `python -c "import torch"` | {torch_s:.3f} | | |')


def torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
