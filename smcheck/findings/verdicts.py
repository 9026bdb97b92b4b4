"""Verdicts: OK / WARN / FAIL for a cell, with one finding per reason naming the remedy.

A cell's verdict counts only what its use judges (docs/design.md §4): every finding is kept, but
one the use does not judge, or one below its materiality threshold, is a NOTE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.findings.cellfindings import CellFindings, judged
from smcheck.findings.errorbounds import bound_findings
from smcheck.findings.gradientfindings import gradient_findings, saturation_finding
from smcheck.findings.situation import takes_log_of_p
from smcheck.report.model import (
    Accumulation,
    BoundCheck,
    CellMetrics,
    Finding,
    GradientMetrics,
    Verdict,
)
from smcheck.report.phrases import (
    first_of,
    overflow_limit,
    plural,
    row_index,
    rows_of,
    softmax_input,
    verb,
)

MASKED_NAN = "fully masked row"
"""The NaN cause of a row whose finite logits the format or T turned entirely into -inf."""


@dataclass(frozen=True)
class MaskedNaN:
    """NaN a method returned for rows with finite source logits that are fully masked in a cell."""

    elements: int
    rows: int
    first_row: tuple[int, ...] | None
    why: str
    """What masked them: ``-1e9 rounds to -inf in float16``."""
    masks: bool
    """The rows are of mask sentinels only (True) or hold logits (False)."""


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
    use: str = "loss",
    masked: Sequence[MaskedNaN] = (),
    has_masks: bool = False,
    softmin: bool = False,
) -> tuple[Verdict, list[Finding]]:
    """The verdict of one cell and the findings that justify it (most severe first, NOTEs last).

    ``m.nan`` counts ``masked``'s NaN too (cause :data:`MASKED_NAN`); they are findings of their
    own, ``masked-row-nan``, one for rows of masks and one for rows of logits. ``has_masks``:
    the source holds -inf or sentinel masks. ``softmin``: the cell is softmax(-x), so limits on
    its input are limits on -x.
    """
    found = CellFindings(method, fmt.name, use)
    total = m.rows_checked
    _overflow_findings(found, fmt, temperature, m, softmin)
    _nan_findings(found, m, masked, softmin)
    if m.log_of_zero.elements:
        route = "log(softmax)" if takes_log_of_p(method) else "log_softmax"
        found.fail(
            "log-of-zero",
            f"{route} gives -inf for {plural(m.log_of_zero.elements, 'log-probability')} "
            f"whose exact value is finite, in {rows_of(m.log_of_zero.rows, total)}",
            why=route,
        )
    if m.underflow.elements:
        material = (m.lost_mass.max or 0.0) > th.lost_mass_limit(fmt.u)
        found.warn(
            "underflow",
            f"{plural(m.underflow.elements, 'probability')} representable in {fmt.name} "
            f"{verb(m.underflow.elements, 'underflows', 'underflow')} to 0 in "
            f"{rows_of(m.underflow.rows, total)} (lost mass up to {m.lost_mass.max:.3g})",
            material=material,
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
    _log_error_finding(found, fmt, m, th, limit)
    if gradient is not None:
        gradient_findings(found, fmt, gradient, th, has_masks)
    saturation_finding(found, fmt, m, th, gradient)
    # the root cause (a stall, a violated bound, whose fault the error is) leads the warnings
    found.warnings[:0] = bound_findings(method, bounds, accumulation, fmt, total)
    if found.failures:
        return Verdict.FAIL, found.failures + found.warnings + found.notes
    if found.warnings:
        return Verdict.WARN, found.warnings + found.notes
    return Verdict.OK, found.notes


def _overflow_findings(
    found: CellFindings, fmt: FloatFormat, temperature: float, m: CellMetrics, softmin: bool
) -> None:
    """The overflows, first to last step: the cast to the format, x/T, exp, the row sum.

    Under softmin the limits bound -x: the logits past them are below the limits negated.
    """
    total, cast = m.rows_checked, m.cast_overflow
    if cast.elements:
        n, rows = cast.elements, cast.rows
        # softmin's -x is exact: a logit the cast turns into -inf is a +inf of -x
        past = f"at or {_beyond(format(-fmt.neg_overflow, '.9g'), softmin)} "
        into = "-inf" if softmin else "+inf"
        found.fail(
            "cast-overflow",
            f"{plural(n, 'logit')} {past}{verb(n, 'becomes', 'become')} {into} in {fmt.name}"
            f"{', +inf in -x' if softmin else ''}, in {plural(rows, 'row')} "
            f"({first_of(rows, cast.worst_row, 'worst row')}), where no softmax is finite "
            f"(inf - inf, inf/inf); {verb(rows, 'it is', 'they are')} kept out of the other "
            "metrics",
        )
    if m.temperature_overflow.elements:
        found.fail(
            "temperature-overflow",
            f"dividing the logits by T={temperature:g} overflows {fmt.name} in "
            f"{rows_of(m.temperature_overflow.rows, total)}",
        )
    if m.exp_overflow.elements:
        limit = overflow_limit(fmt.exp_overflow_x)  # rounded up: every x above it overflows
        divided = temperature != 1
        x = softmax_input(divided=divided, softmin=softmin)
        # -x above the limit is a logit below its negation: say which logits those are
        logits = f" ({softmax_input(divided=divided, softmin=False)} {_beyond(limit, True)})"
        found.fail(
            "exp-overflow",
            f"exp overflows for {x} {_beyond(limit, False)}{logits if softmin else ''} in "
            f"{rows_of(m.exp_overflow.rows, total)} ({plural(m.exp_overflow.elements, 'element')})",
        )
    if m.sum_overflow.rows:  # naive: a logsumexp past the limit; any method: a long enough row
        found.fail(
            "sum-overflow",
            f"the sum of exp overflows in {rows_of(m.sum_overflow.rows, total)} whose every exp "
            "is finite",
        )


def _beyond(limit: str, softmin: bool) -> str:
    """``above 11.0902``: logits past an upper ``limit`` (as shown) of the softmax's input; under
    softmin, whose input is -x, the logits past it are those ``below -11.0902``."""
    return f"below -{limit}" if softmin else f"above {limit}"


def _nan_findings(
    found: CellFindings, m: CellMetrics, masked: Sequence[MaskedNaN], softmin: bool
) -> None:
    """The NaN findings: rows only the format or T masked fully (rows of -x under softmin), of
    logits and of masks apart, then the rest."""
    total = m.rows_checked
    for mk in masked:
        rows = plural(mk.rows, "row") + (" of -x" if softmin else "")
        found.fail(
            "masked-row-nan",
            # no method name: a grouped line joins the methods whose output this is
            f"{mk.why}; the output is NaN for {rows} entirely -inf there "
            f"({first_of(mk.rows, mk.first_row, 'first row')})",
            why=mk.why,
            masks=mk.masks,
        )
    nan_elements = m.nan.elements - sum(mk.elements for mk in masked)
    if nan_elements:
        nan_rows = m.nan.rows - sum(mk.rows for mk in masked)
        causes = {k: v for k, v in sorted(m.nan.causes.items()) if k != MASKED_NAN}
        counts = ", ".join(f"{k}: {v}" for k, v in causes.items())
        found.fail(
            "probability-nan",
            f"{plural(nan_elements, 'probability')} NaN in {rows_of(nan_rows, total)} ({counts})",
            why=", ".join(causes),
        )


def _log_error_finding(
    found: CellFindings, fmt: FloatFormat, m: CellMetrics, th: Thresholds, half: float
) -> None:
    """The error of the finite log-probabilities in nats (docs/design.md §4), against u times
    the larger of ``half`` = 2^(t/2) (the normwise rule's limit: an error of d nats in log p is
    a relative error d of p, and a row's sum of n exponentials may err by up to n u) and
    ``th.log_abs_u`` times the cell's deepest |log p| (storing log p costs up to u|log p|).

    A NOTE where the error is large only in ulps of a log p near 0 (torch float16 log_softmax
    gives 0 for -1.8524e-4: 1554 ulps, 1.9e-4 nats), written where log-probabilities are judged.
    """
    le = m.log_error
    if le is None or le.max_abs is None or le.max_ulp is None:
        return
    room = m.headroom.underflow_nats
    deepest = 1.0 if room is None else max(1.0, -(room + fmt.log_zero))
    limit = fmt.u * max(half, th.log_abs_u * deepest)
    material = le.max_abs > limit
    # large only in ulps of a log p near 0: worth a note where log-probabilities are judged
    if not material and not (judged("log-error", found.use) and le.max_ulp > half):
        return
    within = "over" if material else "within"
    if th.log_abs_u * deepest >= half:
        why = f"{th.log_abs_u:g}u × the deepest |log p| {deepest:.3g}"
    else:
        why = f"{half:.3g}u, half the significand"
    found.warn(
        "log-error",
        f"log-probabilities are off by up to {le.max_abs:.3g} nats{_in_row(le.max_abs_row)}, "
        f"{within} {limit:.3g} nats = {why} (and by up to {le.max_ulp:.4g} ulp"
        f"{_in_row(le.worst_row)})",
        material=material,
    )


def _in_row(row: tuple[int, ...] | None) -> str:
    return "" if not row else f" in row {row_index(row)}"  # a 1-D source's one row: ()
