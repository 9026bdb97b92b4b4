"""A Report in a notebook: HTML and rich views, flat records, a DataFrame."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from rich.console import Console

from smcheck.api import analyze

X = np.array([[1.0, 2.0, 12.5], [-20.0, -5.0, -5.0]])  # naive float16 overflows on row 0


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return analyze(X, dtypes=("float16", "float32"), methods=("naive", "shifted"), gradients=False)


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])

    def handle_data(self, data: str) -> None:
        if self.rows and self.lasttag in ("td", "th"):
            self.rows[-1].append(data)


def test_repr_html_is_a_table_of_every_cell_not_a_dataclass_dump(report) -> None:  # type: ignore[no-untyped-def]
    html = report._repr_html_()  # what Jupyter calls
    assert len(html) < 3000 and "SourceReport(" not in html
    parser = _Cells()
    parser.feed(html)
    header, *rows = parser.rows
    assert header == ["source", "method", "dtype", "T", "verdict", "worst finding"]
    assert len(rows) == len(report.cells) == 4
    (naive16,) = [r for r in rows if r[1:3] == ["naive", "float16"]]
    assert naive16[4] == "FAIL" and "overflow" in naive16[5]
    assert f"smcheck {report.smcheck_version}: FAIL" in html


def test_rich_prints_the_same_table(report) -> None:  # type: ignore[no-untyped-def]
    console = Console(width=200, record=True, color_system=None)
    console.print(report)
    text = console.export_text()
    assert "smcheck: FAIL" in text and "worst finding" in text
    assert sum(line.count("OK") for line in text.splitlines()) == report.counts()["OK"]


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
