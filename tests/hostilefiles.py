"""The catalogue of broken and hostile input files, and a snapshot to show none was changed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MARKER = "PWNED"


class TouchMarker:
    """Unpickling this creates the marker file (what a malicious checkpoint would do)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MARKER

    def __reduce__(self) -> tuple[object, ...]:
        return (pathlib.Path.touch, (self.path,))


class _SystemTouch(TouchMarker):
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch '{self.path}'",))


def npy_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def _npy_header(header: str, version: bytes = b"\x01\x00") -> bytes:
    """A raw .npy prefix with an arbitrary header dict text."""
    text = header.encode("latin1")
    return b"\x93NUMPY" + version + len(text).to_bytes(2, "little") + text


def st_bytes(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    """Raw safetensors bytes with an arbitrary header (and optionally a lying length field)."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(head) if length is None else length).to_bytes(8, "little") + head + data


F32_2x2 = {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}


def _torch_bytes(obj: object, **kwargs: object) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def _pt_unsafe(d: Path) -> bytes:
    return _torch_bytes({"logits": TouchMarker(d)})


def _pt_system(d: Path) -> bytes:
    return _torch_bytes(_SystemTouch(d))


def _zip_member(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def _torch_tensor(make: Callable[..., object]) -> Callable[[Path], bytes]:
    def build(d: Path) -> bytes:
        import torch

        return _torch_bytes(make(torch))

    return build


def _nested(torch: Any) -> object:
    """A jagged tensor (torch warns that nested tensors are a prototype)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nested.nested_tensor([torch.ones(3), torch.ones(5)])


Content = bytes | Callable[[Path], bytes]

# (id, file name, content or content builder, key suffix, fragment expected in the message)
CASES: list[tuple[str, str, Content, str, str]] = [
    # .npy
    ("npy-empty-file", "e.npy", b"", "", "the file is empty"),
    ("npy-text", "t.npy", b"hello, world\n", "", "not an .npy file"),
    ("npy-raw-pickle", "p.npy", lambda d: pickle.dumps(TouchMarker(d)), "", "Python pickle"),
    ("npy-is-zip", "z.npy", lambda d: _zip_member("a.npy", b""), "", "rename it to .npz"),
    ("npy-magic-only", "m.npy", b"\x93NUMPY", "", "truncated inside the .npy header"),
    ("npy-bad-version", "v.npy", b"\x93NUMPY\x09\x00" + b"x" * 20, "", "format version 9.0"),
    ("npy-header-garbage", "g.npy", _npy_header("{not a dict at all}\n"), "", "header is corrupt"),
    (
        "npy-header-code",
        "c.npy",
        _npy_header(
            "{'descr': __import__('os').system('touch PWNED'), 'fortran_order': False, "
            "'shape': (2,)}\n"
        ),
        "",
        "header is corrupt (malformed node or string on line 1: a non-literal expression)",
    ),
    (
        "npy-header-huge",
        "h.npy",
        b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little") + b"{",
        "",
        "the .npy header claims 2147483648 bytes",
    ),
    (
        "npy-header-short",
        "hs.npy",
        b"\x93NUMPY\x01\x00" + (500).to_bytes(2, "little") + b"{",
        "",
        "truncated inside the .npy header",
    ),
    (
        "npy-negative-dim",
        "n.npy",
        _npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }\n"),
        "",
        "negative dimension",
    ),
    (
        "npy-truncated-data",
        "td.npy",
        npy_bytes(np.ones((4, 10), np.float32))[:-148],
        "",
        "the file is truncated (header says 4x10 float32 = 160 bytes of data, found 12)",
    ),
    (
        "npy-absurd-shape",
        "as.npy",
        _npy_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000000000), }\n"
        ),
        "",
        "the file is truncated",
    ),
    (
        "npy-object",
        "o.npy",
        lambda d: npy_bytes(np.array([TouchMarker(d), 1], dtype=object)),
        "",
        "contains pickled Python objects, which smcheck never loads",
    ),
    ("npy-complex", "cx.npy", npy_bytes(np.ones(3, np.complex64)), "", "complex array"),
    ("npy-bool", "b.npy", npy_bytes(np.ones(3, bool)), "", "boolean array"),
    ("npy-string", "s.npy", npy_bytes(np.array(["a", "b"])), "", "array of strings"),
    ("npy-bytes", "sb.npy", npy_bytes(np.array([b"a", b"b"])), "", "byte strings"),
    (
        "npy-structured",
        "st.npy",
        npy_bytes(np.zeros(3, [("a", "<f4"), ("b", "<i4")])),
        "",
        "structured",
    ),
    (
        "npy-datetime",
        "dt.npy",
        npy_bytes(np.array(["2020-01-01"], "datetime64[D]")),
        "",
        "datetimes",
    ),
    ("npy-0d", "z0.npy", npy_bytes(np.float32(3.0)), "", "0-d array"),
    (
        "npy-empty-array",
        "ea.npy",
        npy_bytes(np.zeros((0, 10), np.float32)),
        "",
        "the array is empty (shape 0x10 float32)",
    ),
    ("npy-key", "k.npy", npy_bytes(np.ones(3)), ":logits", "drop ':logits'"),
    # .npz
    ("npz-garbage", "g.npz", b"PK\x03\x04 definitely not a zip", "", "not a readable .npz"),
    ("npz-truncated", "t.npz", lambda d: _zip_bytes_truncated(), "", "not a readable .npz"),
    (
        "npz-object",
        "o.npz",
        lambda d: npz_bytes(x=np.array([TouchMarker(d)], dtype=object)),
        "",
        "pickled Python objects",
    ),
    (
        "npz-member-truncated",
        "m.npz",
        lambda d: _zip_member("x.npy", npy_bytes(np.ones(100))[:200]),
        "",
        "truncated",
    ),
    (
        "npz-member-pickle",
        "p.npz",
        lambda d: _zip_member("x.npy", pickle.dumps(TouchMarker(d))),
        "",
        "Python pickle",
    ),
    (
        "npz-unknown-key",
        "k.npz",
        lambda d: npz_bytes(a=np.ones(2), b=np.ones(2)),
        ":c",
        "no array 'c'; use one of 'a', 'b'",
    ),
    ("npz-no-key", "n.npz", lambda d: npz_bytes(a=np.ones(2), b=np.ones(2)), "", "holds 2 arrays"),
    ("npz-empty-archive", "e.npz", lambda d: _zip_bytes_empty(), "", "it holds no arrays"),
    # .pt / .pth
    ("pt-pickle-touch", "t.pt", _pt_unsafe, "", "pickled Python objects"),
    ("pt-pickle-system", "s.pth", _pt_system, "", "posix.system"),
    (
        "pt-legacy-pickle",
        "l.pt",
        lambda d: pickle.dumps(_SystemTouch(d)),
        "",
        "pickled Python objects",
    ),
    (
        "pt-legacy-save",
        "ls.pt",
        lambda d: _torch_bytes({"x": TouchMarker(d)}, _use_new_zipfile_serialization=False),
        "",
        "pickled Python objects",
    ),
    ("pt-garbage", "g.pt", b"this is not a checkpoint", "", "not a PyTorch file (torch.save"),
    (
        "pt-empty",
        "e.pt",
        b"",
        "",
        "not a PyTorch file (torch.save writes a zip archive); it is empty",
    ),
    ("pt-truncated", "tr.pt", lambda d: torch_pt()[:300], "", "not a readable PyTorch file"),
    ("pt-no-tensors", "n.pt", lambda d: _torch_bytes({"epoch": 3}), "", "without tensors"),
    (
        "pt-one-key-two-ways",
        "k.pt",
        _torch_tensor(lambda t: {"a.b": t.ones(2, 3), "a": {"b": t.zeros(2, 3)}}),
        "",
        "two of its tensors have the key 'a.b'",
    ),
    ("json-key-twice", "k.json", b'{"a": [[1, 2]], "a": [[3, 4]]}', "", "has the key 'a' twice"),
    (
        "pt-unknown-key",
        "k.pt",
        _torch_tensor(lambda t: {"a": t.ones(2), "b": t.ones(2)}),
        ":c",
        "no tensor 'c'; use one of 'a', 'b'",
    ),
    ("pt-key-on-tensor", "kt.pt", _torch_tensor(lambda t: t.ones(2)), ":a", "drop ':a'"),
    (
        "pt-complex",
        "c.pt",
        _torch_tensor(lambda t: t.ones(2, dtype=t.complex64)),
        "",
        "complex array",
    ),
    ("pt-bool", "b.pt", _torch_tensor(lambda t: t.ones(2, dtype=t.bool)), "", "boolean array"),
    ("pt-0d", "z.pt", _torch_tensor(lambda t: t.tensor(1.0)), "", "0-d array"),
    ("pt-empty-tensor", "et.pt", _torch_tensor(lambda t: t.ones(0, 4)), "", "array is empty"),
    (
        "pt-sparse",
        "sp.pt",
        _torch_tensor(lambda t: t.ones(2, 2).to_sparse()),
        "",
        "sparse_coo tensor",
    ),
    ("pt-nested", "nt.pt", _torch_tensor(_nested), "", "nested tensor (rows of different"),
    # .safetensors
    ("st-short", "s.safetensors", b"\x01\x02", "", "too short for a safetensors header"),
    (
        "st-npy",
        "n.safetensors",
        npy_bytes(np.ones((2, 3))),
        "",
        "it is an .npy array, not a safetensors file; rename it to .npy",
    ),
    (
        "st-header-beyond-file",
        "b.safetensors",
        st_bytes(F32_2x2, b"\0" * 16, length=10_000),
        "",
        "the header claims 10000 bytes but the file has only",
    ),
    (
        "st-absurd-header",
        "a.safetensors",
        st_bytes(b"{}", length=2**62),
        "",
        "above the 100000000-byte limit",
    ),
    ("st-bad-json", "j.safetensors", st_bytes(b"{not json"), "", "header is not valid JSON"),
    (
        "st-deep-json",
        "dj.safetensors",
        st_bytes(b"[" * 200_000 + b"]" * 200_000),
        "",
        "header is not valid JSON",
    ),
    ("st-not-utf8", "u.safetensors", st_bytes(b"\xff\xfe{}"), "", "header is not valid JSON"),
    ("st-json-list", "l.safetensors", st_bytes([1, 2]), "", "not a JSON object"),
    ("st-entry-not-object", "e.safetensors", st_bytes({"x": 3}), "", "entry 'x' is not an object"),
    (
        "st-bad-shape",
        "sh.safetensors",
        st_bytes({"x": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]}}, b"\0" * 16),
        "",
        "malformed shape",
    ),
    (
        "st-bad-offsets",
        "o.safetensors",
        st_bytes({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
        "",
        "malformed data_offsets",
    ),
    (
        "st-offsets-beyond-file",
        "ob.safetensors",
        st_bytes(F32_2x2, b"\0" * 8),
        "",
        "claims data bytes 0..16 but the file holds only 8 bytes",
    ),
    (
        "st-size-mismatch",
        "sm.safetensors",
        st_bytes({"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}}, b"\0" * 16),
        "",
        "2x3 F32 = 24 bytes but its data_offsets span 16",
    ),
    (
        "st-overlap",
        "ov.safetensors",
        st_bytes(
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
            },
            b"\0" * 16,
        ),
        "",
        "overlap",
    ),
    (
        "st-unknown-dtype",
        "ud.safetensors",
        st_bytes({"x": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\0"),
        "",
        "dtype 'F4', which smcheck does not read",
    ),
    (
        "st-bool",
        "bo.safetensors",
        st_bytes({"x": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\1\0"),
        "",
        "boolean array",
    ),
    (
        "st-unknown-key",
        "k.safetensors",
        st_bytes(F32_2x2, b"\0" * 16),
        ":y",
        "no tensor 'y'; use one of 'x'",
    ),
    ("st-no-tensors", "n.safetensors", st_bytes({"__metadata__": {}}), "", "it holds no tensors"),
    (
        "st-newline-names",
        "nl.safetensors",
        st_bytes({"a\nb": {"dtype": "X\nY", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
        "",
        "dtype 'X\\nY'",
    ),
    (
        "st-0d",
        "z.safetensors",
        st_bytes({"x": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, b"\0" * 4),
        "",
        "0-d array",
    ),
    (
        "st-empty",
        "em.safetensors",
        st_bytes({"x": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}),
        "",
        "is empty",
    ),
    # .csv / .txt
    ("csv-ragged", "r.csv", b"1,2,3\n4,5\n", "", "line 2 has 2 values but line 1 has 3"),
    ("csv-words", "w.csv", b"1,2\n3,four\n", "", "'four' in line 2 is not a number"),
    ("csv-empty", "e.csv", b"# nothing here\n\n", "", "contains no numbers"),
    # every field quoted: the line read as a header, then as "no numbers"
    (
        "csv-all-quoted",
        "q.csv",
        b'"1.5","2"\n',
        "",
        "'\"1.5\"' in line 1 is not a number; use plain",
    ),
    (
        "txt-quoted-column",
        "q.txt",
        b"'1.5'\n",
        "",
        "\"'1.5'\" in line 1 is not a number; use plain",
    ),
    ("csv-empty-field", "f.csv", b"1,,2\n", "", "empty value"),
    ("csv-trailing-comma", "t.csv", b"1,2,3,\n4,5,6,\n", "", "line 1 ends with a comma; remove"),
    ("csv-npy", "n.csv", npy_bytes(np.ones((2, 3))), "", "it is an .npy array, not text; rename"),
    ("csv-npz", "z.csv", lambda d: npz_bytes(a=np.ones(3)), "", "an .npz archive, not text"),
    ("csv-semicolons", "s.csv", b"1;2;3\n4;5;6\n", "", "line 1 separates its numbers with ';'"),
    ("txt-binary", "b.txt", b"\x00\xff\xfe\x80", "", "not UTF-8 text"),
    ("txt-key", "k.txt", b"1 2\n", ":a", "drop ':a'"),
    # .json
    ("json-invalid", "i.json", b"[1, 2,", "", "not valid JSON"),
    ("json-npy", "n.json", npy_bytes(np.ones((2, 3))), "", "an .npy array, not text; rename it"),
    ("json-pt", "p.json", lambda d: torch_pt(), "", "a PyTorch file (torch.save's zip archive)"),
    ("json-ragged", "r.json", b"[[1, 2], [3]]", "", "different lengths"),
    ("json-mixed", "m.json", b"[[1, 2], 3]", "", "mixes lists and numbers"),
    ("json-string", "s.json", b'[1, "two"]', "", 'the value "two" at [1] is not a number'),
    ("json-null", "n.json", b"[[1, null]]", "", "null at [0][1]"),
    ("json-bool", "b.json", b"[true, 1]", "", "true at [0]"),
    ("json-object-in-list", "o.json", b'[{"a": 1}]', "", "an object at [0]"),
    ("json-scalar", "sc.json", b"3.5", "", "0-d array"),
    ("json-empty", "e.json", b"[]", "", "is empty"),
    ("json-deep", "d.json", b"[" * 40 + b"1" + b"]" * 40, "", "nested more than 32 deep"),
    ("json-very-deep", "vd.json", b"[" * 200_000 + b"]" * 200_000, "", "not valid JSON"),
    ("json-unknown-key", "k.json", b'{"a": [1], "b": [2]}', ":c", "use one of 'a', 'b'"),
    ("json-no-key", "nk.json", b'{"a": [1], "b": [2]}', "", "holds 2 lists"),
    ("json-key-on-list", "kl.json", b"[1, 2]", ":a", "drop ':a'"),
    ("json-huge-int", "hi.json", b"[1" + b"0" * 400 + b"]", "", "overflows float64 on reading"),
    # anything else
    ("unknown-extension", "x.h5", b"\x89HDF\r\n", "", "unknown file type '.h5'; use one of .npy"),
    ("no-extension", "logits", b"1,2,3", "", "unknown file type '(no extension)'"),
]


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """Like np.savez, with members written by hand so pickled object arrays are explicit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, value, allow_pickle=True)
            zf.writestr(f"{key}.npy", member.getvalue())
    return buf.getvalue()


def _zip_bytes_truncated() -> bytes:
    return npz_bytes(a=np.ones(50))[:-30]


def _zip_bytes_empty() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    return buf.getvalue()


def snapshot(directory: Path) -> dict[str, str]:
    """SHA-256 of every file directly in ``directory``, by name."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.iterdir()
        if p.is_file()
    }


def torch_pt() -> bytes:
    import torch

    return _torch_bytes({"a": torch.arange(24.0).reshape(4, 6)})
