"""Time the strict model: each method's strict form per format on real-sized inputs.

Run from the repository root: ``python tests/benchmarks/bench_strict.py``. Prints seconds per
call (best of --repeat) for the MNIST data (2500x10) and LM-head-like rows (64x32000), beside
the same method under the framework model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from smcheck.dtypes import DTYPES, get_format  # noqa: E402
from smcheck.methods import METHODS  # noqa: E402
from smcheck.sources.generators import generate_logits  # noqa: E402

INPUTS = {
    "mnist 2500x10": lambda: np.load(ROOT / "sample_inputs" / "mnist_cnn_presoftmax_2500x10.npy"),
    "llm 64x32000": lambda: generate_logits("llm", shape=(64, 32000), seed=0),
}


def best(fn, fn_args: tuple, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*fn_args)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    names = [n for n, m in METHODS.items() if m.strict is not None]
    print(f"{'input':<15} {'dtype':<9} " + " ".join(f"{n:>10}" for n in names) + "  (strict s)")
    for label, load in INPUTS.items():
        x = np.asarray(load(), dtype=np.float64)
        for dtype in DTYPES:
            fmt = get_format(dtype)
            xd = fmt.round(x)
            xt = torch.from_numpy(xd).to(fmt.torch_dtype())
            strict = [best(METHODS[m].strict, (xd, fmt, False), args.repeat) for m in names]
            fw = [best(METHODS[m].framework, (xt,), args.repeat) for m in names]
            print(f"{label:<15} {dtype:<9} " + " ".join(f"{t:>10.3f}" for t in strict))
            print(f"{'':<15} {'':<9} " + " ".join(f"{t:>10.3f}" for t in fw) + "  (framework s)")


if __name__ == "__main__":
    main()
