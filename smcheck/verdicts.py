"""Verdicts: OK / WARN / FAIL for a cell, with one plain sentence per finding naming the remedy."""

from __future__ import annotations

from smcheck.boundcheck import bound_reasons
from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.report.model import Accumulation, BoundCheck, CellMetrics, Verdict


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
    # the root cause (a stall, a violated bound, whose fault the error is) leads the warnings
    warn = bound_reasons(where, method, bounds, accumulation, fmt, total) + warn
    if fail:
        return Verdict.FAIL, fail + warn
    if warn:
        return Verdict.WARN, warn
    return Verdict.OK, []
