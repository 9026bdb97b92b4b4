"""The one-line messages the commands write to stderr."""

from __future__ import annotations

from typing import Any

import click

from smcheck.report.phrases import plural


def summarise(report: Any) -> None:
    """The one-line human summary of an analysis, on stderr."""
    c = report.counts()
    n = sum(c.values())
    found = [f.severity for s in report.sources for f in s.input.findings]
    inputs = ", ".join(f"{found.count(k)} {k}" for k in ("FAIL", "WARN") if k in found)
    click.echo(
        f"smcheck: {plural(len(report.sources), 'source')}, {plural(n, 'cell')}: "
        f"{c['FAIL']} FAIL, {c['WARN']} WARN, {c['OK']} OK"
        + (f"; input: {inputs}" if inputs else ""),
        err=True,
    )
