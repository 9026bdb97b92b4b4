"""A minimal .safetensors writer, so tests can build valid and broken files byte by byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_safetensors(
    path: Path, tensors: dict[str, tuple[str, np.ndarray]], align: bool = True
) -> Path:
    """Minimal writer: u64 header length, JSON header (space-padded to 8 bytes), the data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = b""
    for key, (dtype, raw) in tensors.items():
        header[key] = {
            "dtype": dtype,
            "shape": list(raw.shape),
            "data_offsets": [len(data), len(data) + raw.nbytes],
        }
        data += raw.tobytes()
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8 if align else (1 - len(head)) % 8)
    path.write_bytes(len(head).to_bytes(8, "little") + head + data)
    return path
