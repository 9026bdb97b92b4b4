"""``smcheck check`` end to end: the CLI as a subprocess in a fresh directory with a policy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

jsonschema = pytest.importorskip("jsonschema")

POLICY = """\
[tool.smcheck]
methods = ["naive"]
dtypes = ["float16"]
fail-on = ["nan", "overflow"]
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def smcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return smcheck_many(cwd, list(args))[0]


def smcheck_many(cwd: Path, *runs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Independent CLI runs, started together (each pays the torch import)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "smcheck", *args],
            cwd=cwd,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    out = []
    for args, p in zip(runs, procs, strict=True):
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(args, p.returncode, stdout, stderr))
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose pyproject.toml holds the policy, and two logits files."""
    (tmp_path / "pyproject.toml").write_text(POLICY)
    out = tmp_path / "outputs"
    out.mkdir()
    # float16: naive exp overflows above ln(65504) = 11.09; exp(3) = 20.1 is far below it
    np.save(out / "calm.npy", np.array([[0.5, 1.0, 3.0], [-2.0, 0.0, 2.5]], dtype=np.float32))
    # exp(12.5) = 268337 > 65504: +inf, then inf/inf = NaN in that row
    np.save(out / "hot.npy", np.array([[0.5, 1.0, 3.0], [1.0, 2.0, 12.5]], dtype=np.float32))
    return tmp_path


def test_policy_in_pyproject_decides_the_exit_code(project: Path) -> None:
    calm, hot, wide = smcheck_many(
        project,
        ["check", "outputs/calm.npy"],
        ["check", "outputs/calm.npy", "outputs/hot.npy"],
        ["check", "outputs/", "--dtype", "float32"],
    )
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert "PASSED: no violations in 1 source (1 cell checked)" in calm.stdout

    r = hot
    assert r.returncode == 1, r.stdout + r.stderr
    # a violation per line (continuations indented): hot.npy's naive float16 cell has 1
    # overflow and 1 NaN element
    text = r.stdout.replace("\n  ", " ")
    lines = [ln for ln in text.splitlines() if ln.startswith("ERROR")]
    assert len(lines) == 2, r.stdout
    assert all("outputs/hot.npy  naive × float16: " in ln for ln in lines)
    assert any(
        # one row is "row [1]", as the findings name it (it said "worst row [1]")
        "overflow  outputs/hot.npy  naive × float16: 1 overflow to +inf (exp 1) in 1/2 rows, "
        "row [1]" in ln
        for ln in lines
    )
    assert any(
        "nan  outputs/hot.npy  naive × float16: 1 NaN probability in 1/2" in ln for ln in lines
    )
    assert "FAILED: 2 errors, 0 warnings in 1 of 2 sources (2 cells checked)" in r.stdout

    # the command line overrides the policy: float32 holds exp(12.5)
    assert wide.returncode == 0, wide.stdout + wide.stderr
    assert "PASSED: no violations in 2 sources (2 cells checked)" in wide.stdout


def test_every_format_parses_with_a_standard_parser(project: Path) -> None:
    printed, r = smcheck_many(
        project,
        ["schema"],
        [
            "check",
            "outputs/*.npy",
            "--format",
            "github",
            "--report",
            "json=r.json",
            "--report",
            "junit=r.xml",
            "--report",
            "markdown=r.md",
            "-o",
            "r.github",
        ],
    )
    schema = json.loads(printed.stdout)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""  # -o took the report
    assert "smcheck check: FAILED" in r.stderr

    doc = json.loads((project / "r.json").read_text(), parse_constant=_no_bare_constants)
    jsonschema.validate(doc, schema)
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["violations"]["error"] == 2
    assert {v["condition"] for v in doc["violations"]} == {"nan", "overflow"}
    assert doc["policy"]["config_file"] == "pyproject.toml"
    assert doc["policy"]["dtypes"] == ["float16"] and doc["policy"]["methods"] == ["naive"]

    root = ET.parse(project / "r.xml").getroot()
    assert root.tag == "testsuites"
    # per source: its input, then its one cell
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "0"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("classname") for c in cases] == ["outputs/calm.npy"] * 2 + ["outputs/hot.npy"] * 2
    assert [c.get("name") for c in cases[::2]] == ["input", "input"]
    failure = cases[3].find("failure")
    assert failure is not None and failure.get("message") == "nan; overflow"
    assert [c.find("failure") for c in cases[:3]] == [None] * 3

    md = (project / "r.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| error ")]
    assert len(table) == 2 and all(ln.count(" | ") == 4 for ln in table)

    commands = (project / "r.github").read_text().splitlines()
    pattern = re.compile(r"^::(error|warning|notice)( [a-z]+=[^,:]*(,[a-z]+=[^,:]*)*)?::[^\r\n]*$")
    assert all(pattern.match(c) for c in commands), commands
    # aggregated per source and condition: nan and overflow of hot.npy, then the summary notice
    assert [c.split("::")[1] for c in commands] == [
        "error file=outputs/hot.npy,title=smcheck nan",
        "error file=outputs/hot.npy,title=smcheck overflow",
        "notice title=smcheck check",
    ]


def _no_bare_constants(name: str) -> None:
    raise AssertionError(f"bare {name} in JSON")


def test_baseline_accepts_known_findings_and_fails_new_ones(project: Path) -> None:
    r = smcheck(project, "check", "outputs", "--write-baseline", "ci/baseline.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote 2 violations to ci/baseline.json" in r.stderr
    entries = json.loads((project / "ci/baseline.json").read_text())["violations"]
    # paths are relative to the baseline's folder
    assert {(e["path"], e["condition"]) for e in entries} == {
        ("../outputs/hot.npy", "nan"),
        ("../outputs/hot.npy", "overflow"),
    }

    # a new finding fails: logit 20 overflows float16 too; the old one stays accepted
    np.save(project / "outputs" / "new.npy", np.array([[20.0, 0.0]], dtype=np.float32))
    # hot.npy is fixed, so its two baseline entries no longer occur
    np.save(project / "outputs" / "hot.npy", np.array([[0.0, 1.0]], dtype=np.float32))
    r = smcheck(project, "check", "outputs", "--baseline", "ci/baseline.json", "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert {(v["source"], v["condition"], v["baselined"]) for v in doc["violations"]} == {
        ("outputs/new.npy", "nan", False),
        ("outputs/new.npy", "overflow", False),
    }
    assert doc["baseline"]["new"] == 2 and doc["baseline"]["known"] == 0
    assert sorted(e["condition"] for e in doc["baseline"]["fixed"]) == ["nan", "overflow"]


def test_unreadable_source_is_exit_2_even_when_others_fail(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in-process (CliRunner) to keep the suite fast; the subprocess tests above cover the wiring
    from click.testing import CliRunner

    from smcheck.cli import cli

    monkeypatch.chdir(project)
    (project / "outputs" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    r = CliRunner().invoke(cli, ["check", "outputs", "missing.npy", "--format", "json"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    doc = json.loads(r.stdout)  # the readable sources are still reported
    assert [s["name"] for s in doc["sources"]] == ["outputs/calm.npy", "outputs/hot.npy"]
    assert doc["summary"]["violations"]["error"] == 2
    named = [e["source"] for e in doc["errors"]]
    assert named == ["outputs/broken.npy", "missing.npy"]
    assert "Error: cannot load 'outputs/broken.npy'" in r.stderr
    assert "Error: cannot load 'missing.npy': no such file" in r.stderr


def test_a_fixed_input_violation_is_reported_as_no_longer_occurring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in-process: an input's violation has no cell, and had been counted as not checked
    from click.testing import CliRunner

    from smcheck.cli import cli

    monkeypatch.chdir(tmp_path)
    x = np.zeros((2, 4), np.float32)
    x[0] = -np.inf  # a fully masked row: the input's violation
    np.save("scores.npy", x)
    args = ["check", "scores.npy", "--isolated", "--method", "torch", "--dtype", "fp32"]
    r = CliRunner().invoke(cli, [*args, "--write-baseline", "bl.json"])
    assert r.exit_code == 0, r.output
    (entry,) = json.loads(Path("bl.json").read_text())["violations"]
    assert (entry["method"], entry["condition"]) == ("input", "fully-masked")
    np.save("scores.npy", np.zeros((2, 4), np.float32))  # the mask is gone
    r = CliRunner().invoke(cli, [*args, "--baseline", "bl.json", "--format", "json"])
    assert r.exit_code == 0, r.output
    diff = json.loads(r.stdout)["baseline"]
    assert [e["condition"] for e in diff["fixed"]] == ["fully-masked"] and diff["unchecked"] == 0
    r = CliRunner().invoke(cli, [*args, "--baseline", "bl.json"])
    assert "0 known, 0 new; 1 no longer occurs (scores.npy input" in " ".join(r.stdout.split())


def test_the_check_summary_piped_at_columns_60_wraps_as_analyze_does_else_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check's summary was a plain echo: one line of 80 columns where analyze's and capture's
    # stderr lines wrap to COLUMNS
    from click.testing import CliRunner

    from smcheck.cli import cli

    monkeypatch.chdir(project)
    argv = ["check", "outputs", "--format", "json"]
    monkeypatch.delenv("COLUMNS", raising=False)
    [one] = CliRunner().invoke(cli, argv).stderr.splitlines()
    assert one.startswith("smcheck check: FAILED: 2 errors, ") and len(one) > 60
    monkeypatch.setenv("COLUMNS", "60")
    lines = CliRunner().invoke(cli, argv).stderr.splitlines()
    assert lines == [
        "smcheck check: FAILED: 2 errors,",
        "  0 warnings in 1 of 2 sources (2 cells checked)",
    ]
    assert " ".join(ln.strip() for ln in lines) == one
