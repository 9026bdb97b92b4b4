"""Regenerate the synthetic sample inputs: python sample_inputs/make_samples.py (deterministic)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing smcheck

from smcheck.sources.generators import generate_logits  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"  # the project's shared data, beside the checkout
MNIST = "mnist_cnn_presoftmax_2500x10.npy"


def minus999() -> None:
    """The row from the classic question: one logit far below the others."""
    (HERE / "minus999.json").write_text(json.dumps([-999, 1, 2, 5, 6]) + "\n")


def saturated_csv() -> None:
    """Rows whose winning logit is 20..60 (leading by 18..57 nats): p_max rounds to 1 in 16-bit
    formats."""
    rng = np.random.default_rng(1001)
    rows = np.round(rng.normal(0.0, 1.5, (4, 10)), 2)
    for i, winner in enumerate((20.0, 35.0, 50.0, 60.0)):
        rows[i, (3 * i + 2) % 10] = winner
    lines = ["# four confident classifier rows, one per line (logit of the winning class: 20..60)"]
    lines += [",".join(f"{v:g}" for v in row) for row in rows]
    (HERE / "saturated_rows.csv").write_text("\n".join(lines) + "\n")


def classifier_fp16_overflow() -> None:
    """A 64x10 float32 batch whose winning logits (12..20) overflow a naive float16 exp."""
    rng = np.random.default_rng(1002)
    logits = rng.normal(0.0, 2.0, (64, 10))
    winners = rng.integers(0, 10, 64)
    logits[np.arange(64), winners] = rng.uniform(12.0, 20.0, 64)
    np.save(HERE / "classifier_fp16_overflow.npy", logits.astype(np.float32))


def llm_logits() -> None:
    """4 x 32000 heavy-tailed LM-head logits stored as float16 (a float16-source story)."""
    x = generate_logits("llm", shape=(4, 32000), seed=1003, dtype="float16")
    np.save(HERE / "llm_logits.npy", x)


def segmentation_nchw() -> None:
    """2x5x16x16 class score maps (NCHW): each class owns a blob; confident pixels reach ~13."""
    rng = np.random.default_rng(1004)
    n, c, h, w = 2, 5, 16, 16
    yy, xx = np.mgrid[0:h, 0:w]
    maps = rng.normal(0.0, 0.5, (n, c, h, w))
    for i in range(n):
        for k in range(c):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            peak = rng.uniform(8.0, 16.0)
            maps[i, k] += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2)) - 2.0
    np.save(HERE / "segmentation_nchw.npy", maps.astype(np.float32))


def masked_rows() -> None:
    """2 heads x 8 queries x 8 keys of causal attention scores, one query row fully masked."""
    x = generate_logits("masked", shape=(2, 8, 8), seed=1005, scale=3.0, fully_masked=1)
    np.save(HERE / "masked_rows.npy", x)


def bf16_safetensors() -> None:
    """A BF16 logits tensor plus int64 labels, so the key must be chosen (':logits')."""
    import torch

    rng = np.random.default_rng(1006)
    logits = torch.from_numpy(rng.normal(-2.0, 4.0, (8, 1000))).to(torch.bfloat16)
    labels = torch.from_numpy(rng.integers(0, 1000, 8))
    bf16_bits = logits.view(torch.int16).numpy().view(np.uint16)
    write_safetensors(
        HERE / "lm_head_bf16.safetensors",
        {
            "logits": ("BF16", bf16_bits.shape, bf16_bits.astype("<u2").tobytes()),
            "labels": ("I64", tuple(labels.shape), labels.numpy().astype("<i8").tobytes()),
        },
    )


def eval_outputs_pt() -> None:
    """A torch.save'd dict {logits, targets}: some rows are confidently wrong (target ~40 nats
    below the winner), the case where the log(softmax) route gives an infinite loss."""
    import torch

    rng = np.random.default_rng(1007)
    logits = rng.normal(0.0, 2.0, (32, 10))
    targets = rng.integers(0, 10, 32)
    logits[np.arange(32), targets] += 6.0
    wrong = np.arange(0, 32, 8)
    logits[wrong, targets[wrong]] = -30.0
    logits[wrong, (targets[wrong] + 1) % 10] = 12.0
    torch.save(
        {
            "logits": torch.from_numpy(logits.astype(np.float32)),
            "targets": torch.from_numpy(targets),
        },
        HERE / "eval_outputs.pt",
    )


def write_safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...], bytes]]) -> None:
    """Minimal safetensors writer: u64 header length, JSON header padded to 8 bytes, data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = b""
    for key, (dtype, shape, raw) in tensors.items():
        header[key] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(len(head).to_bytes(8, "little") + head + data)


def mnist_copy() -> None:
    """Copy the real MNIST pre-softmax logits and their licence notice (not synthetic)."""
    source = SHARED_DATA / MNIST
    if not source.exists():
        print(f"skipped {MNIST}: {source} not found (the checked-in copy is kept)")
        return
    shutil.copyfile(source, HERE / MNIST)


def main() -> None:
    for make in (
        minus999,
        saturated_csv,
        classifier_fp16_overflow,
        llm_logits,
        segmentation_nchw,
        masked_rows,
        bf16_safetensors,
        eval_outputs_pt,
        mnist_copy,
    ):
        make()
    print(f"wrote sample inputs to {HERE}")


if __name__ == "__main__":
    main()
