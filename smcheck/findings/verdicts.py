"""Verdicts: OK / WARN / FAIL for a cell, with one finding per reason naming the remedy."""

from __future__ import annotations

from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.findings.errorbounds import bound_findings
from smcheck.findings.remedies import finding
from smcheck.report.model import (
    Accumulation,
    BoundCheck,
    CellMetrics,
    Finding,
    GradientMetrics,
    Verdict,
)
from smcheck.report.phrases import plural, rows_of, verb


def judge(
    method: str,
    fmt: FloatFormat,
    temperature: float,
    m: CellMetrics,
    th: Thresholds,
    *,
    bounds: BoundCheck | None = None,
    accumulation: Accumulation | None = None,
    gradient: GradientMetrics | None = None,
) -> tuple[Verdict, list[Finding]]:
    """The verdict of one cell and the findings that justify it (most severe first)."""
    found = _Found(method, fmt.name)
    total = m.rows_checked

    if m.temperature_overflow.elements:
        found.fail(
            "temperature-overflow",
            f"dividing the logits by T={temperature:g} overflows {fmt.name} in "
            f"{rows_of(m.temperature_overflow.rows, total)}",
        )
    exp_over = m.overflow.elements - m.temperature_overflow.elements
    if exp_over > 0:
        found.fail(
            "exp-overflow",
            f"exp overflows for logits above {fmt.exp_overflow_x:.2f} in "
            f"{rows_of(m.overflow.rows, total)} ({plural(exp_over, 'element')})",
        )
    if m.nan.elements:
        causes = ", ".join(f"{k}: {v}" for k, v in sorted(m.nan.causes.items()))
        found.fail(
            "probability-nan",
            f"{plural(m.nan.elements, 'probability')} NaN in {rows_of(m.nan.rows, total)} "
            f"({causes})",
        )
    neg_log = m.log_nonfinite.elements - m.nan.elements
    if neg_log > 0:
        found.fail(
            "log-of-zero",
            f"log(softmax) gives -inf for {plural(neg_log, 'log-probability')} whose exact value "
            f"is finite, in {rows_of(m.log_nonfinite.rows, total)}",
        )
    if m.underflow.elements and (m.lost_mass.max or 0.0) > th.lost_mass:
        found.warn(
            "underflow",
            f"{plural(m.underflow.elements, 'probability')} representable in {fmt.name} underflow "
            f"to 0 in {rows_of(m.underflow.rows, total)} (lost mass up to {m.lost_mass.max:.3g})",
        )
    if m.argmax_flips.rows:
        found.warn(
            "argmax-flip",
            f"argmax differs from the exact one in {rows_of(m.argmax_flips.rows, total)}",
        )
    limit = 2.0 ** (th.normwise_bits * fmt.t)
    if m.error.normwise_u is not None and m.error.normwise_u > limit:
        found.warn(
            "normwise-error",
            f"normwise error {m.error.normwise_u:.3g}u exceeds {limit:.3g}u "
            f"(over {th.normwise_bits:.0%} of the {fmt.t} significand bits lost)",
        )
    if gradient is not None:
        _gradient_findings(found, fmt, gradient)
    # the root cause (a stall, a violated bound, whose fault the error is) leads the warnings
    found.warnings[:0] = bound_findings(method, bounds, accumulation, fmt, total)
    if found.failures:
        return Verdict.FAIL, found.failures + found.warnings
    if found.warnings:
        return Verdict.WARN, found.warnings
    return Verdict.OK, []


class _Found:
    """The findings of one cell as they are judged, each with the registry's remedy."""

    def __init__(self, method: str, dtype: str) -> None:
        self.method, self.dtype = method, dtype
        self.failures: list[Finding] = []
        self.warnings: list[Finding] = []

    def _make(self, cause: str, severity: str, message: str) -> Finding:
        return finding(cause, severity, message, self.method, self.dtype)

    def fail(self, cause: str, message: str) -> None:
        self.failures.append(self._make(cause, "FAIL", message))

    def warn(self, cause: str, message: str) -> None:
        self.warnings.append(self._make(cause, "WARN", message))


def _gradient_findings(found: _Found, fmt: FloatFormat, g: GradientMetrics) -> None:
    """The findings of a cell's cross-entropy gradient metrics (docs/design.md §5)."""
    from smcheck.methods import METHODS

    total = g.rows_checked
    m = METHODS.get(found.method)
    log_of_p = m is not None and m.log_route == "log(p)"
    if g.loss_inf.rows:
        found.fail(
            "loss-inf",
            f"the cross-entropy loss is infinite in {rows_of(g.loss_inf.rows, total)} "
            "although the exact loss is finite",
        )
    if g.loss_nan.rows:
        rows = rows_of(g.loss_nan.rows, total)
        found.fail("loss-nan", f"the cross-entropy loss is NaN in {rows}")
    if g.nan.elements:
        why = " (d log(p)/dp = 0/0 where p is 0, at a mask too)" if log_of_p else ""
        found.fail(
            "gradient-nan",
            f"{_are(g.nan.elements, 'gradient element')} NaN in {rows_of(g.nan.rows, total)}{why}",
        )
    if g.dead.elements:
        gone = ""
        if g.vanished_rows:
            gone = f"; the whole gradient vanished in {rows_of(g.vanished_rows, total)}"
        found.warn(
            "dead-gradient",
            f"{_are(g.dead.elements, 'gradient element')} exactly 0 where the exact gradient is "
            f"representable in {fmt.name}, in {rows_of(g.dead.rows, total)}{gone}",
        )
    if g.saturated_rows:
        found.warn(
            "saturation",
            f"the top probability rounds to 1 in {fmt.name} in "
            f"{rows_of(g.saturated_rows, total)}, so the softmax Jacobian is 0 there",
        )


def _are(n: int, word: str) -> str:
    return f"{plural(n, word)} {verb(n, 'is', 'are')}"
