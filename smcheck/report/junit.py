"""JUnit XML: a test suite per source, a test case for its input and per cell, failures with the
reasons; hypothetical comparison cells are skipped test cases (they never fail a check), so are
cells that judged no row (every row NaN/+inf or fully masked: nothing passed), and so is each
policy condition the report could not evaluate (a suite of its own, with the reason)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from smcheck.report.model import Cell
from smcheck.report.phrases import NOT_JUDGED_WHY, plural
from smcheck.report.violations import INPUT, CheckResult, Severity, Unmeasured, Violation

# characters XML 1.0 cannot hold at all, even escaped (a file name may contain them)
_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object) -> str:
    return _INVALID.sub("\ufffd", str(text))


def _lines(vs: list[Violation]) -> str:
    return "\n".join(f"{v.condition}: {v.message}" for v in vs)


HYPOTHETICAL = "a hypothetical comparison: never fails a check"


def _skipped(c: Cell) -> str | None:
    """Why a cell's test case is skipped: a comparison never fails a check, and a cell that
    judged no row passed nothing (its OK would read as "checked and fine"); None for neither."""
    why = [HYPOTHETICAL] if c.hypothetical else []
    return "; ".join(why + ([] if c.judged else [NOT_JUDGED_WHY])) or None


def _case(
    suite: ET.Element, source: str, label: str, vs: list[Violation], skipped: str | None
) -> bool:
    """One testcase with its violations; whether it fails."""
    case = ET.SubElement(suite, "testcase", classname=_x(source), name=_x(label))
    if skipped is not None:
        ET.SubElement(case, "skipped", message=_x(skipped))
    failing = [v for v in vs if v.severity is Severity.ERROR and not v.baselined]
    if failing:
        fail = ET.SubElement(
            case,
            "failure",
            message=_x("; ".join(v.condition for v in failing)),
            type=_x(failing[0].condition),
        )
        fail.text = _x(_lines(failing))
    rest = [v for v in vs if v not in failing]
    if rest:
        out = ET.SubElement(case, "system-out")
        out.text = _x(
            "\n".join(
                ("baselined " if v.baselined else f"{v.severity.value} ")
                + f"{v.condition}: {v.message}"
                for v in rest
            )
        )
    return bool(failing)


def _unmeasured_suite(root: ET.Element, unmeasured: list[Unmeasured]) -> int:
    """One skipped test case per condition some cells could not be checked on; how many."""
    suite = ET.SubElement(root, "testsuite", name="not measured")
    for u in unmeasured:
        case = ET.SubElement(suite, "testcase", classname="policy", name=_x(u.condition))
        why = f"not measured in {plural(u.cells, 'cell')}: {u.reason}"
        ET.SubElement(case, "skipped", message=_x(why))
    n = str(len(unmeasured))
    for k, v in (("tests", n), ("failures", "0"), ("errors", "0"), ("skipped", n)):
        suite.set(k, v)
    return len(unmeasured)


def check_junit(result: CheckResult) -> str:
    """The check as JUnit XML (the schema Jenkins, GitLab and the GitHub test reporters read)."""
    by_cell: dict[tuple[str, str, str, float], list[Violation]] = defaultdict(list)
    for v in result.violations:
        by_cell[(v.source, v.method, v.dtype, v.temperature)].append(v)
    root = ET.Element("testsuites", name="smcheck")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for s in result.report.sources:
        suite = ET.SubElement(root, "testsuite", name=_x(s.name))
        props = ET.SubElement(suite, "properties")
        for k, val in (("shape", s.shape), ("dtype", s.dtype), ("dim", s.dim)):
            ET.SubElement(props, "property", name=k, value=_x(val))
        # the input itself is one test (NaN/+inf, fully masked rows), then one per cell
        labels = [(INPUT, s.dtype, 1.0, INPUT, None)] + [
            (
                c.method,
                c.dtype,
                c.temperature,
                f"{c.method} {c.dtype} T={c.temperature:g}",
                _skipped(c),
            )
            for c in s.cells
        ]
        failures = sum(
            _case(suite, s.name, label, by_cell.get((s.name, m, d, t), []), why)
            for m, d, t, label, why in labels
        )
        skipped = sum(why is not None for *_, why in labels)
        for k, n in (("tests", len(labels)), ("failures", failures), ("skipped", skipped)):
            suite.set(k, str(n))
            totals[k] += n
        suite.set("errors", "0")
    for e in result.errors:
        suite = ET.SubElement(
            root, "testsuite", name=_x(e.source), tests="1", failures="0", errors="1", skipped="0"
        )
        case = ET.SubElement(suite, "testcase", classname=_x(e.source), name="load")
        err = ET.SubElement(case, "error", message=_x(e.message), type="unreadable")
        err.text = _x(e.message)
        totals["tests"] += 1
        totals["errors"] += 1
    if result.unmeasured:
        n = _unmeasured_suite(root, result.unmeasured)
        totals["tests"] += n
        totals["skipped"] += n
    for k, n in totals.items():
        root.set(k, str(n))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
