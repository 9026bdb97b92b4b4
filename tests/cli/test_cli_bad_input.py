"""The bad-input matrix through the CLI: exit 2, one ``Error:`` line, nothing runs or changes.

Every hostile file of tests/hostilefiles.py goes through ``smcheck analyze`` in process
(CliRunner), and a sample of them through ``python -m smcheck`` as a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smcheck.cli import cli
from smcheck.errors import ExitCode
from tests.conftest import ROOT, sample_input
from tests.hostilefiles import CASES, MARKER, Content, snapshot
from tests.safetensorsfile import write_safetensors

CASE_IDS = [c[0] for c in CASES]


def invoke(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=True)


def assert_one_error_line(r: Result, *fragments: str) -> str:
    """Exit 2, no exception escaped, nothing on stdout, exactly one stderr line ``Error: ...``."""
    assert r.exit_code == ExitCode.ERROR, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def plant(tmp_path: Path, file_name: str, content: Content) -> Path:
    path = tmp_path / file_name
    path.write_bytes(content(tmp_path) if callable(content) else content)
    return path


@pytest.mark.parametrize(
    ("file_name", "content", "suffix", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_hostile_file_through_the_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_name: str,
    content: Content,
    suffix: str,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # a payload writing a relative path would land here
    path = plant(tmp_path, file_name, content)
    before = snapshot(tmp_path)
    line = assert_one_error_line(invoke("analyze", str(path) + suffix), fragment)
    assert line.startswith(f"Error: cannot load '{path}"), line
    assert not (tmp_path / MARKER).exists(), "a pickle payload was executed"
    assert snapshot(tmp_path) == before, "an input file was modified or a file was created"


def test_matrix_covers_the_issue(tmp_path: Path) -> None:
    # the issue's list of unusable inputs, each present in CASES (the rest are tested below)
    needed = {
        "npy-truncated-data",
        "npy-header-huge",
        "npz-truncated",
        "pt-truncated",
        "st-header-beyond-file",
        "st-offsets-beyond-file",
        "st-absurd-header",
        "pt-pickle-system",
        "npy-object",
        "npy-complex",
        "npy-string",
        "npy-bool",
        "npy-empty-array",
        "npy-0d",
        "csv-ragged",
        "json-string",
        "npz-unknown-key",
        "pt-unknown-key",
        "st-unknown-key",
        "unknown-extension",
    }
    assert needed <= set(CASE_IDS)


def test_missing_directory_and_fifo(tmp_path: Path) -> None:
    assert_one_error_line(invoke("analyze", str(tmp_path / "nope.npy")), "no such file")
    (tmp_path / "d.npy").mkdir()
    assert_one_error_line(invoke("analyze", str(tmp_path / "d.npy")), "it is a directory")
    assert_one_error_line(invoke("analyze", str(tmp_path)), "it is a directory")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "f.npy")  # opening it would block forever
        assert_one_error_line(invoke("analyze", str(tmp_path / "f.npy")), "not a regular file")


@pytest.mark.parametrize("dim", ["2", "-3", "5"])
def test_dim_out_of_range(tmp_path: Path, dim: str) -> None:
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    line = assert_one_error_line(invoke("analyze", str(tmp_path / "x.npy"), "--dim", dim))
    assert line == (
        f"Error: --dim {dim} is out of range for {tmp_path / 'x.npy'} of shape [2, 3]; "
        "use a value from -2 to 1"
    )


def test_unknown_key_lists_the_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", logits=np.ones(3), labels=np.ones(3))
    assert_one_error_line(
        invoke("analyze", str(tmp_path / "a.npz") + ":logit"),
        "there is no array 'logit'; use one of 'logits', 'labels'",
    )


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ("1,2;3", "row 2 has 1 value but the first row has 2"),
        ("1,two", "'two' in row 1, item 2 is not a number"),
        ("", "no values were given"),
        ("1,,2", "empty value between commas"),
    ],
)
def test_bad_values(values: str, fragment: str) -> None:
    assert_one_error_line(invoke("analyze", "--values", values), "<values>", fragment)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "no data arrived"),
        (b"\x80\x04\x95garbage", "it is a Python pickle, and smcheck never loads pickles"),
        (b"\x93NUMPY\x01\x00", "truncated"),
        (b"[1, [2]]", "mixes lists and numbers"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_bad_stdin(data: bytes, fragment: str) -> None:
    assert_one_error_line(invoke("analyze", "-", input=data), "<stdin>", fragment)


@pytest.mark.parametrize(
    ("sample", "fragment"),
    [
        ("eval_outputs.pt", "it is a PyTorch checkpoint, read only from a .pt file"),
        ("lm_head_bf16.safetensors", "it is a safetensors file, read only by name"),
    ],
)
def test_stdin_names_files_it_reads_only_by_name(sample: str, fragment: str) -> None:
    data = sample_input(sample).read_bytes()
    assert_one_error_line(invoke("analyze", "-", input=data), "<stdin>", fragment, "by name")


def test_failed_run_leaves_an_existing_report_alone(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("old report")
    bad = plant(tmp_path, "bad.npy", b"not an npy")
    r = invoke("analyze", str(bad), "--format", "json", "-o", str(report))
    assert_one_error_line(r, "not an .npy file")
    assert report.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "report.json"]  # no temp


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "uint64"])
def test_integer_arrays_become_float64_with_a_note(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "i.npy"
    np.save(path, np.arange(6, dtype=dtype).reshape(2, 3))
    before = path.read_bytes()
    r = invoke("analyze", str(path), "--dtype", "f32", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.output
    src = json.loads(r.stdout)["sources"][0]
    assert src["dtype"] == dtype
    assert src["notes"] == [f"integer array ({dtype}) converted to float64"]
    assert (src["input"]["min"], src["input"]["max"]) == (0.0, 5.0)
    table = invoke("analyze", str(path), "--dtype", "f32", "-v")
    assert f"note            integer array ({dtype}) converted to float64" in table.stdout
    assert path.read_bytes() == before


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".safetensors"])
def test_integers_beyond_2_53_that_float64_rounds_are_named_in_the_note(
    tmp_path: Path, suffix: str
) -> None:
    # 2^53 + 1 rounds to 2^53 in float64: the report called the input exact and gave the
    # softmax of (2^53, 2^53, 2^53 - 1), (0.4223, 0.4223, 0.1554), not the file's
    x = np.array([[2**53 + 1, 2**53, 2**53 - 1]], dtype=np.int64)
    path = tmp_path / f"i{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, x=x)
    elif suffix == ".pt":
        import torch

        torch.save(torch.from_numpy(x), path)
    else:
        write_safetensors(path, {"x": ("I64", x)})
    r = invoke("analyze", str(path), "--dtype", "f64", "--method", "shifted", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.output
    assert json.loads(r.stdout)["sources"][0]["notes"] == [
        "integer array (int64) converted to float64; 1 value beyond 2^53 rounded "
        "(the analysis is of the rounded values)"
    ]


# A sample of the matrix as real processes: the exit status, stderr and the absence of any
# traceback are what a shell or a CI job sees. They run in parallel; only the .pt case and the
# --dim case import torch.
SUBPROCESS_CASES = [
    "npy-object",
    "npy-header-huge",
    "npz-member-pickle",
    "pt-pickle-system",
    "st-offsets-beyond-file",
    "json-string",
    "unknown-extension",
]


def test_hostile_files_as_subprocesses(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cases = {c[0]: c for c in CASES}
    runs = []
    for case_id in SUBPROCESS_CASES:
        _, file_name, content, suffix, fragment = cases[case_id]
        folder = tmp_path / case_id
        folder.mkdir()
        runs.append((case_id, folder, [str(plant(folder, file_name, content)) + suffix], fragment))
    folder = tmp_path / "dim"
    folder.mkdir()
    np.save(folder / "x.npy", np.ones((2, 3), np.float32))
    runs.append(("dim", folder, [str(folder / "x.npy"), "--dim", "4"], "--dim 4 is out of range"))

    procs = []
    for case_id, folder, args, fragment in runs:
        cmd = [sys.executable, "-m", "smcheck", "analyze", *args]
        proc = subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        procs.append((case_id, folder, fragment, snapshot(folder), proc))
    for case_id, folder, fragment, before, proc in procs:
        out, err = proc.communicate(timeout=120)
        text = err.decode()
        assert proc.returncode == ExitCode.ERROR, (case_id, text)
        assert out == b"", case_id
        assert text.count("\n") == 1 and text.startswith("Error: "), (case_id, text)
        assert fragment in text and "Traceback" not in text, (case_id, text)
        assert not (folder / MARKER).exists(), f"{case_id}: a pickle payload was executed"
        assert snapshot(folder) == before, case_id


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
@pytest.mark.parametrize("suffix", [".csv", ".txt", ".json", ".npy"])
def test_a_read_error_names_the_file(tmp_path: Path, suffix: str) -> None:
    # /proc/self/mem is a regular file whose reads fail (EIO): the text loaders let it escape
    bad = tmp_path / f"mem{suffix}"
    bad.symlink_to("/proc/self/mem")
    r = invoke("analyze", "-q", str(bad))
    assert_one_error_line(r, f"cannot load '{bad}'", "cannot be read")
    r = invoke("analyze", "-q", "--values", "1,2,3", "--targets", str(bad))
    assert r.exit_code == ExitCode.ERROR and "cannot be read" in r.stderr
