"""Findings of the error-bound check and the accumulation stall: warnings and notes."""

from __future__ import annotations

from smcheck.dtypes import FloatFormat
from smcheck.findings.remedies import finding
from smcheck.report.model import Accumulation, BoundCheck, Finding
from smcheck.report.phrases import row_index, rows_of


def stall_notes(row_length: int, fmts: list[FloatFormat], live: int | None = None) -> list[str]:
    """A predictive note per format whose stall length the rows' live entries reach (any model).

    Args:
        row_length: Elements per softmax row.
        fmts: The formats analysed.
        live: The most live entries in a judged row (None: every element): -inf and mask
            sentinels add zeros to a sum, so 500 -inf beside 100 logits cannot stall it.

    Returns:
        No note, or one naming every format whose stall length the rows reach.
    """
    live = row_length if live is None else live
    reached = [f for f in fmts if live >= f.sum_stall]
    if not reached:
        return []
    which = ", ".join(f"{f.sum_stall} in {f.name}" for f in reached)
    rows = f"rows of {row_length} elements"
    if live < row_length:
        rows += f" (up to {live} of them live, the rest masks)"
    return [
        f"{rows} reach the accumulation stall length ({which}): a "
        "running sum of comparable terms kept in that format stops growing there; PyTorch "
        "accumulates 16-bit sums in float32, a kernel summing in the format does not "
        "(--model strict measures whether these rows do)"
    ]


def bound_findings(
    method: str,
    bounds: BoundCheck | None,
    acc: Accumulation | None,
    fmt: FloatFormat,
    total: int,
) -> list[Finding]:
    """WARN findings, root cause first: a violated bound, a stalled sum, whose fault it is.

    Args:
        method: The method's name, which picks the remedy.
        bounds: The cell's error-bound check (None: not analysed).
        acc: The strict model's accumulation stall (None: not measured).
        fmt: The cell's format.
        total: Rows the method was judged on.

    Returns:
        Zero to three findings.
    """
    out: list[Finding] = []

    def warn(cause: str, message: str) -> None:
        out.append(finding(cause, "WARN", message, method, fmt.name))

    if bounds is not None and bounds.reading == "implementation":
        warn(
            "bound-violated",
            f"the error exceeds the rounding-error bound {bounds.bound} of Blanchard, Higham & "
            f"Higham (2021) in {rows_of(bounds.violations.rows, total)} (row "
            f"{row_index(bounds.violations.worst_row)}: {bounds.max_ratio.max:.3g}x): the "
            "implementation, not the input, is at fault",
        )
    if acc is not None and acc.stalled.rows:
        warn(
            "stall",
            f"the running {fmt.name} sum stalled in {rows_of(acc.stalled.rows, total)}: up to "
            f"{acc.max_absorbed.max:.1%} of a row's mass was added to a sum too large to change "
            f"(a sequential {fmt.name} sum of equal terms stops at {acc.stall_length})",
        )
    w = bounds.worst if bounds is not None else None
    if bounds is None or w is None or bounds.reading not in ("input", "algorithm"):
        return out
    if bounds.reading == "input":
        warn(
            "ill-conditioned",
            f"row {row_index(w.row)} is ill-conditioned (condition number {w.cond:.3g}): its "
            f"error {w.error_u:.3g}u is no more than one rounding of its logits causes; the "
            "input, not the algorithm, limits the accuracy",
        )
    elif w.bound_u is None:
        warn(
            "vacuous-bound",
            f"on row {row_index(w.row)} (error {w.error_u:.3g}u) the rounding-error bound of "
            f"{method} is vacuous (it reaches 1/u = {2**fmt.t}, a normwise error of 1; "
            f"{w.first_order_u:.3g}u to first order): the algorithm guarantees nothing there",
        )
    else:
        warn(
            "algorithm-error",
            f"row {row_index(w.row)}'s error {w.error_u:.3g}u is within its bound "
            f"{w.bound_u:.3g}u but far above its condition number {w.cond:.3g}: the algorithm, "
            "not the input, loses the accuracy",
        )
    return out
