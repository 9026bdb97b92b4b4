"""The shipped JSON Schema: valid draft 2020-12, met by every JSON output, strict about names."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.cli import cli
from tests.conftest import sample_input

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads(files("smcheck").joinpath("schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def run_json(*args: str) -> dict[str, Any]:
    r = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def errors(doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def test_schema_is_valid_and_printed_by_the_cli() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    r = CliRunner().invoke(cli, ["schema"])
    assert r.exit_code == 0 and json.loads(r.stdout) == SCHEMA


@pytest.mark.parametrize(
    "args",
    [
        ["--values", "1,2,3,12", "--dtype", "fp16"],  # small input: probabilities with "nan"
        ["--values", "-inf,nan,1;1,2,inf;-inf,-inf,-inf"],  # upstream NaN/+inf, masked rows
        ["--values", "-999,1,2,5,6", "--softmin", "--temperature", "0.05,1,20"],
        ["gen:llm:shape=3x2000,seed=1", "--dtype", "bf16,fp32"],
        [str(sample_input("masked_rows.npy"))],
        [str(sample_input("segmentation_nchw.npy")), "--dim", "1", "--dtype", "fp16"],
    ],
    ids=["small", "nonfinite", "softmin-temps", "llm", "masked", "nchw"],
)
def test_analyze_json_meets_the_schema(args: list[str]) -> None:
    doc = run_json("analyze", *args)
    assert errors(doc) == []


def _parts(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema with the schemas it refers to ($ref) and combines (allOf, anyOf, oneOf)."""
    if "$ref" in schema:
        schema = {**SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]], **schema}
    out = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            out += _parts(sub)
    return out


def undescribed(value: Any, schema: dict[str, Any], path: str = "") -> set[str]:
    """The keys of value that schema does not name (an open map's keys are named by its
    additionalProperties schema)."""
    parts = _parts(schema)
    if isinstance(value, list):
        items = [p["items"] for p in parts if "items" in p]
        if not items:
            return {f"{path}[]"} if any(isinstance(v, (dict, list)) for v in value) else set()
        return {m for v in value for m in undescribed(v, items[0], f"{path}[]")}
    if not isinstance(value, dict):
        return set()
    props = {k: v for p in parts for k, v in p.get("properties", {}).items()}
    maps = [
        p["additionalProperties"] for p in parts if isinstance(p.get("additionalProperties"), dict)
    ]
    missing: set[str] = set()
    for k, v in value.items():
        sub = props.get(k, maps[0] if maps else None)
        missing |= {f"{path}/{k}"} if sub is None else undescribed(v, sub, f"{path}/{k}")
    return missing


def test_every_key_the_json_carries_is_described_by_the_schema(tmp_path: Path) -> None:
    """The schema validates open objects (fields may be added), so validation alone lets a
    field ship undescribed: this walks outputs that fill every optional block (bounds,
    accumulation, masks, sentinels, the critical temperatures, a check's violations)."""
    rows = [[-65504, 1, 2, 3], [-1e9, 4, 5, 6], [-np.inf, -np.inf, -np.inf, -np.inf]]
    np.save(tmp_path / "s.npy", np.array(rows, dtype=np.float32))
    runs = [
        ["analyze", str(tmp_path / "s.npy"), "--model", "strict", "-v"],
        ["analyze", str(sample_input("masked_rows.npy")), "--dtype", "fp16"],
        ["analyze", "--values", "-999,1,2,5,6;nan,1,2,3,4", "--temperature", "0.05,1,20"],
        ["analyze", "gen:llm:shape=2x500,seed=1", "--dtype", "fp16", "--critical"],
        ["check", "gen:spike", "--isolated", "--dtype", "fp16", "--method", "naive"],
    ]
    seen: set[str] = set()
    for args in runs:
        doc = run_json(*args)
        assert errors(doc) == []
        assert undescribed(doc, SCHEMA) == set(), args
        seen |= {k for src in doc["sources"] for c in src["cells"] for k, v in c.items() if v}
        seen |= {k for src in doc["sources"] for k, v in src["input"].items() if v}
    # the walk saw the blocks it is there for
    assert {"bounds", "accumulation", "fully_masked_output", "sentinels", "findings"} <= seen


def properties(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every property the schema names, at any depth (under $defs, items, anyOf ...), with its
    path: ``$defs/metrics/properties/overflow``."""
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            out.append((f"{path}/properties/{name}", sub))
        for k, v in node.items():
            out += properties(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += properties(v, f"{path}/{i}")
    return out


def test_every_property_and_definition_of_the_schema_has_a_description() -> None:
    """A name alone does not say what a field counts, its unit or when it is null, and a $ref
    to a shared shape (a count, a row) says it for no field: each property carries its own
    description, as does each $def, so a field cannot ship undocumented."""
    props = properties(SCHEMA)
    assert len(props) > 300  # the walk reaches the nested blocks
    undocumented = [p for p, sub in props if not str(sub.get("description", "")).strip()]
    undocumented += [
        f"$defs/{k}" for k, d in SCHEMA["$defs"].items() if not d.get("description", "").strip()
    ]
    assert undocumented == []


def test_nonfinite_values_are_strings_the_schema_accepts() -> None:
    doc = run_json("analyze", "--values", "1,2,3,12", "--dtype", "fp16", "--method", "naive")
    cell = doc["sources"][0]["cells"][0]
    assert cell["probabilities"][0][3] == "nan" and cell["log_probabilities"][0][0] == "-inf"
    assert errors(doc) == []
    cell["probabilities"][0][3] = "NaN"  # only the contract's spellings
    assert errors(doc)


def test_check_json_meets_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "hot.npy", np.array([[1.0, 2.0, 12.5]], dtype=np.float16))
    (tmp_path / "bad.json").write_text("[[1, 2], [3]]")
    args = ["check", "hot.npy", "bad.json", "gen:spike", "--isolated", "--dtype", "fp16,fp32"]
    r = CliRunner().invoke(
        cli, [*args, "--warn-on", "underflow,error-ulp>8,dead-gradient", "--format", "json"]
    )
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["violations"] and doc["errors"]
    assert errors(doc) == []
    # not-measured conditions (gradient conditions where a report has no gradient metrics)
    doc["unmeasured"] = [{"condition": "dead-gradient", "cells": 2, "reason": "no gradients"}]
    assert errors(doc) == []
    doc["unmeasured"] = [{"condition": "dead-gradient", "reason": "no gradients"}]
    assert errors(doc)
    r = CliRunner().invoke(cli, ["check", "hot.npy", "--isolated", "--write-baseline", "b.json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        cli, ["check", "hot.npy", "--isolated", "--baseline", "b.json", "--format", "json"]
    )
    doc = json.loads(r.stdout)
    assert (
        r.exit_code == 0 and doc["baseline"]["known"] == doc["summary"]["violations"]["baselined"]
    )
    assert errors(doc) == []


def _set(
    doc: dict[str, Any], path: list[Any], rename: str | None = None, value: Any = None
) -> None:
    *head, last = path
    node: Any = doc
    for k in head:
        node = node[k]
    if rename is not None:
        node[rename] = node.pop(last)
    else:
        node[last] = value


@pytest.mark.parametrize(
    ("path", "rename", "value"),
    [
        (["sources", 0, "cells", 0, "metrics", "overflow"], "overflows", None),
        (["sources", 0, "cells", 0, "metrics", "nan", "elements"], "count", None),
        (["sources", 0, "cells", 0, "metrics", "error", "max_ulp"], "max_ulps", None),
        (["sources", 0, "cells", 0, "metrics", "lost_mass", "max"], "value", None),
        (["sources", 0, "cells", 0, "metrics", "argmax_flips"], "flips", None),
        (["sources", 0, "cells", 0, "verdict"], None, "BAD"),
        (["sources", 0, "input", "fully_masked_rows"], "masked_rows", None),
        (["sources", 0, "row_length"], "length", None),
        (["summary", "verdict"], "result", None),
        (["schema_version"], None, 2),
        (["violations", 0, "severity"], None, "fatal"),
        (["violations", 0, "condition"], "rule", None),
        (["summary", "violations", "error"], "errors", None),
    ],
)
def test_schema_catches_renames(path: list[Any], rename: str | None, value: Any) -> None:
    doc = json.loads(
        CliRunner()
        .invoke(
            cli,
            ["check", "gen:spike", "--isolated", "--dtype", "fp16", "--method", "naive,torch"]
            + ["--format", "json"],
        )
        .stdout
    )
    if path[0] == "violations":
        assert doc["violations"], "the spike generator must overflow float16 naive"
    assert errors(doc) == []
    broken = copy.deepcopy(doc)
    _set(broken, path, rename, value)
    assert errors(broken), f"renaming {path} went unnoticed"
