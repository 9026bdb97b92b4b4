"""Tests for smcheck.sources.loaders: every source round-trips the same numbers."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smcheck.errors import LoadError
from smcheck.sources.generators import generate_logits
from smcheck.sources.loaders import EXTENSIONS, LoadedArray, array_source, load_logits, parse_values
from tests.safetensorsfile import write_safetensors

SAMPLES = Path(__file__).resolve().parents[2] / "sample_inputs"

LOGITS = np.array(
    [
        [-999.0, 1.0, 2.0, 5.0, 6.0],
        [0.5, -np.inf, 6e4, -3.25, 0.0],
        [np.nan, np.inf, -(2.0**-10), 7.0, 11.5],
    ]
)
"""Exactly representable in float16 (6e4 = 1875 * 32), with the non-finite cases."""


def bf16_bits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw uint16 bits, exact float32 values) of ``values`` rounded to bfloat16 by torch."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16), t.float().numpy()


def check(loaded: LoadedArray, expected: np.ndarray, source: str, name: str) -> None:
    assert loaded.name == name
    assert loaded.source_dtype == source
    assert loaded.array.dtype == expected.dtype
    np.testing.assert_array_equal(loaded.array, expected)
    assert not loaded.array.flags.writeable


# ------------------------------------------------------------------------------------------ npy


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_npy_round_trip_is_memory_mapped(tmp_path: Path, dtype: type) -> None:
    x = LOGITS.astype(dtype)
    np.save(tmp_path / "x.npy", x)
    loaded = load_logits(str(tmp_path / "x.npy"))
    check(loaded, x, np.dtype(dtype).name, str(tmp_path / "x.npy"))
    assert isinstance(loaded.array, np.memmap)
    assert loaded.notes == ()


def test_npy_integer_array_becomes_float64_with_note(tmp_path: Path) -> None:
    np.save(tmp_path / "i.npy", np.arange(12, dtype=np.int64).reshape(3, 4))
    loaded = load_logits(str(tmp_path / "i.npy"))
    check(loaded, np.arange(12.0).reshape(3, 4), "int64", str(tmp_path / "i.npy"))
    assert loaded.notes == ("integer array (int64) converted to float64",)


def test_npy_fortran_order_and_big_endian(tmp_path: Path) -> None:
    x = np.asfortranarray(LOGITS.astype(">f4"))
    with open(tmp_path / "f.NPY", "wb") as f:  # np.save(path) would append ".npy"
        np.save(f, x)
    loaded = load_logits(str(tmp_path / "f.NPY"))
    np.testing.assert_array_equal(loaded.array, LOGITS.astype(np.float32))
    assert loaded.array.dtype.isnative
    assert loaded.source_dtype == "float32"
    assert "big-endian data converted to native byte order" in loaded.notes


def test_npy_colon_in_file_name_is_not_a_key(tmp_path: Path) -> None:
    np.save(tmp_path / "a:b.npy", LOGITS)
    assert load_logits(str(tmp_path / "a:b.npy")).array.shape == (3, 5)


# ------------------------------------------------------------------------------------------ npz


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_keys(tmp_path: Path, save: object) -> None:
    path = tmp_path / "x.npz"
    save(path, logits=LOGITS.astype(np.float32), other=np.ones(3))  # type: ignore[operator]
    check(load_logits(f"{path}:logits"), LOGITS.astype(np.float32), "float32", f"{path}:logits")
    check(load_logits(f"{path}:other"), np.ones(3), "float64", f"{path}:other")
    with pytest.raises(LoadError, match="holds 2 arrays.*'logits', 'other'"):
        load_logits(str(path))
    with pytest.raises(LoadError, match="no array 'nope'; use one of 'logits', 'other'"):
        load_logits(f"{path}:nope")


def test_npz_single_array_needs_no_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", LOGITS)
    check(load_logits(str(tmp_path / "one.npz")), LOGITS, "float64", str(tmp_path / "one.npz"))


# ------------------------------------------------------------------------------------------ torch


def test_pt_tensor_and_dict_keys(tmp_path: Path) -> None:
    import torch

    t = torch.from_numpy(LOGITS.astype(np.float32))
    torch.save(t, tmp_path / "t.pt")
    check(
        load_logits(str(tmp_path / "t.pt")),
        LOGITS.astype(np.float32),
        "float32",
        str(tmp_path / "t.pt"),
    )
    torch.save(
        {"logits": t, "step": 3, "model": {"fc": {"bias": torch.zeros(4)}}}, tmp_path / "d.pth"
    )
    spec = f"{tmp_path / 'd.pth'}:logits"
    check(load_logits(spec), LOGITS.astype(np.float32), "float32", spec)
    spec = f"{tmp_path / 'd.pth'}:model.fc.bias"
    check(load_logits(spec), np.zeros(4, dtype=np.float32), "float32", spec)
    with pytest.raises(LoadError, match="'logits', 'model.fc.bias'"):
        load_logits(str(tmp_path / "d.pth"))
    torch.save({"only": t.double()}, tmp_path / "one.pt")
    check(load_logits(str(tmp_path / "one.pt")), LOGITS, "float64", str(tmp_path / "one.pt"))


def test_pt_bfloat16_is_widened_exactly(tmp_path: Path) -> None:
    import torch

    x = np.random.default_rng(0).normal(0, 30, (4, 50))
    t = torch.from_numpy(x).to(torch.bfloat16)
    torch.save({"logits": t}, tmp_path / "b.pt")
    loaded = load_logits(f"{tmp_path / 'b.pt'}:logits")
    check(loaded, t.float().numpy(), "bfloat16", f"{tmp_path / 'b.pt'}:logits")
    assert loaded.notes == ("bfloat16 values widened exactly to float32",)


def test_pt_float16_and_int_and_legacy_format(tmp_path: Path) -> None:
    import torch

    torch.save(torch.from_numpy(LOGITS).half(), tmp_path / "h.pt")
    check(
        load_logits(str(tmp_path / "h.pt")),
        LOGITS.astype(np.float16),
        "float16",
        str(tmp_path / "h.pt"),
    )
    torch.save(
        torch.arange(6).reshape(2, 3), tmp_path / "i.pt", _use_new_zipfile_serialization=False
    )
    loaded = load_logits(str(tmp_path / "i.pt"))
    check(loaded, np.arange(6.0).reshape(2, 3), "int64", str(tmp_path / "i.pt"))
    assert loaded.notes == ("integer array (int64) converted to float64",)


def test_pt_negative_bit_tensors_are_read_exactly(tmp_path: Path) -> None:
    import torch

    c = torch.from_numpy(LOGITS.astype(np.complex64) * (1 + 2j)).conj()
    b = torch.from_numpy(LOGITS).to(torch.bfloat16)
    torch.save({"imag": c.imag, "bf": torch._neg_view(b)}, tmp_path / "n.pt")
    assert c.imag.is_neg()
    spec = f"{tmp_path / 'n.pt'}:imag"
    check(load_logits(spec), -2 * LOGITS.astype(np.float32), "float32", spec)
    spec = f"{tmp_path / 'n.pt'}:bf"
    check(load_logits(spec), -b.float().numpy(), "bfloat16", spec)
    check(array_source(c.imag), -2 * LOGITS.astype(np.float32), "float32", "<tensor>")


def test_pt_float8_negated_view_is_one_load_error(tmp_path: Path) -> None:
    import torch

    t = torch._neg_view(torch.from_numpy(LOGITS).to(torch.float8_e4m3fn))
    torch.save(t, tmp_path / "f.pt")
    with pytest.raises(LoadError, match="its negated float8_e4m3fn view cannot be read"):
        load_logits(str(tmp_path / "f.pt"))


def test_pt_conjugated_complex_tensor_is_refused_as_complex(tmp_path: Path) -> None:
    import torch

    c = torch.from_numpy(LOGITS.astype(np.complex64)).conj()
    torch.save(c, tmp_path / "c.pt")
    with pytest.raises(LoadError, match=r"holds a complex array \(complex64\), not real-valued"):
        load_logits(str(tmp_path / "c.pt"))
    with pytest.raises(LoadError, match=r"holds a complex array \(complex64\), not real-valued"):
        array_source(c)


def _flip_member_bit(path: Path, member: str) -> None:
    """Flip one bit in the stored bytes of a zip member, leaving its recorded CRC as it was."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(member))
    data = bytearray(path.read_bytes())
    local = info.header_offset
    start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
    start += int.from_bytes(data[local + 28 : local + 30], "little")
    data[start + 5] ^= 0x40
    path.write_bytes(bytes(data))


def test_pt_data_member_with_a_bad_crc_is_refused(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "x.pt"
    torch.save(torch.arange(12, dtype=torch.float32).reshape(3, 4), path)
    _flip_member_bit(path, "data/0")
    with pytest.raises(LoadError, match=r"member 'x/data/0' is corrupt \(Bad CRC-32.*torch.save$"):
        load_logits(str(path))


def test_pt_crc_is_checked_for_the_chosen_tensors_member(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "m.pt"
    t = torch.from_numpy(LOGITS.astype(np.float32))
    torch.save({"a": t, "b": t + 1, "c": {"d": t[:1].clone()}}, path)
    _flip_member_bit(path, "data/1")  # b's storage, of the same size as a's
    with pytest.raises(LoadError, match="member 'm/data/1' is corrupt"):
        load_logits(f"{path}:b")
    check(load_logits(f"{path}:a"), LOGITS.astype(np.float32), "float32", f"{path}:a")
    check(load_logits(f"{path}:c.d"), LOGITS[:1].astype(np.float32), "float32", f"{path}:c.d")


# ------------------------------------------------------------------------------------ safetensors


def test_safetensors_all_float_dtypes(tmp_path: Path) -> None:
    bits, widened = bf16_bits(LOGITS)
    path = write_safetensors(
        tmp_path / "m.safetensors",
        {
            "f16": ("F16", LOGITS.astype("<f2")),
            "bf16": ("BF16", bits),
            "f32": ("F32", LOGITS.astype("<f4")),
            "f64": ("F64", LOGITS.astype("<f8")),
            "i64": ("I64", np.arange(4, dtype="<i8")),
        },
    )
    check(load_logits(f"{path}:f16"), LOGITS.astype(np.float16), "float16", f"{path}:f16")
    check(load_logits(f"{path}:f32"), LOGITS.astype(np.float32), "float32", f"{path}:f32")
    check(load_logits(f"{path}:f64"), LOGITS, "float64", f"{path}:f64")
    bf16 = load_logits(f"{path}:bf16")
    check(bf16, widened, "bfloat16", f"{path}:bf16")
    assert bf16.notes == ("bfloat16 values widened exactly to float32",)
    check(load_logits(f"{path}:i64"), np.arange(4.0), "int64", f"{path}:i64")
    assert isinstance(load_logits(f"{path}:f32").array, np.memmap)
    with pytest.raises(LoadError, match="holds 5 tensors.*'f16', 'bf16'"):
        load_logits(str(path))


def test_safetensors_single_tensor_and_bf16_edge_values(tmp_path: Path) -> None:
    edges = np.array([0.0, -0.0, np.inf, -np.inf, 3.3895314e38, 1e-40, -1.0, np.nan])
    bits, widened = bf16_bits(edges)
    path = write_safetensors(tmp_path / "e.safetensors", {"x": ("BF16", bits)})
    loaded = load_logits(str(path))
    assert loaded.array.tobytes() == widened.tobytes()  # bit-exact, signed zero and NaN included


def test_safetensors_unaligned_data_is_copied(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "u.safetensors", {"x": ("F32", LOGITS.astype("<f4"))}, align=False
    )
    loaded = load_logits(str(path))
    assert loaded.array.flags.aligned
    np.testing.assert_array_equal(loaded.array, LOGITS.astype(np.float32))


# ------------------------------------------------------------------------------------------- text


def test_csv_and_txt(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "# logits\nlogit_a,logit_b,logit_c\n1, 2.5, -inf  # a comment\n\n4,nan,1e8\n"
    )
    loaded = load_logits(str(tmp_path / "x.csv"))
    check(
        loaded, np.array([[1, 2.5, -np.inf], [4, np.nan, 1e8]]), "float64", str(tmp_path / "x.csv")
    )
    assert loaded.notes == ("skipped the header line 2",)
    (tmp_path / "y.txt").write_text("-999 1 2 5 6\n")
    check(
        load_logits(str(tmp_path / "y.txt")),
        np.array([[-999.0, 1, 2, 5, 6]]),
        "float64",
        str(tmp_path / "y.txt"),
    )


def test_json_lists_and_keys(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[[1, 2, "inf"], ["-inf", "nan", NaN]]')
    check(
        load_logits(str(tmp_path / "a.json")),
        np.array([[1, 2, np.inf], [-np.inf, np.nan, np.nan]]),
        "float64",
        str(tmp_path / "a.json"),
    )
    (tmp_path / "d.json").write_text(json.dumps({"model": "x", "logits": [[-999, 1, 2, 5, 6]]}))
    check(
        load_logits(str(tmp_path / "d.json")),
        np.array([[-999.0, 1, 2, 5, 6]]),
        "float64",
        str(tmp_path / "d.json"),
    )
    spec = f"{tmp_path / 'd.json'}:logits"
    check(load_logits(spec), np.array([[-999.0, 1, 2, 5, 6]]), "float64", spec)
    with pytest.raises(LoadError, match="no list 'nope'; use one of 'logits'$"):
        load_logits(f"{tmp_path / 'd.json'}:nope")


def test_json_keys_name_top_level_lists_only(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"logits": [[1, 2], [3, 4]], "other": {"deep": [5, 6, 7]}}))
    with pytest.raises(
        LoadError, match="not a dotted path into nested objects\\); use one of 'logits'$"
    ):
        load_logits(f"{path}:other.deep")
    with pytest.raises(
        LoadError, match="the key 'other' names an object, not a list; use one of 'logits'$"
    ):
        load_logits(f"{path}:other")
    (tmp_path / "n.json").write_text(json.dumps({"a": {"b": [1, 2]}}))
    with pytest.raises(LoadError, match="no top-level key holds a list \\(an object is under 'a'"):
        load_logits(str(tmp_path / "n.json"))


# ------------------------------------------------------------------------------------------ stdin


def test_stdin_npz_of_several_arrays_says_how_to_name_one() -> None:
    buf = io.BytesIO()
    np.savez(buf, a=np.ones(2), b=np.zeros(2))
    with pytest.raises(LoadError, match="save it to a file and pass 'FILE:KEY', one of 'a', 'b'"):
        load_logits("-", stdin=io.BytesIO(buf.getvalue()))


def test_stdin_npy_json_csv() -> None:
    buf = io.BytesIO()
    np.save(buf, LOGITS.astype(np.float16))
    check(
        load_logits("-", stdin=io.BytesIO(buf.getvalue())),
        LOGITS.astype(np.float16),
        "float16",
        "<stdin>",
    )
    check(
        load_logits("-", stdin=io.BytesIO(b" [[1, 2], [3, 4]]\n")),
        np.array([[1.0, 2], [3, 4]]),
        "float64",
        "<stdin>",
    )
    check(
        load_logits("-", stdin=io.BytesIO(b"1,2,3\n4,5,6\n")),
        np.array([[1.0, 2, 3], [4, 5, 6]]),
        "float64",
        "<stdin>",
    )
    check(
        load_logits("-", stdin=io.StringIO("7 8\n")),  # type: ignore[arg-type]
        np.array([[7.0, 8]]),
        "float64",
        "<stdin>",
    )


def test_stdin_npz() -> None:
    buf = io.BytesIO()
    np.savez(buf, logits=LOGITS)
    check(load_logits("-", stdin=io.BytesIO(buf.getvalue())), LOGITS, "float64", "<stdin>")


# ----------------------------------------------------------------------------- values and gen:


def test_parse_values() -> None:
    check(parse_values("-999,1,2,5,6"), np.array([[-999.0, 1, 2, 5, 6]]), "float64", "<values>")
    check(parse_values("1, 2; 3 ,inf;"), np.array([[1.0, 2], [3, np.inf]]), "float64", "<values>")
    check(parse_values("-inf 1e8 nan"), np.array([[-np.inf, 1e8, np.nan]]), "float64", "<values>")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1,2;3", "row 2 has 1 value but the first row has 2"),
        ("1,abc", "'abc' in row 1, item 2 is not a number"),
        ("1,,2", "empty value"),
        ("1,2,3,", "row 1 ends with a comma; remove the trailing comma"),
        ("  ;  ", "no values were given"),
    ],
)
def test_parse_values_errors(text: str, fragment: str) -> None:
    with pytest.raises(LoadError, match=fragment) as info:
        parse_values(text)
    assert str(info.value).startswith("cannot load <values>: ")


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "18014398509481987")
"""-(2^54 + 3) in full-width digits, which float() and int() read."""
ROUNDED_TWO = (
    "integer literals read as float64; 2 values beyond 2^53 rounded "
    "(the analysis is of the rounded values)"
)


@pytest.mark.parametrize(
    ("source", "content"),
    [
        ("--values", "9007199254740993,0,1;1,-18014398509481987,+0"),
        ("t.csv", "a,b,c\n9007199254740993,0,1\n1,-18014398509481987,+0\n"),
        ("t.txt", "9007199254740993 0 1\n1 -18014398509481987 +0\n"),
        ("t.json", "[[9007199254740993, 0, 1], [1, -18014398509481987, 0]]"),
        ("t.json:x", '{"x": [[9007199254740993, 0, 1], [1, -18014398509481987, 0]], '
                     '"y": [12345678901234567891]}'),
        ("-", "9007199254740993,0,1\n1,-18014398509481987,+0\n"),
        ("-", "[[9007199254740993, 0, 1], [1, -18014398509481987, 0]]"),
        # spellings float() reads too: digits grouped by _, another script's digits; beside an
        # infinity and a NaN (the per-line screen counts values at or above 2^53)
        ("--values", f"9_007_199_254_740_993,-inf,nan;1,-{FULL_WIDTH},+0"),
        # 5000 leading zeros: float() reads them, int() refuses over 4300 digits (a crash)
        ("--values", f"{'0' * 5000}9007199254740993,0,1;1,-18014398509481987,+0"),
    ],
    ids=["values", "csv", "txt", "json", "json-key", "stdin-csv", "stdin-json", "spellings",
         "zeros"],
)  # fmt: skip
def test_integer_literals_float64_rounds_are_noted_in_text_sources(
    tmp_path: Path, source: str, content: str
) -> None:
    # 2^53 + 1 and -(2^54 + 3) read as 2^53 and -(2^54 + 4) without a word, while the same
    # values in an int64 .npy are noted; only the array read counts (not "y" beside "x")
    if source == "--values":
        loaded = parse_values(content)
    elif source == "-":
        loaded = load_logits("-", stdin=io.BytesIO(content.encode()))
    else:
        (tmp_path / source.split(":")[0]).write_text(content)
        loaded = load_logits(str(tmp_path / source))
    assert loaded.notes[-1:] == (ROUNDED_TWO,)
    assert loaded.array[0, 0] == 2.0**53


@pytest.mark.parametrize(
    "content",
    [
        "9007199254740992,-9007199254740992,1",  # 2^53: held exactly
        "00000000000000000001,+0000000000000000000002,3",  # long, but small
        "0.1,9007199254740993.0,9.007199254740993e15",  # decimals round as 0.1 does
        "123456789012345678901234567890e0,1,2",  # an exponent: not an integer literal
    ],
)
def test_integer_literals_float64_holds_and_decimals_get_no_rounding_note(content: str) -> None:
    assert parse_values(content).notes == ()
    assert load_logits("-", stdin=io.BytesIO(content.encode())).notes == ()
    json_text = b"[[9007199254740992, -9007199254740992, 0.1, 9007199254740993.0, 1e16]]"
    assert load_logits("-", stdin=io.BytesIO(json_text)).notes == ()


def test_gen_spec_delegates_to_generators() -> None:
    loaded = load_logits("gen:spike:shape=3x7,seed=5,height=15")
    expected = generate_logits("spike", shape=(3, 7), seed=5, height=15.0)
    check(loaded, expected, "float32", "gen:spike:shape=3x7,seed=5,height=15")


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "x.h5").write_bytes(b"\x89HDF")
    with pytest.raises(LoadError) as info:
        load_logits(str(tmp_path / "x.h5"))
    assert all(ext in str(info.value) for ext in EXTENSIONS)


def test_sample_inputs_all_load() -> None:
    specs = {"lm_head_bf16.safetensors": ":logits", "eval_outputs.pt": ":logits"}
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix in EXTENSIONS and p.suffix != ".txt")
    assert len(files) >= 8
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        loaded = load_logits(str(path) + specs.get(path.name, ""))
        assert loaded.array.size > 0
        assert loaded.array.dtype.name in ("float16", "float32", "float64")
        del loaded
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert load_logits(str(SAMPLES / "lm_head_bf16.safetensors:logits")).source_dtype == "bfloat16"
    assert load_logits(str(SAMPLES / "llm_logits.npy")).array.shape == (4, 32000)


# ---------------------------------------------------------------------------------- array_source


def test_array_source_wraps_without_copying_or_freezing_the_caller() -> None:
    x = LOGITS.astype(np.float32)
    loaded = array_source(x)
    check(loaded, x, "float32", "<array>")
    assert np.shares_memory(loaded.array, x)
    assert x.flags.writeable  # only the view handed to the analysis is read-only


def test_array_source_lists_tensors_and_errors() -> None:
    import torch

    loaded = array_source([[-999, 1, 2, 5, 6]])
    check(loaded, np.array([[-999.0, 1, 2, 5, 6]]), "int64", "<array>")
    assert loaded.notes == ("integer array (int64) converted to float64",)
    t = torch.tensor([[1.0, 2.5], [3.0, -4.0]], dtype=torch.bfloat16, requires_grad=True)
    check(
        array_source(t),
        np.array([[1.0, 2.5], [3.0, -4.0]], dtype=np.float32),
        "bfloat16",
        "<tensor>",
    )
    with pytest.raises(LoadError, match="cannot load <array>: it is not a regular array"):
        array_source([[1.0, 2.0], [3.0]])
    with pytest.raises(LoadError, match="cannot load <array>: it holds a boolean array"):
        array_source(np.ones(3, dtype=bool))
    with pytest.raises(LoadError, match="0-d array"):
        array_source(3.0)


def test_loading_numpy_and_text_files_does_not_import_torch(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", LOGITS)
    code = (
        "import sys; from smcheck.sources.loaders import load_logits, parse_values; "
        f"load_logits({str(tmp_path / 'x.npy')!r}); parse_values('1,2'); "
        "load_logits('gen:llm'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
