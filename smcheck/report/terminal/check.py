"""The terminal report of ``smcheck check``: a line per violation, then a summary (never prints)."""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.text import Text

from smcheck.report.phrases import plural
from smcheck.report.violations import CheckResult, Severity, Violation

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}
LABEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARN "}


def violation_line(v: Violation) -> Text:
    """``ERROR  source  cell  condition: message``, coloured by severity."""
    return Text.assemble(
        (LABEL[v.severity], STYLE[v.severity]),
        "  ",
        (v.source, "bold"),
        "  ",
        v.cell,
        "  ",
        (v.condition, "cyan"),
        ": ",
        v.message,
    )


def summary_line(result: CheckResult) -> str:
    """``FAILED: 2 errors, 1 warning in 1 of 3 sources (48 cells checked)`` and the like."""
    c = result.counts()
    # hypothetical comparison cells are analysed but never checked
    cells = plural(sum(not c.hypothetical for c in result.report.cells), "cell")
    n_src = plural(len(result.report.sources), "source")
    if c["error"] or c["warning"]:
        hit = len({v.source for v in result.failing + result.warnings})
        text = (
            f"{plural(c['error'], 'error')}, {plural(c['warning'], 'warning')} in "
            f"{hit} of {n_src} ({cells} checked)"
        )
    else:
        text = f"no violations in {n_src} ({cells} checked)"
    if c["baselined"]:
        text += f", {c['baselined']} baselined"
    if result.errors:
        bad = plural(len(result.errors), "source")
        return f"INCOMPLETE: {bad} could not be checked; {text}"
    return f"{'FAILED' if result.exit_code else 'PASSED'}: {text}"


def build_check_text(result: CheckResult) -> list[RenderableType]:
    """The violations (baselined ones are counted, not listed), unreadable sources, a summary."""
    out: list[RenderableType] = [violation_line(v) for v in result.violations if not v.baselined]
    out += [
        Text.assemble(("ERROR", "bold red"), "  ", (e.source, "bold"), "  ", e.message)
        for e in result.errors
    ]
    if out:
        out.append(Text(""))
    by_cond = Counter((v.condition, v.severity) for v in result.violations if not v.baselined)
    if by_cond:
        parts = [f"{cond} {plural(n, sev.value)}" for (cond, sev), n in sorted(by_cond.items())]
        out.append(Text("by condition: " + ", ".join(parts), style="dim"))
    b = result.baseline
    if b is not None:
        line = f"baseline {b.file}: {b.known} known, {b.new} new"
        if b.fixed:
            shown = "; ".join(
                f"{e['path']}{':' + e['key'] if e['key'] else ''} {e['method']} {e['dtype']} "
                f"T={e['temperature']:g} {e['condition']}"
                for e in b.fixed[:10]
            )
            more = f" and {len(b.fixed) - 10} more" if len(b.fixed) > 10 else ""
            line += f"; {len(b.fixed)} no longer occur ({shown}{more}): update the baseline"
        out.append(Text(line, style="dim"))
    for u in result.unmeasured:
        out.append(
            Text(f"not measured: {u.condition} in {plural(u.cells, 'cell')} ({u.reason})", "yellow")
        )
    out += [Text(f"note: {n}", style="dim") for n in result.notes]
    style = {0: "bold green", 1: "bold red", 2: "bold red"}[result.exit_code]
    out.append(Text(summary_line(result), style=style))
    return out
