"""The CI renderers: GitHub workflow commands, JUnit, Markdown, text."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.check.policy import Policy, parse_conditions
from smcheck.check.run import run_check
from smcheck.cli import cli
from smcheck.report.github import check_github, escape_data, escape_property
from smcheck.report.markdown import md
from smcheck.report.renderers import CHECK_FORMATS, render
from smcheck.report.violations import CheckResult, Unmeasured

POLICY = Policy(
    methods=("naive",),
    dtypes=("float16",),
    fail_on=parse_conditions(["nan", "overflow"]),
    warn_on=parse_conditions(["underflow"]),
)


def check_files(folder: Path, names: list[str], policy: Policy = POLICY) -> CheckResult:
    """Row [1, 2, 12.5] overflows float16 naive (1 overflow, 1 NaN; its zeros are lost to the
    overflow); row [-16.5, -23, -16.5] underflows it: exp(-23) -> 0 though p = e^-6.5 / (2 +
    e^-6.5) = 7.5e-4 (exp(-16.5) is the subnormal 2^-24): 1 underflow, a mass over u = 2^-11
    lost, so a WARN finding that the bare ``underflow`` condition counts."""
    for n in names:
        np.save(folder / n, np.array([[1.0, 2.0, 12.5], [-16.5, -23.0, -16.5]]))
    return run_check([str(folder / n) for n in names], policy)


def test_workflow_command_escaping() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\n") == "a%3Ab%2Cc%25d%0A"


def test_github_annotations_aggregate_and_escape(tmp_path: Path) -> None:
    result = check_files(tmp_path, ["a,b:c%.npy"])
    lines = check_github(result).splitlines()
    name = str(tmp_path / "a,b:c%.npy")
    # per (source, condition): nan and overflow errors, underflow warning, then the summary
    assert [ln.split(" ", 1)[0] for ln in lines] == ["::error", "::error", "::warning", "::notice"]
    assert lines[0].startswith(f"::error file={escape_property(name)},title=smcheck nan::")
    assert "%3A" in lines[0].split("::")[1] and "%2C" in lines[0].split("::")[1]
    message = lines[0].split("::", 2)[2]
    head = name.replace("%", "%25") + ": nan in 1 cell%0Anaive float16 T=1: 1 NaN probability"
    assert message.startswith(head) and "\n" not in message


def test_github_warns_about_unmeasured_conditions(tmp_path: Path) -> None:
    result = dataclasses.replace(
        check_files(tmp_path, ["a.npy"]),
        unmeasured=[Unmeasured("dead-gradient", 4, "the report has no gradient metrics")],
    )
    lines = check_github(result).splitlines()
    assert (
        "::warning title=smcheck%3A dead-gradient not measured::"
        "4 cells: the report has no gradient metrics"
    ) in lines


def test_github_counts_one_unmeasured_cell_as_1_cell(tmp_path: Path) -> None:
    # it said "1 cells: ..."
    result = dataclasses.replace(
        check_files(tmp_path, ["a.npy"]),
        unmeasured=[Unmeasured("dead-gradient", 1, "the report has no gradient metrics")],
    )
    assert (
        "::warning title=smcheck%3A dead-gradient not measured::"
        "1 cell: the report has no gradient metrics"
    ) in check_github(result).splitlines()


def test_github_annotations_stay_within_the_per_step_limit(tmp_path: Path) -> None:
    names = [f"s{i:02}.npy" for i in range(12)]
    result = check_files(tmp_path, names, Policy(methods=("naive",), dtypes=("float16",)))
    errors = [ln for ln in check_github(result).splitlines() if ln.startswith("::error")]
    # 12 sources x the `fail` level = 12 groups: 9 shown, the last annotation folds 3 more
    assert len(errors) == 10
    assert "smcheck%3A 3 more" in errors[-1]
    text = "\n".join(errors)
    assert all(n in text for n in names)


def test_junit_is_valid_xml_even_for_hostile_names(tmp_path: Path) -> None:
    result = check_files(tmp_path, ["x<&>\x01.npy"])
    root = ET.fromstring(render(CHECK_FORMATS, result, "junit"))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["input", "naive float16 T=1"]
    case = cases[1]
    assert "x<&>\ufffd.npy" in (case.get("classname") or "")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "nan; overflow"
    assert "overflow: 1 overflow to +inf (exp 1)" in (failure.text or "")
    out = case.find("system-out")
    assert out is not None and "warning underflow: 1 probabilit" in (out.text or "")


def test_junit_counts_match_its_test_cases(tmp_path: Path) -> None:
    """tests/failures/errors/skipped of every suite and of the whole agree with its elements;
    the comparison cells (hypothetical) are the skipped ones."""
    for n in ("a.npy", "b.npy"):
        np.save(tmp_path / n, np.array([[1.0, 2.0, 12.5], [-16.5, -23.0, -16.5]]))
    (tmp_path / "bad.json").write_text("[[1, 2], [3]]")
    args = ["check", "--isolated", "--dtype", "fp16", "--format", "junit"]
    r = CliRunner().invoke(
        cli, [*args, *(str(tmp_path / n) for n in ("a.npy", "b.npy", "bad.json"))]
    )
    assert r.exit_code == 2, r.output
    root = ET.fromstring(r.stdout)
    tags = {"tests": "testcase", "failures": "failure", "errors": "error", "skipped": "skipped"}
    for node, cases in [(s, "./testcase") for s in root] + [(root, "./testsuite/testcase")]:
        for attr, tag in tags.items():
            want = len(root.findall(cases)) if node is root else len(node.findall("./testcase"))
            if tag != "testcase":
                want = len(node.findall(f".//{tag}"))
            assert node.get(attr) == str(want), (node.get("name"), attr)
    assert int(root.get("skipped") or 0) > 0 and root.get("errors") == "1"


def test_junit_skips_a_test_case_per_unmeasured_condition(tmp_path: Path) -> None:
    # JUnit had no mention of a fail-on condition the report could not evaluate
    result = dataclasses.replace(
        check_files(tmp_path, ["a.npy"]),
        unmeasured=[
            Unmeasured("dead-gradient", 4, "the report has no gradient metrics"),
            Unmeasured("nan-gradient", 1, "the report has no gradient metrics"),
        ],
    )
    root = ET.fromstring(render(CHECK_FORMATS, result, "junit"))
    (suite,) = root.findall("./testsuite[@name='not measured']")
    cases = suite.findall("./testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("policy", "dead-gradient"),
        ("policy", "nan-gradient"),
    ]
    assert [c.find("skipped").get("message") for c in cases] == [  # type: ignore[union-attr]
        "not measured in 4 cells: the report has no gradient metrics",
        "not measured in 1 cell: the report has no gradient metrics",
    ]
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("2", "2", "0")
    assert root.get("tests") == str(len(root.findall("./testsuite/testcase")))
    assert root.get("skipped") == str(len(root.findall(".//skipped")))


def test_junit_skips_a_cell_that_judged_no_row_saying_why(tmp_path: Path) -> None:
    # every row NaN: the cells judged no row (rows_checked 0, OK), yet the selected ones were
    # passing test cases, "checked and fine" to a CI reader
    np.save(tmp_path / "nan.npy", np.full((2, 4), np.nan, np.float32))
    args = ["check", "--isolated", "--dtype", "fp16", "--format", "junit"]
    r = CliRunner().invoke(cli, [*args, str(tmp_path / "nan.npy")])
    assert r.exit_code == 1, r.output  # the input's own NaN finding fails the check
    root = ET.fromstring(r.stdout)
    (suite,) = root.findall("./testsuite")
    why = "no row judged (every row kept out of the metrics: see the input findings)"
    cases = {c.get("name"): c for c in suite.findall("./testcase")}
    skipped = cases["torch float16 T=1"].find("skipped")
    assert skipped is not None and skipped.get("message") == why
    naive = cases["naive float16 T=1"].find("skipped")
    assert naive is not None  # a comparison and not judged: both reasons
    assert naive.get("message") == f"a hypothetical comparison: never fails a check; {why}"
    assert cases["input"].find("failure") is not None
    assert [n for n, c in cases.items() if c.find("skipped") is None] == ["input"]
    for node in (root, suite):
        assert (node.get("tests"), node.get("skipped"), node.get("failures")) == ("5", "4", "1")


def test_markdown_escapes_cells(tmp_path: Path) -> None:
    assert md("<values> a|b *c*") == r"&lt;values&gt; a\|b \*c\*"
    result = check_files(tmp_path, ["t|1.npy"])
    text = render(CHECK_FORMATS, result, "markdown")
    rows = [ln for ln in text.splitlines() if ln.startswith("| error")]
    assert len(rows) == 2 and all(r"t\|1.npy" in r and r.count(" | ") == 4 for r in rows)


def test_text_lists_violations_then_a_summary(tmp_path: Path) -> None:
    text = render(CHECK_FORMATS, check_files(tmp_path, ["a.npy"]), "text").splitlines()
    # one line per violation (wrapped within 100 columns; continuations indented)
    firsts = [ln.split()[0] for ln in text if ln and not ln.startswith(" ")]
    assert firsts[:3] == ["ERROR", "ERROR", "WARN"]
    assert all(len(ln) <= 100 for ln in text)
    assert text[-1] == "FAILED: 2 errors, 1 warning in 1 of 1 source (1 cell checked)"


def test_text_counts_sources_not_checked_apart_from_the_policy_errors(tmp_path: Path) -> None:
    # a corrupt file was listed as "ERROR" beside the policy's errors and the summary read
    # "INCOMPLETE: 1 source could not be checked; 2 errors, 1 warning in 1 of 1 source": three
    # ERROR lines beside "2 errors", and the unreadable file missing from the sources counted
    check_files(tmp_path, ["a.npy"])
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    result = run_check([str(tmp_path / "a.npy"), str(tmp_path / "bad.npy")], POLICY)
    text = render(CHECK_FORMATS, result, "text")
    firsts = [ln.split()[:2] for ln in text.splitlines() if ln and not ln.startswith(" ")]
    assert [f[0] for f in firsts[:3]] == ["ERROR", "ERROR", "WARN"]
    assert firsts[3] == ["NOT", "CHECKED"]
    summary = " ".join(text.split("by condition: ")[1].splitlines()[1:])
    assert summary == (
        "INCOMPLETE: 1 of 2 sources not checked (unreadable or unusable input); "
        "policy: 2 errors, 1 warning in 1 of 1 checked source (1 cell checked)"
    )


def test_a_check_entry_states_each_remedy_once_in_text_markdown_and_html() -> None:
    # naive float16 on the classifier: exp overflow and NaN p are fixed by max-shifted softmax,
    # the NaN loss and gradients by log_softmax; the fail entry named each remedy twice
    sample = Path(__file__).parents[2] / "sample_inputs" / "classifier_fp16_overflow.npy"
    policy = Policy(
        methods=("naive", "torch"), dtypes=("float16",), fail_on=parse_conditions(["fail"])
    )
    result = run_check([str(sample)], policy)
    entries = {
        "text": render(CHECK_FORMATS, result, "text").split("\n\n")[0].replace("\n  ", " "),
        "markdown": next(
            ln for ln in render(CHECK_FORMATS, result, "markdown").splitlines() if "`fail`" in ln
        ),
        "html": render(CHECK_FORMATS, result, "html").split("Violations by source")[1],
    }
    for name, entry in entries.items():
        entry = entry.split("</table>")[0].replace("\\_", "_")
        assert entry.count("-- use max-shifted softmax or torch.softmax;") == 1, (name, entry)
        assert entry.count("-- use log_softmax / cross_entropy on the logits") == 1, (name, entry)
        assert (
            entry.index("probabilities NaN")
            < entry.index("max-shifted")
            < entry.index("loss is NaN")
        ), (name, entry)


def test_analyze_markdown(tmp_path: Path) -> None:
    argv = ["analyze", "--values", "1,2,3,12", "--dtype", "fp16", "--format", "markdown"]
    r = CliRunner().invoke(cli, [*argv, "--method", "naive,torch"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "## smcheck: FAIL"
    assert "### &lt;values&gt;: FAIL" in lines
    assert "| method | float16 |" in lines and "| naive | **FAIL** |" in lines
    # findings by cause, each with the cells it hits and the remedy, then what was left out
    overflow = next(ln for ln in lines if ln.startswith("- **FAIL** `exp-overflow` in naive"))
    assert "exp overflows for logits above 11.0902 in" in overflow
    assert overflow.endswith("Fix: use max-shifted softmax or torch.softmax")
    assert lines[-1].startswith("_Not shown: the per-cell metrics")


def test_check_markdown_sources_table_shows_the_checks_result(tmp_path: Path) -> None:
    # overflow fails the analysis of a.npy, but this policy fails on nothing:
    # the source's verdict is FAIL, its check passed
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 12.5]]))
    policy = Policy(methods=("naive",), dtypes=("float16", "float32"), fail_on="never")
    result = run_check([str(tmp_path / "a.npy")], policy)
    assert result.report.sources[0].verdict.value == "FAIL" and result.passed
    text = render(CHECK_FORMATS, result, "markdown")
    assert "| source | check | errors | warnings | baselined | cells |" in text
    assert f"| {md(str(tmp_path / 'a.npy'))} | passed | 0 | 0 | 0 | 2 |" in text
    failed = render(CHECK_FORMATS, check_files(tmp_path, ["b.npy"]), "markdown").splitlines()
    assert f"| {md(str(tmp_path / 'b.npy'))} | **failed** | 2 | 1 | 0 | 1 |" in failed


def test_analyze_markdown_names_the_max_logsumexp_row_and_keeps_close_temperatures_apart() -> None:
    # Markdown's input line gave "max logsumexp 12.5" without the row the terminal and HTML
    # name; its T stays at six digits, as the findings give it: at three, T = 1.0818 and
    # 1.0822 (naive float16 FAIL, then OK) both read "1.08"
    from smcheck import analyze
    from smcheck.report.markdown import report_markdown

    x = [[0.0, 0.0, 0.0], [1.0, 2.0, 12.5]]
    r = analyze(x, methods=["naive"], dtypes=["float16"], temperatures=[1.0, 1.5], critical=False)
    inp = next(ln for ln in report_markdown(r).splitlines() if ln.startswith("input: "))
    assert ", max logsumexp 12.5 (row \\[1\\]);" in inp
    x = [[1.0, 2.0, 3.0, 12.0]]
    r = analyze(x, methods=["naive"], dtypes=["float16"], temperatures=[1.0818, 1.0822])
    assert "| naive | **FAIL** T=1.0818, OK T=1.0822 |" in report_markdown(r).splitlines()


def test_analyze_markdown_input_line_names_the_rows_kept_out_and_the_first_of_each() -> None:
    # it gave "2 fully masked rows" alone: no rows with NaN/+inf from upstream, no first row,
    # where the terminal's input line names both
    from smcheck import analyze
    from smcheck.report.markdown import report_markdown

    nan, inf = float("nan"), float("inf")
    x = [[1.0, 2.0, 3.0], [-inf, -inf, -inf], [nan, 1.0, 2.0], [inf, 1.0, 2.0], [-inf] * 3]
    r = analyze(x, methods=["torch"], dtypes=["float32"])
    inp = next(ln for ln in report_markdown(r).splitlines() if ln.startswith("input: "))
    assert inp.endswith(
        "; 2 rows with NaN/+inf (first \\[2\\]); 2 fully masked rows (first \\[1\\])"
    )


def test_an_input_violation_names_the_input_once_in_every_format(tmp_path: Path) -> None:
    # "ERROR input  n.csv  input: 1 row with NaN ... in the input" and the annotation
    # "n.csv: input%0Ainput: 1 row ...": the cell "input" before a message that names the input
    from smcheck.findings.inputconditions import INPUT_METRICS
    from smcheck.report.violations import INPUT_CONDITIONS

    assert set(INPUT_CONDITIONS) == set(INPUT_METRICS)  # the layer below keeps their names
    (tmp_path / "n.csv").write_text("nan,1,2\n3,4,5\n")
    policy = Policy(methods=("torch",), dtypes=("float32",), fail_on=parse_conditions(["input"]))
    result = run_check([str(tmp_path / "n.csv")], policy)
    (v,) = result.violations
    said = "1 row with NaN or +inf in the input before any softmax (1 NaN, 0 +inf), row [0]"
    assert v.placed_message.startswith(said)
    name = str(tmp_path / "n.csv")
    text = render(CHECK_FORMATS, result, "text").replace("\n  ", " ")
    assert f"ERROR input  {name}  {said} -- " in text
    (error,) = [ln for ln in check_github(result).splitlines() if ln.startswith("::error")]
    assert error.split("::")[2].startswith(f"{escape_data(name)}: {said} -- ")
    sarif = json.loads(render(CHECK_FORMATS, result, "sarif"))
    assert sarif["runs"][0]["results"][0]["message"]["text"].startswith(f"{name}: {said} -- ")
    failure = ET.fromstring(render(CHECK_FORMATS, result, "junit")).find(".//failure")
    assert failure is not None and (failure.text or "").startswith(f"input: {said} -- ")


def test_a_source_not_checked_is_named_once_and_annotates_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "NOT CHECKED bad.npy  cannot load 'bad.npy': ..." and SARIF's "cannot check bad.npy:
    # cannot load 'bad.npy': ...": the path twice; the annotation named no file=
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    result = run_check(["bad.npy", "gone.npy", "gen:nope"], POLICY)
    said = [e.line for e in result.errors]
    names = ["bad.npy", "gone.npy", "gen:nope"]
    assert [s.count(n) for s, n in zip(said, names, strict=True)] == [1, 1, 1], said
    assert said[0].startswith("cannot load 'bad.npy': ")
    text = render(CHECK_FORMATS, result, "text").replace("\n  ", " ")
    assert f"NOT CHECKED {said[0]}" in text and f"NOT CHECKED {said[1]}" in text
    errors = [ln for ln in check_github(result).splitlines() if ln.startswith("::error")]
    assert errors == [
        f"::error file=bad.npy,title=smcheck%3A not checked::{escape_data(said[0])}",
        f"::error title=smcheck%3A not checked::{escape_data(said[1])}",  # no file to point at
        f"::error title=smcheck%3A not checked::{escape_data(said[2])}",
    ]
    notes = json.loads(render(CHECK_FORMATS, result, "sarif"))["runs"][0]["invocations"][0]
    assert [n["message"]["text"] for n in notes["toolExecutionNotifications"]] == said
    markdown = render(CHECK_FORMATS, result, "markdown").splitlines()
    assert [f"- {md(s)}" for s in said] == [ln for ln in markdown if ln.startswith("- ")]
