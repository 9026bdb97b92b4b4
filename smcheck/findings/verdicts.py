"""Verdicts: OK / WARN / FAIL for a cell, with one plain sentence per finding naming the remedy."""

from __future__ import annotations

from smcheck.analysis.boundcheck import bound_reasons
from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.report.model import Accumulation, BoundCheck, CellMetrics, GradientMetrics, Verdict


def _rows(n: int, total: int) -> str:
    return f"{n}/{total} row{'s' if total != 1 else ''}"


def _n(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


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
    where = f"{method} {fmt.name}" + ("" if temperature == 1 else f" at T={temperature:g}")

    if m.temperature_overflow.elements:
        fail.append(
            f"{where}: dividing the logits by T={temperature:g} overflows {fmt.name} in "
            f"{_rows(m.temperature_overflow.rows, total)} -- centre the logits before dividing "
            "((x - max x) / T), or divide and take the softmax in float32, or raise T"
        )
    exp_over = m.overflow.elements - m.temperature_overflow.elements
    if exp_over > 0:
        fail.append(
            f"{where}: exp overflows for logits above {fmt.exp_overflow_x:.2f} in "
            f"{_rows(m.overflow.rows, total)} ({_n(exp_over, 'element')}) "
            "-- use max-shifted softmax or torch.softmax"
        )
    if m.nan.elements:
        causes = ", ".join(f"{k}: {v}" for k, v in sorted(m.nan.causes.items()))
        fail.append(
            f"{where}: {_n(m.nan.elements, 'probability', 'probabilities')} NaN in {_rows(m.nan.rows, total)} ({causes})"
        )
    neg_log = m.log_nonfinite.elements - m.nan.elements
    if neg_log > 0:
        fail.append(
            f"{where}: log(softmax) gives -inf for {_n(neg_log, 'log-probability', 'log-probabilities')} whose exact value "
            f"is finite, in {_rows(m.log_nonfinite.rows, total)} -- use log_softmax / cross_entropy "
            "on the logits"
        )
    if m.underflow.elements and (m.lost_mass.max or 0.0) > th.lost_mass:
        warn.append(
            f"{where}: {_n(m.underflow.elements, 'probability', 'probabilities')} representable in {fmt.name} "
            f"underflow to 0 in {_rows(m.underflow.rows, total)} (lost mass up to "
            f"{m.lost_mass.max:.3g}) -- work in the log domain or a wider format"
        )
    if m.argmax_flips.rows:
        warn.append(
            f"{where}: argmax differs from the exact one in {_rows(m.argmax_flips.rows, total)} "
            "-- compute the softmax in a wider format"
        )
    limit = 2.0 ** (th.normwise_bits * fmt.t)
    if m.error.normwise_u is not None and m.error.normwise_u > limit:
        warn.append(
            f"{where}: normwise error {m.error.normwise_u:.3g}u exceeds {limit:.3g}u "
            f"(over {th.normwise_bits:.0%} of the {fmt.t} significand bits lost) "
            + (
                "-- use max-shifted or log-domain softmax, or a wider format"
                if method in ("naive", "lse-direct")
                else "-- compute in a wider format"
            )
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
LOG_ROUTE_FIX = "use log_softmax / cross_entropy on logits instead of log(softmax)"


def gradient_reasons(
    where: str, method: str, fmt: FloatFormat, g: GradientMetrics
) -> tuple[list[str], list[str]]:
    """(FAIL, WARN) sentences of a cell's cross-entropy gradient metrics (docs/design.md §5)."""
    from smcheck.methods import METHODS

    total = g.rows_checked
    m = METHODS.get(method)
    wider = WIDER.get(fmt.name)
    curb = "curb over-confident logits (label smoothing, a higher temperature)"
    if m is not None and m.log_route == "log(p)":
        fix = dead_fix = LOG_ROUTE_FIX
    elif wider:
        fix = dead_fix = f"compute the loss in {wider}"
    else:  # float64 log-softmax: only extreme logits break it, or p[t] rounding to 1
        fix, dead_fix = "check the scale of the logits", curb
    fail: list[str] = []
    warn: list[str] = []
    if g.loss_inf.rows:
        fail.append(
            f"{where}: the cross-entropy loss is infinite in {_rows(g.loss_inf.rows, total)} "
            f"although the exact loss is finite -- {fix}"
        )
    if g.loss_nan.rows:
        rows = _rows(g.loss_nan.rows, total)
        fail.append(f"{where}: the cross-entropy loss is NaN in {rows} -- {fix}")
    if g.nan.elements:
        why = " (d log(p)/dp = 0/0 where p is 0, at a mask too)" if fix == LOG_ROUTE_FIX else ""
        fail.append(
            f"{where}: {_are(g.nan.elements, 'gradient element')} NaN in "
            f"{_rows(g.nan.rows, total)}{why} -- {fix}"
        )
    if g.dead.elements:
        gone = ""
        if g.vanished_rows:
            gone = f"; the whole gradient vanished in {_rows(g.vanished_rows, total)}"
        warn.append(
            f"{where}: {_are(g.dead.elements, 'gradient element')} exactly 0 where the exact "
            f"gradient is representable in {fmt.name}, in {_rows(g.dead.rows, total)}{gone} "
            f"-- {dead_fix}"
        )
    if g.saturated_rows:
        warn.append(
            f"{where}: the top probability rounds to 1 in {fmt.name} in "
            f"{_rows(g.saturated_rows, total)}, so the softmax Jacobian is 0 there -- "
            + (f"compute the softmax and loss in {wider}, or {curb}" if wider else curb)
        )
    return fail, warn


def _are(n: int, word: str) -> str:
    return f"{_n(n, word)} {'is' if n == 1 else 'are'}"
