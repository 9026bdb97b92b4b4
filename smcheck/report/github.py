"""GitHub Actions workflow commands (``::error`` / ``::warning``) per source and condition.

GitHub shows at most 10 error and 10 warning annotations per step, so violations are grouped by
(source, condition) and, past that, the remaining groups are folded into the last annotation.
"""

from __future__ import annotations

import os

from smcheck.report.grouping import ViolationGroup, group_violations
from smcheck.report.phrases import plural
from smcheck.report.terminal.check import summary_line
from smcheck.report.violations import INPUT, CheckResult, Severity

ANNOTATIONS_PER_SEVERITY = 10
CELLS_LISTED = 8
"""Cells named in one annotation before "and N more"."""


def escape_data(s: str) -> str:
    """The message part of a workflow command (as @actions/core escapes it)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A ``key=value`` property: also ``:`` and ``,``, which delimit properties."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: str | None) -> str:
    """``::error file=a.npy,title=t::message``: one workflow command, escaped."""
    shown = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
    return f"::{name}{' ' + shown if shown else ''}::{escape_data(message)}"


def _group_message(g: ViolationGroup) -> str:
    vs = g.violations
    if all(v.method == INPUT for v in vs):  # checked once per source: one violation, one line
        return f"{g.source}: {vs[0].placed_message}"
    head = f"{g.source}: {g.condition} in {plural(len(vs), 'cell')}"
    items = [v.placed_message for v in vs[:CELLS_LISTED]]
    if len(vs) > CELLS_LISTED:
        items.append(f"and {len(vs) - CELLS_LISTED} more cells")
    return head + "\n" + "\n".join(items)


def check_github(result: CheckResult) -> str:
    """One ``::error``/``::warning`` per (source, condition), within GitHub's annotation limits."""
    files = {s.name: p for s, p in zip(result.report.sources, result.checked, strict=False)}
    groups = group_violations(result)
    lines: list[str] = []
    errors = [
        ("error", "smcheck: not checked", e.line, e.source if os.path.isfile(e.source) else None)
        for e in result.errors
    ]
    for sev, name in ((Severity.ERROR, "error"), (Severity.WARNING, "warning")):
        items = errors if sev is Severity.ERROR else []
        for g in (g for g in groups if g.severity is sev):
            path = files.get(g.source, (None, None))[0]
            is_file = path is not None and path != "-" and not path.startswith("gen:")
            items.append(
                (name, f"smcheck {g.condition}", _group_message(g), path if is_file else None)
            )
        if sev is Severity.WARNING:  # a policy condition this report cannot evaluate
            items += [
                (
                    name,
                    f"smcheck: {u.condition} not measured",
                    f"{plural(u.cells, 'cell')}: {u.reason}",
                    None,
                )
                for u in result.unmeasured
            ]
        if len(items) > ANNOTATIONS_PER_SEVERITY:
            keep, rest = (
                items[: ANNOTATIONS_PER_SEVERITY - 1],
                items[ANNOTATIONS_PER_SEVERITY - 1 :],
            )
            folded = "\n".join(f"{title}: {msg.splitlines()[0]}" for _, title, msg, _ in rest)
            items = [*keep, (name, f"smcheck: {len(rest)} more", folded, None)]
        lines += [command(n, msg, file=f, title=title) for n, title, msg, f in items]
    lines.append(command("notice", summary_line(result), title="smcheck check"))
    return "\n".join(lines) + "\n"
