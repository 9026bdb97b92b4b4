"""Sources of ``smcheck check`` (files, globs, folders, FILE:KEY) and baselines across folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.cli import cli
from smcheck.sources.expand import SourceSpec, expand_sources


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    docs = ("out/LICENSE-data.txt", "out/readme.txt", "empty/readme.md")
    named_alike = ("out/license_plates.npy", "out/authorship.txt")  # logits, not documents
    for rel in ("out/a.npy", "out/b.csv", "out/notes.md", "out/sub/c.npy", *docs, *named_alike):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1,2\n")
    np.savez(tmp_path / "pair.npz", x=np.zeros((1, 2)), y=np.ones((1, 2)))
    return tmp_path


def test_directories_globs_and_keys(tree: Path) -> None:
    specs, errors = expand_sources(
        ["out", "out/**/*.npy", "pair.npz:y", "gen:spike", "missing.npy", "out/a.npy"]
    )
    assert errors == []
    assert specs == [
        SourceSpec("out/a.npy", "out/a.npy"),  # a directory: its supported files, not recursive
        SourceSpec("out/authorship.txt", "out/authorship.txt"),
        SourceSpec("out/b.csv", "out/b.csv"),  # its LICENSE-data.txt and readme.txt are documents
        SourceSpec("out/license_plates.npy", "out/license_plates.npy"),
        SourceSpec("out/sub/c.npy", "out/sub/c.npy"),  # ** recurses; out/a.npy not repeated
        SourceSpec("pair.npz:y", "pair.npz", "y"),
        SourceSpec("gen:spike", "gen:spike"),
        SourceSpec("missing.npy", "missing.npy"),  # fails when loaded, with the loader's message
    ]


def test_one_file_named_two_ways_is_one_source(tree: Path) -> None:
    (tree / "link.npy").symlink_to(tree / "out" / "a.npy")
    names = [
        "out/a.npy",
        "./out/a.npy",
        "out/sub/../a.npy",
        "link.npy",
        "pair.npz:x",
        "./pair.npz:x",
    ]
    specs, errors = expand_sources([*names, "pair.npz:y", "-", "-"])
    assert errors == []
    assert [s.spec for s in specs] == ["out/a.npy", "pair.npz:x", "pair.npz:y", "-"]


def test_a_document_named_alone_is_loaded_as_given(tree: Path) -> None:
    specs, errors = expand_sources(["out/*.txt", "out/readme.txt"])
    assert [s.spec for s in specs] == ["out/authorship.txt", "out/readme.txt"] and errors == []


def test_patterns_matching_nothing_are_errors(tree: Path) -> None:
    specs, errors = expand_sources(["empty", "out/*.pt"])
    assert specs == []
    assert [e.source for e in errors] == ["empty", "out/*.pt"]
    assert "holds no logits files" in errors[0].message
    assert "no logits files match 'out/*.pt'" in errors[1].message


def test_baseline_matches_from_another_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    np.save(tmp_path / "out" / "hot.npy", np.array([[0.0, 12.5]]))
    np.savez(tmp_path / "out" / "pair.npz", x=np.array([[0.0, 12.5]]), y=np.array([[0.0, 1.0]]))
    opts = ["--isolated", "--method", "naive", "--dtype", "fp16", "--format", "json"]
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        cli, ["check", "out/hot.npy", "out/pair.npz:x", *opts, "--write-baseline", "base.json"]
    )
    assert r.exit_code == 0, r.output
    entries = json.loads((tmp_path / "base.json").read_text())["violations"]
    assert {(e["path"], e["key"]) for e in entries} == {
        ("out/hot.npy", None),
        ("out/pair.npz", "x"),
    }

    # the same files named from inside out/: paths are relative to the baseline's folder
    monkeypatch.chdir(tmp_path / "out")
    r = CliRunner().invoke(
        cli, ["check", "hot.npy", "pair.npz:x", *opts, "--baseline", "../base.json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["baseline"]["known"] == len(doc["violations"]) > 0 and doc["baseline"]["new"] == 0

    # the key is part of the fingerprint: the same file under another key is new
    np.savez(tmp_path / "out" / "pair.npz", x=np.array([[0.0, 1.0]]), y=np.array([[0.0, 12.5]]))
    r = CliRunner().invoke(
        cli, ["check", "pair.npz:x", "pair.npz:y", *opts, "--baseline", "../base.json"]
    )
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert {v["key"] for v in doc["violations"] if not v["baselined"]} == {"y"}
    # x is fixed; hot.npy was not checked this run, so its entries are not claimed fixed
    assert {e["key"] for e in doc["baseline"]["fixed"]} == {"x"}
    assert doc["baseline"]["unchecked"] == sum(e["key"] is None for e in entries)
