"""Between the options and the printing of ``smcheck check``: policy, run, baseline, render."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smcheck.check.baseline import apply_baseline, load_baseline, write_baseline
from smcheck.check.run import run_check
from smcheck.config import parse_temperatures
from smcheck.errors import ConfigError
from smcheck.check.policy import Policy, load_policy, parse_conditions
from smcheck.report.violations import CheckResult

CHECK_FORMATS: tuple[str, ...] = ("text", "json", "markdown", "junit", "github")


def cli_policy(
    cwd: Path,
    config: str | None,
    isolated: bool,
    given: dict[str, Any],
    fail_on: Sequence[str],
    warn_on: Sequence[str],
) -> Policy:
    """The config file's policy with the options given on the command line laid over it."""
    policy = load_policy(cwd, config, isolated)
    over = dict(given)
    if "temperatures" in over:
        over["temperatures"] = parse_temperatures(over["temperatures"]) or None
    if "memory_budget" in over:
        over["memory_budget"] *= 2**20
    for key in ("dtypes", "methods"):  # an empty LIST keeps the policy's
        if key in over and not over[key]:
            del over[key]
    if fail_on:
        over["fail_on"] = parse_conditions(list(fail_on))
    if warn_on:
        over["warn_on"] = parse_conditions(list(warn_on))
    return policy.override(**over)


def parse_report_options(items: Sequence[str]) -> list[tuple[str, str]]:
    """``FORMAT=FILE`` pairs of ``--report``."""
    out = []
    for item in items:
        fmt, sep, path = item.partition("=")
        if not sep or fmt not in CHECK_FORMATS or not path:
            raise ConfigError(
                f"bad --report {item!r}; use FORMAT=FILE with FORMAT one of "
                f"{', '.join(CHECK_FORMATS)}, e.g. --report junit=smcheck.xml"
            )
        out.append((fmt, path))
    return out


def check_sources(
    sources: Sequence[str],
    policy: Policy,
    baseline: str | None = None,
    new_baseline: str | None = None,
) -> tuple[CheckResult, int | None]:
    """Run the check and apply the baselines; returns the result and how many entries were written.

    ``--baseline`` decides which violations are new. ``--write-baseline`` records every current
    violation, only when every source could be read; without ``--baseline`` the run is then judged
    against what it just wrote, so it passes.
    """
    entries = load_baseline(baseline) if baseline is not None else None  # fail before the work
    result = run_check(sources, policy)
    if baseline is not None and entries is not None:
        result = apply_baseline(result, baseline, entries)
    written = None
    if new_baseline is not None and not result.errors:
        written = write_baseline(new_baseline, result)
        if baseline is None:
            result = apply_baseline(result, new_baseline, load_baseline(new_baseline))
    return result, written


def render(result: CheckResult, fmt: str, width: int = 100) -> str:
    """The check result in one of :data:`CHECK_FORMATS`, as text (colourless for ``text``)."""
    if fmt == "json":
        from smcheck.report.json import check_to_json

        return check_to_json(result) + "\n"
    if fmt == "markdown":
        from smcheck.report.markdown import check_markdown

        return check_markdown(result)
    if fmt == "junit":
        from smcheck.report.junit import check_junit

        return check_junit(result)
    if fmt == "github":
        from smcheck.report.github import check_github

        return check_github(result)
    if fmt == "text":
        from rich.console import Console

        from smcheck.report.terminal.check import build_check_text

        console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
        for r in build_check_text(result):
            console.print(r, soft_wrap=True)
        return console.export_text()
    raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(CHECK_FORMATS)}")


def append_step_summary(result: CheckResult) -> str | None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` when set; a problem, or None."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(render(result, "markdown") + "\n")
    except OSError as e:
        return f"cannot append to $GITHUB_STEP_SUMMARY '{path}' ({e.strerror or e})"
    return None
