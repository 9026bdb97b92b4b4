"""A Report in a notebook: HTML and rich views, flat records, a DataFrame."""

from __future__ import annotations

import dataclasses
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from rich.console import Console

from smcheck.api import analyze
from smcheck.report.renderers import plain_text
from smcheck.report.terminal.concise import build_summary
from smcheck.report.terminal.notebook import WIDTH

X = np.array([[1.0, 2.0, 12.5], [-20.0, -5.0, -5.0]])  # naive float16 overflows on row 0


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return analyze(X, dtypes=("float16", "float32"), methods=("naive", "shifted"), gradients=False)


class _Text(HTMLParser):
    """The text of an HTML fragment, and the tags and inline styles it uses."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.tags: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.styles += [v or "" for k, v in attrs if k == "style"]

    def handle_data(self, data: str) -> None:
        self.text += data


def _concise(report, width: int) -> str:  # type: ignore[no-untyped-def]
    """What ``smcheck analyze`` prints, ``width`` columns wide, without trailing spaces."""
    return plain_text(build_summary(report), width=width)


def _stripped(text: str) -> str:
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def test_repr_html_is_the_concise_report_in_colour_not_a_dataclass_dump(report) -> None:  # type: ignore[no-untyped-def]
    html = report._repr_html_()  # what Jupyter calls
    assert "SourceReport(" not in html and len(html) < 20_000
    parsed = _Text()
    parsed.feed(html)
    assert parsed.tags[:2] == ["pre", "code"]  # a fragment for the notebook, not a page
    assert not {"html", "head", "body", "script", "link"} & set(parsed.tags)
    assert _stripped(parsed.text) == _concise(report, WIDTH)
    assert "naive × float16" in parsed.text and "exp-overflow" in parsed.text
    # the verdicts keep the terminal's colours: FAIL bold red, OK green
    assert any("font-weight: bold" in st and "color: #800000" in st for st in parsed.styles)
    assert any("color: #008000" in st for st in parsed.styles)


def test_repr_is_the_summary_line_and_equality_stays_field_by_field(report) -> None:  # type: ignore[no-untyped-def]
    # print(report) dumped the dataclass repr of every field, about 60,000 characters
    assert repr(report) == "<smcheck Report: 1 source, 4 cells: 1 FAIL, 1 WARN, 2 OK>"
    assert str(report) == repr(report) == f"<smcheck Report: {report.summary()}>"
    assert dataclasses.replace(report) == report
    assert dataclasses.replace(report, smcheck_version="0+other") != report


def test_rich_prints_the_concise_report(report) -> None:  # type: ignore[no-untyped-def]
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    console.print(report)
    assert _stripped(console.export_text()) == _concise(report, 80)


def test_to_records_is_one_flat_dict_per_cell(report) -> None:  # type: ignore[no-untyped-def]
    records = report.to_records()
    assert len(records) == len(report.cells)
    first = records[0]
    assert (first["source"], first["source_dtype"]) == ("<array>", "float64")
    assert {"method", "dtype", "temperature", "verdict", "metrics.overflow.elements"} <= set(first)
    for r in records:
        assert not any(isinstance(v, dict) for v in r.values())  # flat
        json.dumps(r)  # plain values
    (naive16,) = [r for r in records if (r["method"], r["dtype"]) == ("naive", "float16")]
    assert naive16["metrics.overflow.elements"] >= 1 and naive16["verdict"] == "FAIL"


def test_to_pandas_when_pandas_is_installed(report) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pandas")
    frame = report.to_pandas()
    assert len(frame) == len(report.cells)
    assert list(frame.columns[:4]) == ["source", "source_dtype", "reasons", "method"]
