"""Bounded fuzzing of every loader through the CLI: exit 0, 1 or 2 only, no traceback, no hang.

Valid files of every format are mutated (truncations, byte overwrites biased to the header,
insertions, deletions, special float patterns) and run through ``smcheck analyze`` in process,
each under a wall-clock alarm. A few seconds by default; the slow run goes further and also
uses real subprocesses with a timeout.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from smcheck.cli import cli
from tests.conftest import ROOT
from tests.safetensorsfile import write_safetensors

HANG_SECONDS = 30
"""A single invocation on a file of a few hundred bytes taking longer than this is a hang."""

LOGITS = np.array(
    [[0.5, -1.0, 12.0, -65504.0, 3.0, 2.0], [-np.inf, 0.0, 1.0, 1e4, -1e9, 7.0]], np.float32
)
SPECIALS = [np.nan, np.inf, -np.inf, -65504.0, -65520.0, 65504.0, 1e38, -3.4e38, 0.0, 1e-45]


def _npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def _f16(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # -1e9 becomes -inf in float16, as intended
        return x.astype(np.float16)


def _npz(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, logits=x)
    return buf.getvalue()


def _pt(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    torch.save({"logits": torch.from_numpy(x).to(torch.bfloat16)}, buf)
    return buf.getvalue()


def _safetensors(x: np.ndarray) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tensors = {"a": ("F32", x), "b": ("F16", _f16(x))}
        return write_safetensors(Path(d) / "x.safetensors", tensors).read_bytes()


def _text(x: np.ndarray, sep: str) -> bytes:
    return "\n".join(sep.join(repr(float(v)) for v in row) for row in x).encode()


SEEDS: dict[str, Callable[[], bytes]] = {
    "npy": lambda: _npy(LOGITS),
    "npz": lambda: _npz(_f16(LOGITS)),
    "pt": lambda: _pt(LOGITS),
    "safetensors": lambda: _safetensors(LOGITS),
    "json": lambda: json.dumps({"logits": LOGITS.tolist()}).replace("-Infinity", '"-inf"').encode(),
    "csv": lambda: b"# logits\n" + _text(LOGITS, ","),
    "txt": lambda: _text(LOGITS, " "),
}


KEYS = {"safetensors": ":a"}
"""The safetensors seed holds two tensors: pick one (the key parser is fuzzed too)."""


def mutations(good: bytes, rng: np.random.Generator, n: int) -> Iterator[bytes]:
    """``n`` mutants of ``good``; positions favour the first 128 bytes, where headers live."""

    def pos(size: int) -> int:
        if rng.random() < 0.5:
            return int(rng.integers(0, min(size, 128)))
        return int(rng.integers(0, size))

    for _ in range(n):
        b = bytearray(good)
        op = int(rng.integers(0, 6))
        if op == 0:  # truncate
            b = b[: int(rng.integers(0, len(b)))]
        elif op == 1:  # overwrite a few bytes
            for _ in range(int(rng.integers(1, 6))):
                b[pos(len(b))] = int(rng.integers(0, 256))
        elif op == 2:  # an "interesting" integer over 1, 2, 4 or 8 bytes (lengths, offsets)
            width = int(rng.choice([1, 2, 4, 8]))
            value = int(rng.choice([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**32 - 1]))
            at = pos(len(b))
            b[at : at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
        elif op == 3:  # insert random bytes
            at = pos(len(b))
            b[at:at] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif op == 4:  # delete a run
            at = pos(len(b))
            del b[at : at + int(rng.integers(1, 16))]
        else:  # a special float32 pattern over the data (NaN, inf, sentinels, subnormals)
            v = np.float32(rng.choice(SPECIALS)).tobytes()
            at = int(rng.integers(0, max(1, len(b) - 4)))
            b[at : at + 4] = v
        yield bytes(b)


class Hang(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang


def run_cli(path: Path, key: str = "") -> None:
    """One invocation: exit 0/1/2, no escaped exception, strict JSON or one ``Error:`` line."""
    args = ["analyze", str(path) + key, "--dtype", "fp16,bf16", "--method", "naive,shifted,torch"]
    args += ["--fail-on", "warn", "--format", "json"]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        r = CliRunner().invoke(cli, args, catch_exceptions=True)
    except Hang:
        pytest.fail(f"smcheck hung on {path.read_bytes()!r}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    data = path.read_bytes()
    assert r.exception is None or isinstance(r.exception, SystemExit), (data, r.exc_info)
    assert r.exit_code in (0, 1, 2), (r.exit_code, data, r.output)
    if r.exit_code == 2:
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (data, r.stderr)
    else:
        doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
        assert doc["sources"][0]["rows"] >= 1


def fuzz(ext: str, tmp_path: Path, n: int, seed: int) -> None:
    good = SEEDS[ext]()
    path = tmp_path / f"fuzz.{ext}"
    for data in mutations(good, np.random.default_rng(seed), n):
        path.write_bytes(data)
        run_cli(path, KEYS.get(ext, ""))
        assert path.read_bytes() == data  # never written to


pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")


@pytest.mark.parametrize("ext", list(SEEDS))
def test_seed_files_are_valid(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"seed.{ext}"
    path.write_bytes(SEEDS[ext]())
    r = CliRunner().invoke(cli, ["analyze", str(path) + KEYS.get(ext, ""), "--format", "json"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("ext", list(SEEDS))
def test_fuzz_loaders_through_the_cli(tmp_path: Path, ext: str) -> None:
    fuzz(ext, tmp_path, n=60, seed=8)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ext", list(SEEDS))
def test_fuzz_loaders_through_the_cli_long(tmp_path: Path, ext: str, seed: int) -> None:
    fuzz(ext, tmp_path, n=400, seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("ext", list(SEEDS))
def test_fuzz_as_subprocesses(tmp_path: Path, ext: str) -> None:
    # real processes with a hard timeout: what a CI job sees, hangs included
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    good = SEEDS[ext]()
    for i, data in enumerate(mutations(good, np.random.default_rng(99), 12)):
        path = tmp_path / f"m{i}.{ext}"
        path.write_bytes(data)
        p = subprocess.run(
            [sys.executable, "-m", "smcheck", "analyze", str(path), "--dtype", "fp16"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode in (0, 1, 2), (data, p.stderr)
        assert "Traceback" not in p.stderr, (data, p.stderr)
        if p.returncode == 2:
            assert p.stderr.startswith("Error: ") and p.stderr.count("\n") == 1, p.stderr
        assert path.read_bytes() == data
