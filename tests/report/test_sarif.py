"""``smcheck check --format sarif``: SARIF 2.1.0 that validates, one result per violation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from smcheck.check.baseline import apply_baseline, load_baseline, write_baseline
from smcheck.check.run import run_check
from smcheck.report.renderers import CHECK_FORMATS, render
from smcheck.report.sarif import FINGERPRINT
from tests.report.test_ci_formats import check_files

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def _sarif(result: object) -> dict:  # type: ignore[type-arg]
    doc = json.loads(render(CHECK_FORMATS, result, "sarif"))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)  # the schema's own draft
    return doc


def _uri(result: dict) -> str:  # type: ignore[type-arg]
    return result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_sarif_validates_and_has_one_result_per_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = check_files(tmp_path, ["a.npy", "b c.npy"])
    (run,) = _sarif(result)["runs"]
    assert len(run["results"]) == len(result.violations) == 6  # nan, overflow, underflow x 2
    rules = run["tool"]["driver"]["rules"]
    assert sorted(r["id"] for r in rules) == ["nan", "overflow", "underflow"]  # one per condition
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == ("warning" if res["ruleId"] == "underflow" else "error")
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {"a.npy", "b%20c.npy"}  # relative to the repository root, as a URI
    assert run["invocations"][0]["executionSuccessful"] is True


def test_fingerprints_are_stable_across_working_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    first = _sarif(check_files(tmp_path / "data", ["a.npy"]))
    again = _sarif(check_files(tmp_path / "data", ["a.npy"]))

    def prints(doc: dict) -> list[str]:  # type: ignore[type-arg]
        return [r["partialFingerprints"][FINGERPRINT] for r in doc["runs"][0]["results"]]

    assert prints(first) == prints(again)
    assert len(set(prints(first))) == 3  # distinct per violation
    monkeypatch.chdir(tmp_path / "data")  # same files, another root: other relative paths
    assert prints(_sarif(check_files(tmp_path / "data", ["a.npy"]))) != prints(first)


def test_baselined_violations_are_suppressed_and_new_ones_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_baseline(str(tmp_path / "base.json"), check_files(tmp_path, ["a.npy"]))
    base = str(tmp_path / "base.json")
    result = apply_baseline(check_files(tmp_path, ["a.npy", "b.npy"]), base, load_baseline(base))
    results = _sarif(result)["runs"][0]["results"]
    by_file = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results}
    assert by_file["a.npy"]["baselineState"] == "unchanged" and by_file["a.npy"]["suppressions"]
    assert by_file["b.npy"]["baselineState"] == "new" and "suppressions" not in by_file["b.npy"]


def test_an_unreadable_source_is_a_failed_invocation(tmp_path: Path) -> None:
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    from smcheck.check.run import run_check
    from tests.report.test_ci_formats import POLICY

    result = run_check([str(tmp_path / "bad.npy")], POLICY)
    (inv,) = _sarif(result)["runs"][0]["invocations"]
    assert inv["executionSuccessful"] is False
    assert "bad.npy" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_an_unmeasured_condition_is_a_warning_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with --use probs no gradients are computed: text and github said "dead-gradient not
    # measured", the SARIF log had no results and no notification, so the gap went unseen
    from smcheck.check.policy import Policy, parse_conditions

    monkeypatch.chdir(tmp_path)
    policy = Policy(
        methods=("naive",),
        dtypes=("float16",),
        use="probs",
        fail_on=parse_conditions(["dead-gradient", "nan-gradient"]),
    )
    result = check_files(tmp_path, ["a.npy"], policy)
    assert [u.condition for u in result.unmeasured] == ["dead-gradient", "nan-gradient"]
    (run,) = _sarif(result)["runs"]
    assert run["results"] == []
    driver = run["tool"]["driver"]
    assert [n["id"] for n in driver["notifications"]] == ["not-measured"]
    rules = driver["rules"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert [n["level"] for n in notes] == ["warning", "warning"]
    assert [n["descriptor"] for n in notes] == [{"id": "not-measured", "index": 0}] * 2
    assert [rules[n["associatedRule"]["index"]]["id"] for n in notes] == [
        "dead-gradient",
        "nan-gradient",
    ]
    assert [n["associatedRule"]["id"] for n in notes] == ["dead-gradient", "nan-gradient"]
    assert notes[0]["message"]["text"] == (
        "dead-gradient not measured in 1 cell: the report has no gradient metrics"
    )
    assert rules[0]["defaultConfiguration"]["level"] == "error"  # a fail-on condition


def test_cells_that_judged_no_row_are_a_note_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every row NaN: JUnit skipped the checked cells and the summary said "4 on no row", while
    # the SARIF log had the input's result alone, reading as "every cell checked and fine"
    import numpy as np

    from smcheck.check.policy import Policy

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "nan.npy", np.full((2, 4), np.nan, np.float32))
    np.save(tmp_path / "ok.npy", np.ones((2, 4), np.float32))
    result = run_check(["nan.npy", "ok.npy"], Policy(dtypes=("float16", "float32")))
    (run,) = _sarif(result)["runs"]
    assert [r["ruleId"] for r in run["results"]] == ["input"]
    assert [d["id"] for d in run["tool"]["driver"]["notifications"]] == ["no-row-judged"]
    (note,) = run["invocations"][0]["toolExecutionNotifications"]  # none for ok.npy
    assert note["level"] == "note"
    assert note["descriptor"] == {"id": "no-row-judged", "index": 0}
    assert note["message"]["text"] == (
        "nan.npy: no row judged (every row kept out of the metrics: see the input findings) "
        "in 2 cells: torch float16 T=1, torch float32 T=1"
    )
    assert _uri(note) == "nan.npy"
    assert note["properties"]["cells"] == ["torch float16 T=1", "torch float32 T=1"]
