"""Measure how far the golden outputs move when a pin is lifted: the evidence for compare.RTOL.

    python tests/golden/noise.py                                # as the test runs: all pinned
    python tests/golden/noise.py NPY_DISABLE_CPU_FEATURES=      # numpy's AVX-512 loops back on
    python tests/golden/noise.py ATEN_CPU_CAPABILITY=avx512     # torch's AVX-512 kernels
    python tests/golden/noise.py MKL_CBWR=AUTO                  # MKL's per-CPU vector math

records every case into a temporary folder with ``cases.pinned_env()`` changed by the
NAME=VALUE arguments, then prints, per kind of JSON field (its path without indices, and the
cell's method/dtype), how many values differ from tests/golden/out and by how much at most
(relative, absolute, float64 ulps), and last the cases compare.py would fail.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from cases import OUT, cases, pinned_env, record
from compare import differences

Spread = dict[tuple[str, str], list[tuple[Any, Any]]]


def _ordinal(x: float) -> int:
    """``x``'s position among float64s, so that neighbours differ by 1."""
    i = struct.unpack("<q", struct.pack("<d", x))[0]
    return i if i >= 0 else -(i & 0x7FFFFFFFFFFFFFFF)


def _walk(e: Any, g: Any, path: str, cell: str, out: Spread) -> None:
    if isinstance(e, dict) and isinstance(g, dict) and list(e) == list(g):
        if "method" in e and "dtype" in e:
            cell = f"{e['method']}/{e['dtype']}"
        for k in e:
            _walk(e[k], g[k], f"{path}.{k}", cell, out)
    elif isinstance(e, list) and isinstance(g, list) and len(e) == len(g):
        for a, b in zip(e, g, strict=True):
            _walk(a, b, f"{path}[]", cell, out)
    elif e != g or type(e) is not type(g):
        out[(path, cell)].append((e, g))


def _stdout(text: str) -> Any:
    return json.loads(text.split("--- stdout\n")[1].split("--- stderr\n")[0])


def _describe(pairs: list[tuple[Any, Any]]) -> str:
    if all(isinstance(a, float) and isinstance(b, float) for a, b in pairs):
        rel = max(abs(a - b) / max(abs(a), abs(b)) for a, b in pairs)
        ab = max(abs(a - b) for a, b in pairs)
        ulps = max(abs(_ordinal(a) - _ordinal(b)) for a, b in pairs)
        return f"{len(pairs)} floats, max rel {rel:.2g}, abs {ab:.2g}, {ulps} ulps"
    return f"{len(pairs)} values, e.g. {pairs[0][0]!r} -> {pairs[0][1]!r}"


def main(args: list[str]) -> None:
    pins = pinned_env()
    for arg in args:
        name, _, value = arg.partition("=")
        pins[name] = value
    with tempfile.TemporaryDirectory() as tmp:
        level = record(Path(tmp), pins=pins)
        print(f"pins {pins}; torch ran at {level}")
        spread: Spread = defaultdict(list)
        failing = []
        for stem, _ in cases():
            expected, got = (OUT / stem).read_text("utf-8"), (Path(tmp) / stem).read_text("utf-8")
            if differences(expected, got, json_case=stem.endswith(".json")):
                failing.append(stem)
            if stem.endswith(".json") and expected != got:
                _walk(_stdout(expected), _stdout(got), stem, "-", spread)
    for (path, cell), pairs in sorted(spread.items()):
        print(f"{path} [{cell}]: {_describe(pairs)}")
    print(f"compare.py fails {len(failing)} of {len(cases())} cases: {' '.join(failing)}")


if __name__ == "__main__":
    main(sys.argv[1:])
