"""Verdicts: OK / WARN / FAIL for a cell, with one plain sentence per finding naming the remedy."""

from __future__ import annotations

from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.findings import remedies
from smcheck.findings.errorbounds import bound_reasons
from smcheck.report.model import Accumulation, BoundCheck, CellMetrics, GradientMetrics, Verdict
from smcheck.report.phrases import at_temperature, plural, rows_of, verb


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
) -> tuple[Verdict, list[str]]:
    """The verdict of one cell and the sentences that justify it (most severe first)."""
    fail: list[str] = []
    warn: list[str] = []
    total = m.rows_checked
    where = f"{method} {fmt.name}" + at_temperature(temperature)

    if m.temperature_overflow.elements:
        fail.append(
            f"{where}: dividing the logits by T={temperature:g} overflows {fmt.name} in "
            f"{rows_of(m.temperature_overflow.rows, total)} -- "
            f"{remedies.CENTRE_OR_FLOAT32}{remedies.RAISE_T}"
        )
    exp_over = m.overflow.elements - m.temperature_overflow.elements
    if exp_over > 0:
        fail.append(
            f"{where}: exp overflows for logits above {fmt.exp_overflow_x:.2f} in "
            f"{rows_of(m.overflow.rows, total)} ({plural(exp_over, 'element')}) "
            f"-- {remedies.MAX_SHIFTED}"
        )
    if m.nan.elements:
        causes = ", ".join(f"{k}: {v}" for k, v in sorted(m.nan.causes.items()))
        fail.append(
            f"{where}: {plural(m.nan.elements, 'probability')} NaN in "
            f"{rows_of(m.nan.rows, total)} ({causes})"
        )
    neg_log = m.log_nonfinite.elements - m.nan.elements
    if neg_log > 0:
        fail.append(
            f"{where}: log(softmax) gives -inf for {plural(neg_log, 'log-probability')} whose "
            f"exact value is finite, in {rows_of(m.log_nonfinite.rows, total)} -- "
            f"{remedies.LOG_SOFTMAX}"
        )
    if m.underflow.elements and (m.lost_mass.max or 0.0) > th.lost_mass:
        warn.append(
            f"{where}: {plural(m.underflow.elements, 'probability')} representable in "
            f"{fmt.name} underflow to 0 in {rows_of(m.underflow.rows, total)} (lost mass up to "
            f"{m.lost_mass.max:.3g}) -- {remedies.LOG_DOMAIN_OR_WIDER}"
        )
    if m.argmax_flips.rows:
        warn.append(
            f"{where}: argmax differs from the exact one in "
            f"{rows_of(m.argmax_flips.rows, total)} -- {remedies.WIDER_SOFTMAX}"
        )
    limit = 2.0 ** (th.normwise_bits * fmt.t)
    if m.error.normwise_u is not None and m.error.normwise_u > limit:
        naive = method in ("naive", "lse-direct")
        fix = remedies.MAX_SHIFTED_OR_LOG_DOMAIN if naive else remedies.WIDER
        warn.append(
            f"{where}: normwise error {m.error.normwise_u:.3g}u exceeds {limit:.3g}u "
            f"(over {th.normwise_bits:.0%} of the {fmt.t} significand bits lost) -- {fix}"
        )
    if gradient is not None:
        gfail, gwarn = gradient_reasons(where, method, fmt, gradient)
        fail += gfail
        warn += gwarn
    # the root cause (a stall, a violated bound, whose fault the error is) leads the warnings
    warn = bound_reasons(where, method, bounds, accumulation, fmt, total) + warn
    if fail:
        return Verdict.FAIL, fail + warn
    if warn:
        return Verdict.WARN, warn
    return Verdict.OK, []


WIDER = {"float16": "float32", "bfloat16": "float32", "float32": "float64"}


def gradient_reasons(
    where: str, method: str, fmt: FloatFormat, g: GradientMetrics
) -> tuple[list[str], list[str]]:
    """(FAIL, WARN) sentences of a cell's cross-entropy gradient metrics (docs/design.md §5)."""
    from smcheck.methods import METHODS

    total = g.rows_checked
    m = METHODS.get(method)
    wider = WIDER.get(fmt.name)
    if m is not None and m.log_route == "log(p)":
        fix = dead_fix = remedies.LOG_ROUTE
    elif wider:
        fix = dead_fix = remedies.loss_in(wider)
    else:  # float64 log-softmax: only extreme logits break it, or p[t] rounding to 1
        fix, dead_fix = remedies.CHECK_LOGIT_SCALE, remedies.CURB_CONFIDENCE
    fail: list[str] = []
    warn: list[str] = []
    if g.loss_inf.rows:
        fail.append(
            f"{where}: the cross-entropy loss is infinite in {rows_of(g.loss_inf.rows, total)} "
            f"although the exact loss is finite -- {fix}"
        )
    if g.loss_nan.rows:
        rows = rows_of(g.loss_nan.rows, total)
        fail.append(f"{where}: the cross-entropy loss is NaN in {rows} -- {fix}")
    if g.nan.elements:
        why = (
            " (d log(p)/dp = 0/0 where p is 0, at a mask too)" if fix == remedies.LOG_ROUTE else ""
        )
        fail.append(
            f"{where}: {_are(g.nan.elements, 'gradient element')} NaN in "
            f"{rows_of(g.nan.rows, total)}{why} -- {fix}"
        )
    if g.dead.elements:
        gone = ""
        if g.vanished_rows:
            gone = f"; the whole gradient vanished in {rows_of(g.vanished_rows, total)}"
        warn.append(
            f"{where}: {_are(g.dead.elements, 'gradient element')} exactly 0 where the exact "
            f"gradient is representable in {fmt.name}, in {rows_of(g.dead.rows, total)}{gone} "
            f"-- {dead_fix}"
        )
    if g.saturated_rows:
        warn.append(
            f"{where}: the top probability rounds to 1 in {fmt.name} in "
            f"{rows_of(g.saturated_rows, total)}, so the softmax Jacobian is 0 there -- "
            + (remedies.softmax_and_loss_in(wider) if wider else remedies.CURB_CONFIDENCE)
        )
    return fail, warn


def _are(n: int, word: str) -> str:
    return f"{plural(n, word)} {verb(n, 'is', 'are')}"
