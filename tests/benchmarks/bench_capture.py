"""Capture overhead (not part of the test run): the encoder classifier's forward pass, captured
over uncaptured, in one run.

Run from the repository root:

    python tests/benchmarks/bench_capture.py                 # default row budget (4096)
    python tests/benchmarks/bench_capture.py --rows 256 --rounds 9

The model is tests/capture/models.py's EncoderClassifier at a working size (batch 32, 128
tokens, width 256, 4 layers of 8 heads, float32, CPU, gradients on, so both runs take the same
kernels). Captured and plain forwards alternate, so background load hits both alike; each
figure is the median over the rounds. The issue-17 target: at most 2x with the default budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    import torch
    import torch.nn.functional as F

    import smcheck
    from tests.capture.models import EncoderClassifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096, help="max_rows_per_site")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = EncoderClassifier(vocab=1000, width=256, classes=10)
    model.encoder = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(256, 8, 1024, dropout=0.0, batch_first=True),
        4,
        enable_nested_tensor=False,
    )
    tokens = torch.randint(0, 1000, (args.batch, args.tokens))
    pad = torch.zeros(args.batch, args.tokens, dtype=torch.bool)
    pad[:, -args.tokens // 4 :] = True
    labels = torch.randint(0, 10, (args.batch,))

    def forward() -> torch.Tensor:
        return F.cross_entropy(model(tokens, pad), labels)

    forward()  # warm-up
    plain, captured = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        forward()
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with smcheck.capture(max_rows_per_site=args.rows) as cap:
            forward()
        captured.append(time.perf_counter() - t0)
    p, c = statistics.median(plain), statistics.median(captured)
    sites = cap.sites
    calls = sum(s.calls for s in sites)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, rounds {args.rounds}")
    print(f"sites {len(sites)}, calls {calls}, max_rows_per_site {args.rows}")
    print(f"uncaptured forward  {p * 1e3:8.1f} ms (median)")
    print(f"captured forward    {c * 1e3:8.1f} ms (median)")
    print(f"ratio               {c / p:8.2f}x   per call {(c - p) / calls * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
