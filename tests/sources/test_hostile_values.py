"""Inputs that were read silently wrong or explained misleadingly, through the CLI.

Each builder writes one small file; the CLI must exit 2 with one ``Error:`` line that names the
real problem, and leave the folder as it was. The controls below show the same readers still
accept what is legitimate (inf literals, the largest float64, a valid archive).
"""

from __future__ import annotations

import io
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from smcheck.sources.loaders import load_logits
from tests.clirun import invoke, one_error_line, state
from tests.hostilefiles import F32_2x2, npy_bytes, st_bytes

OVERFLOWS = "overflows float64 on reading"
MAX = float(np.finfo(np.float64).max)


def _zip(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": the point of one case
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _npz_with_crc_of(stored: bytes, claimed: bytes) -> bytes:
    """An npz whose member inflates to ``stored`` but whose CRC is that of ``claimed``."""
    data = _zip(("a.npy", stored))
    crc, wanted = (zlib.crc32(b).to_bytes(4, "little") for b in (stored, claimed))
    assert data.count(crc) == 2  # the local header and the central directory
    return data.replace(crc, wanted)


def _npz_nonsense_header() -> bytes:
    # large enough that the header is read before the member's end (and its CRC check)
    good = npy_bytes(np.arange(100_000, dtype=np.float64))
    bad = good[:6] + bytes([165, 30]) + good[8:]  # "unknown .npy format version 165.30"
    return _npz_with_crc_of(bad, good)


def _npz_flipped_data() -> bytes:
    good = npy_bytes(np.arange(20, dtype=np.float64).reshape(2, 10))
    return _npz_with_crc_of(good[:-3] + b"\xff" + good[-2:], good)


def _long_double_beyond_float64() -> bytes:
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.longdouble)
    x[0, 2] = np.longdouble("1e400")
    return npy_bytes(x)


Build = Callable[[], bytes]
CASES: list[tuple[str, str, Build | bytes, str]] = [
    # (id, file name, content, fragment of the one error line)
    ("csv-1e400", "x.csv", b"1,2,3\n4,5,1e400\n", f"'1e400' at line 2 {OVERFLOWS}"),
    ("txt-digits", "x.txt", b"1 " + b"9" * 400 + b"\n", f"(400 characters)' at line 1 {OVERFLOWS}"),
    ("json-1e400", "x.json", b"[[1, 2], [-1e400, 3]]", f"'-1e400' at [1][0] {OVERFLOWS}"),
    ("json-5000-digits", "x.json", b"[[1, 1" + b"0" * 5000 + b"]]", f"at [0][1] {OVERFLOWS}"),
    ("npz-colliding-names", "c.npz", lambda: _zip(("a.npy", npy_bytes(np.ones(3))),
     ("a", npy_bytes(np.zeros(3)))), "the members 'a.npy' and 'a' for the key 'a'"),
    ("npz-duplicate-names", "d.npz", lambda: _zip(("a.npy", npy_bytes(np.ones(3))),
     ("a.npy", npy_bytes(np.zeros(3)))), "two members 'a.npy' for the key 'a'"),
    ("npz-nonsense-header", "h.npz", _npz_nonsense_header, "'a.npy' is corrupt (Bad CRC-32"),
    ("npz-flipped-data", "f.npz", _npz_flipped_data, "'a.npy' is corrupt (Bad CRC-32"),
    ("st-duplicate-key", "d.safetensors",
     st_bytes(b'{"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, '
              b'"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', bytes(16)),
     "the header names 'x' twice"),
    ("st-5000-digit-offset", "o.safetensors",
     st_bytes(b'{"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1'
              + b"0" * 5000 + b"]}}"), "the header holds a 5001-digit integer"),
    ("pt-text", "t.pt", b"logits = [1, 2, 3]\n", "not a PyTorch file (torch.save writes a zip "
     "archive); it is text starting 'logits = [1, 2, 3]'"),
    ("pt-npy", "n.pt", npy_bytes(np.ones(3)), "it is an .npy array; rename it to .npy"),
    ("pt-safetensors", "s.pt", st_bytes(F32_2x2, bytes(16)), "rename it to .safetensors"),
]  # fmt: skip
if np.finfo(np.longdouble).max > np.finfo(np.float64).max:  # x86 long double, not Arm/Windows
    CASES.append(
        ("npy-long-double", "l.npy", _long_double_beyond_float64, f"value 1e+400 {OVERFLOWS}")
    )  # fmt: skip  (read a chunk at a time: no index)


@pytest.mark.parametrize(("file_name", "content", "fragment"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_misread_input_is_one_error_naming_the_real_problem(
    tmp_path: Path, file_name: str, content: Build | bytes, fragment: str
) -> None:
    path = tmp_path / file_name
    path.write_bytes(content() if callable(content) else content)
    before = state(tmp_path)
    line = one_error_line(invoke("analyze", str(path)), f"cannot load '{path}'", fragment)
    assert "not valid JSON" not in line and "version 165.30" not in line
    assert state(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["--values", "1,2;3,-1e999"], None, f"<values>: '-1e999' at row 2, item 2 {OVERFLOWS}"),
        (["-"], b"[1, 2, 1e400]", f"<stdin>: '1e400' at [2] {OVERFLOWS}"),
        (["-"], b"1,2\n3,1e400\n", f"<stdin>: '1e400' at line 2 {OVERFLOWS}"),
    ],
    ids=["values", "stdin-json", "stdin-csv"],
)
def test_overflow_in_literal_values_and_stdin(
    args: list[str], stdin: bytes | None, fragment: str
) -> None:
    one_error_line(invoke("analyze", *args, input=stdin), fragment)


def test_a_uint64_target_is_shown_exactly(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.array([1, 2**64 - 1], dtype=np.uint64))
    r = invoke("analyze", "--values", "1,2;3,4", "--targets", str(tmp_path / "t.npy"))
    one_error_line(r, "class index 18446744073709551615 at position [1] is out of range")


@pytest.mark.parametrize(
    ("file_name", "content"),
    [
        ("t.csv", b"1\n1e23\n"),
        ("t.json", b"[1, 1e23]"),
        ("u.json", b"[1, 100000000000000000000000]"),
    ],
)
def test_a_huge_target_read_as_a_float_is_shown_as_an_integer(
    tmp_path: Path, file_name: str, content: bytes
) -> None:
    # text and JSON store class indices as float64: 1e23 was shown as the float 1e+23
    (tmp_path / file_name).write_bytes(content)
    r = invoke("analyze", "--values", "1,2;3,4", "--targets", str(tmp_path / file_name))
    one_error_line(r, "class index 100000000000000000000000 at position [1")


# ---------------------------------------------------------------- controls: no false alarms


@pytest.mark.parametrize(
    ("file_name", "content", "expected"),
    [
        ("i.csv", b"inf,-inf,nan,1.7976931348623157e308\n", [np.inf, -np.inf, np.nan, MAX]),
        ("i.json", b'[[Infinity, -Infinity, NaN, "inf", 1e308, 12345678901234567890]]',
         [np.inf, -np.inf, np.nan, np.inf, 1e308, 1.2345678901234567e19]),
        ("ok.npz", _zip(("a.npy", npy_bytes(np.arange(4.0)))), [0.0, 1.0, 2.0, 3.0]),
    ],
    ids=["csv-specials", "json-specials", "npz"],
)  # fmt: skip
def test_legitimate_values_are_still_read(
    tmp_path: Path, file_name: str, content: bytes, expected: list[float]
) -> None:
    (tmp_path / file_name).write_bytes(content)
    got = load_logits(str(tmp_path / file_name)).array.ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_a_long_double_within_float64_is_rounded_with_a_note(tmp_path: Path) -> None:
    np.save(tmp_path / "l.npy", np.array([[1.5, -2.0, 1e300]], dtype=np.longdouble))
    loaded = load_logits(str(tmp_path / "l.npy"))
    assert loaded.array.dtype == np.float64 and loaded.array[0, 2] == 1e300
    if np.dtype(np.longdouble).itemsize > 8:
        assert loaded.notes == (f"{np.dtype(np.longdouble).name} array rounded to float64",)
