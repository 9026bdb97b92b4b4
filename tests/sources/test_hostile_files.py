"""Broken and hostile inputs: a one-line LoadError naming the file; nothing runs or changes."""

from __future__ import annotations

import builtins
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from smcheck.errors import LoadError
from smcheck.sources.loaders import load_logits
from tests.hostilefiles import (
    CASES,
    MARKER,
    Content,
    F32_2x2,
    TouchMarker,
    npy_bytes,
    npz_bytes,
    snapshot,
    st_bytes,
    torch_pt,
)


def _assert_one_line_error(spec: str, name: str, fragment: str) -> LoadError:
    with pytest.raises(LoadError) as info:
        load_logits(spec)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert name in message, message
    assert fragment in message, message
    assert message.startswith("cannot load ")
    assert ";" in message  # the sentence ends with a fix
    return info.value


@pytest.mark.parametrize(
    ("file_name", "content", "suffix", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_hostile_file(
    tmp_path: Path, file_name: str, content: Content, suffix: str, fragment: str
) -> None:
    path = tmp_path / file_name
    path.write_bytes(content(tmp_path) if callable(content) else content)
    before = snapshot(tmp_path)
    _assert_one_line_error(str(path) + suffix, file_name, fragment)
    assert not (tmp_path / MARKER).exists(), "a pickle payload was executed"
    assert not (Path.cwd() / MARKER).exists(), "a pickle payload was executed"
    assert snapshot(tmp_path) == before, "the input file was modified"


def test_missing_file(tmp_path: Path) -> None:
    _assert_one_line_error(str(tmp_path / "nope.npy"), "nope.npy", "no such file; check the path")
    _assert_one_line_error(str(tmp_path / "nope.npz:logits"), "nope.npz", "no such file")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "d.npy").mkdir()
    _assert_one_line_error(str(tmp_path / "d.npy"), "d.npy", "it is a directory")


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "f.npy")
    _assert_one_line_error(str(tmp_path / "f.npy"), "f.npy", "not a regular file")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.npy"
    np.save(path, np.ones(3))
    if os.geteuid() == 0:  # root reads anything: simulate the permission error instead
        real_open = builtins.open

        def deny(file: object, *args: object, **kwargs: object) -> object:
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(builtins, "open", deny)
    else:
        path.chmod(0)
    _assert_one_line_error(str(path), "secret.npy", "cannot be read (Permission denied)")


def test_bad_stdin() -> None:
    for data, fragment in [
        (b"", "no data arrived"),
        (b"  \n", "no data arrived"),
        (b"[1, [2]]", "mixes lists and numbers"),
        (b"1,2\n3\n", "line 2 has"),
        (b"\x93NUMPY\x01\x00", "truncated"),
        (npy_bytes(np.ones(10))[:-8], "the file is truncated"),
        (b"\xff\xfe", "not UTF-8 text"),
    ]:
        with pytest.raises(LoadError, match=fragment) as info:
            load_logits("-", stdin=io.BytesIO(data))
        assert str(info.value).startswith("cannot load <stdin>: ")
        assert "\n" not in str(info.value)


def test_pickle_payload_would_have_run(tmp_path: Path) -> None:
    # guard for the test itself: the payloads above do create the marker when unpickled
    pickle.loads(pickle.dumps(TouchMarker(tmp_path)))
    assert (tmp_path / MARKER).exists()


FUZZ_SOURCES: dict[str, Callable[[], bytes]] = {
    "npy": lambda: npy_bytes(np.arange(24, dtype=np.float32).reshape(4, 6)),
    "npz": lambda: npz_bytes(a=np.arange(24.0).reshape(4, 6)),
    "safetensors": lambda: st_bytes(F32_2x2, np.arange(4, dtype="<f4").tobytes()),
    "pt": lambda: torch_pt(),
    "json": lambda: b'{"logits": [[1, 2, "inf"], [3, 4, -5e3]]}',
    "csv": lambda: b"# c\n1,2,3\n4,5,nan\n",
}


@pytest.mark.parametrize("ext", list(FUZZ_SOURCES))
def test_fuzzed_files_raise_only_load_error(tmp_path: Path, ext: str) -> None:
    # truncations and byte flips of a valid file: success or LoadError, nothing else
    good = FUZZ_SOURCES[ext]()
    rng = np.random.default_rng(1234)
    variants = [good[:n] for n in sorted({*range(0, len(good), max(1, len(good) // 25)), 1, 9})]
    for _ in range(40):
        flipped = bytearray(good)
        for at in rng.integers(0, len(good), size=rng.integers(1, 4)):
            flipped[at] = int(rng.integers(0, 256))
        variants.append(bytes(flipped))
    path = tmp_path / f"f.{ext}"
    for data in variants:
        path.write_bytes(data)
        try:
            loaded = load_logits(str(path))
        except LoadError as exc:
            assert "\n" not in str(exc) and "f." + ext in str(exc)
        else:
            assert loaded.array.dtype.name in ("float16", "float32", "float64")
        assert path.read_bytes() == data
