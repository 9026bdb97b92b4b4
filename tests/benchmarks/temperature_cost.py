"""What temperature analysis costs: sweep and critical temperatures against a default analysis.

Run from the repository root: ``python tests/benchmarks/temperature_cost.py [SPEC]`` (default
``gen:llm:shape=64x32000,seed=1``). Prints wall times measured in this one process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from smcheck import analyze  # noqa: E402
from smcheck.analysis.temperature import critical_temperatures  # noqa: E402
from smcheck.config import AnalysisConfig  # noqa: E402
from smcheck.dtypes import get_format  # noqa: E402
from smcheck.methods import get_method  # noqa: E402
from smcheck.sources.loaders import load_logits  # noqa: E402
from smcheck.sources.rows import RowView  # noqa: E402


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(spec: str) -> None:
    src = load_logits(spec)
    temps = (0.5, 1.0, 2.0)
    cfg = AnalysisConfig(temperatures=temps)
    view = RowView(src.array, cfg.dim, src.name)
    fmts = [get_format(d) for d in cfg.dtypes]
    methods = [get_method(m) for m in cfg.methods]
    analyze(src, critical=False)  # warm up torch and the caches
    one = timed(lambda: analyze(src, critical=False))
    sweep = timed(lambda: analyze(src, temperatures=temps, critical=False))
    chunk = view.chunk_rows(cfg.memory_budget)
    crit = timed(lambda: critical_temperatures(view, cfg, fmts, methods, chunk))
    print(f"{spec}: {view.n_rows} rows x {view.row_length}, 4 methods x 4 dtypes")
    print(f"  default analysis (T=1)               {one:8.2f} s   1.00")
    print(f"  analysis at T=0.5,1,2 (no critical)  {sweep:8.2f} s  {sweep / one:5.2f}")
    print(f"  critical temperatures alone          {crit:8.2f} s  {crit / one:5.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gen:llm:shape=64x32000,seed=1")
