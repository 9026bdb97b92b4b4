"""A capture on disk: a ``.safetensors`` file of each site's rows, the sites in ``__metadata__``.

``smcheck analyze run.safetensors`` recognises the ``format`` key and analyses every site as
``Capture.analyze`` does, so the report is the same. Other tools read it as plain safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from smcheck.capture.analysis import Captured, analyze_captured
from smcheck.output import write_output
from smcheck.report.model import Report, plain
from smcheck.report.sitemodel import Site
from smcheck.sources import safetensors
from smcheck.sources.validation import load_error

FORMAT = safetensors.CAPTURE_FORMAT
_STORED = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64"}


def save_captured(path: Path, captured: list[Captured]) -> Path:
    """Write ``captured`` to ``path`` atomically; bfloat16 rows are stored as BF16 again."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    sites = []
    for i, c in enumerate(captured):
        raw = _raw(c.rows, c.source_dtype)
        tensors = [(f"site{i}.rows", _STORED.get(c.source_dtype, "F64"), c.rows.shape, raw)]
        if c.targets is not None:
            t = np.ascontiguousarray(c.targets, dtype="<i8")
            tensors.append((f"site{i}.targets", "I64", t.shape, t.tobytes()))
        for key, dtype, shape, data in tensors:
            header[key] = {
                "dtype": dtype,
                "shape": list(shape),
                "data_offsets": [offset, offset + len(data)],
            }
            blobs.append(data)
            offset += len(data)
        sites.append({"key": f"site{i}", "name": c.name, "site": plain(c.site), "extra": c.extra})
    header["__metadata__"] = {"format": FORMAT, "sites": json.dumps(sites)}
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned
    write_output(str(path), len(head).to_bytes(8, "little") + head + b"".join(blobs))
    return path


def _raw(rows: np.ndarray, source: str) -> bytes:
    if source == "bfloat16":  # widened exactly from bfloat16: the upper 16 bits are the value
        return (np.ascontiguousarray(rows, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
    if source not in _STORED:
        return np.ascontiguousarray(rows, dtype="<f8").tobytes()
    return np.ascontiguousarray(rows, dtype=rows.dtype.newbyteorder("<")).tobytes()


def capture_metadata(path: str) -> dict[str, str] | None:
    """The ``__metadata__`` of a capture file, or None when ``path`` is not one."""
    if not path.lower().endswith(".safetensors") or not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n > safetensors.MAX_HEADER_BYTES:
                return None
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None  # not ours: the ordinary loader reports what is wrong with it
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if isinstance(meta, dict) and meta.get("format") == FORMAT:
        return meta
    return None


def is_capture_file(spec: object) -> bool:
    """Whether a source spec names a capture file (``smcheck analyze`` then reads every site)."""
    return isinstance(spec, str) and capture_metadata(spec) is not None


def analyze_saved(path: str, **options: Any) -> Report:
    """The report of a capture file, as ``Capture.analyze(**options)`` gave it."""
    return analyze_captured(load_captured(path), holder=repr(path), **options)


def load_captured(path: str) -> list[Captured]:
    """Every site of a capture file, as it was saved (raises LoadError naming the file)."""
    meta = capture_metadata(path)
    if meta is None:
        raise load_error(path, "it is not a smcheck capture file", "save one with cap.save(...)")
    p = Path(path)
    header = safetensors.read_header(p, path)
    try:
        entries = json.loads(meta["sites"])
        out = []
        for e in entries:
            stored, source, decoder = safetensors.map_tensor(
                p, header, header.tensors[e["key"] + ".rows"], path
            )
            rows = decoder(stored) if decoder is not None else stored
            t = header.tensors.get(e["key"] + ".targets")
            targets = np.array(safetensors.map_tensor(p, header, t, path)[0]) if t else None
            site = Site(**e["site"])
            out.append(Captured(e["name"], site, np.array(rows), source, targets, e["extra"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise load_error(
            path, f"its capture metadata is malformed ({exc!r})", "save it again with cap.save"
        ) from exc
    if not any(c.rows.size for c in out):  # a report of no row would pass, checking nothing
        raise load_error(
            path,
            "it holds no captured rows, so there is nothing to analyse",
            "save a capture that recorded a softmax call",
        )
    return out
