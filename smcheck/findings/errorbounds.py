"""Findings of the error-bound check and the accumulation stall: warnings and notes."""

from __future__ import annotations

from smcheck.dtypes import FloatFormat
from smcheck.findings import remedies
from smcheck.report.model import Accumulation, BoundCheck
from smcheck.report.phrases import row_index


def stall_notes(row_length: int, fmts: list[FloatFormat]) -> list[str]:
    """A predictive note per format whose stall length the rows reach (any model).

    Args:
        row_length: Elements per softmax row.
        fmts: The formats analysed.

    Returns:
        No note, or one naming every format whose stall length the rows reach.
    """
    reached = [f for f in fmts if row_length >= f.sum_stall]
    if not reached:
        return []
    which = ", ".join(f"{f.sum_stall} in {f.name}" for f in reached)
    return [
        f"rows of {row_length} elements reach the accumulation stall length ({which}): a "
        "running sum of comparable terms kept in that format stops growing there; PyTorch "
        "accumulates 16-bit sums in float32, a kernel summing in the format does not "
        "(--model strict shows it)"
    ]


def bound_reasons(
    where: str,
    method: str,
    bounds: BoundCheck | None,
    acc: Accumulation | None,
    fmt: FloatFormat,
    total: int,
) -> list[str]:
    """WARN sentences, root cause first: a violated bound, a stalled sum, whose fault it is.

    Args:
        where: The cell as the sentences name it (``naive float16 at T=2``).
        method: The method's name, which picks the remedy.
        bounds: The cell's error-bound check (None: not analysed).
        acc: The strict model's accumulation stall (None: not measured).
        fmt: The cell's format.
        total: Rows the method was judged on.

    Returns:
        Zero to three sentences.
    """
    out: list[str] = []
    if bounds is not None and bounds.reading == "implementation":
        out.append(
            f"{where}: the error exceeds the rounding-error bound {bounds.bound} of "
            f"Blanchard, Higham & Higham (2021) in {bounds.violations.rows}/{total} rows "
            f"(row {row_index(bounds.violations.worst_row)}: {bounds.max_ratio.max:.3g}x) -- "
            "the implementation, not the input, is at fault"
        )
    if acc is not None and acc.stalled.rows:
        out.append(
            f"{where}: the running {fmt.name} sum stalled in {acc.stalled.rows}/{total} rows: up "
            f"to {acc.max_absorbed.max:.1%} of a row's mass was added to a sum too large to "
            f"change (a sequential {fmt.name} sum of equal terms stops at {acc.stall_length}) -- "
            f"{remedies.SUM_IN_FLOAT32_OR_PAIRWISE}"
        )
    w = bounds.worst if bounds is not None else None
    if bounds is None or w is None or bounds.reading not in ("input", "algorithm"):
        return out
    remedy = remedies.BY_METHOD.get(method, remedies.USE_WIDER)
    if bounds.reading == "input":
        out.append(
            f"{where}: row {row_index(w.row)} is ill-conditioned (condition number "
            f"{w.cond:.3g}): its error {w.error_u:.3g}u is no more than one rounding of its "
            "logits causes -- the input, not the algorithm, limits the accuracy; "
            f"{remedies.USE_WIDER}"
        )
    elif w.bound_u is None:
        out.append(
            f"{where}: on row {row_index(w.row)} (error {w.error_u:.3g}u) the rounding-error "
            f"bound of {method} is vacuous ({w.first_order_u:.3g}u to first order, against "
            f"1/u = {2**fmt.t}) -- the algorithm guarantees nothing there; {remedy}"
        )
    else:
        out.append(
            f"{where}: row {row_index(w.row)}'s error {w.error_u:.3g}u is within its bound "
            f"{w.bound_u:.3g}u but far above its condition number {w.cond:.3g} -- the "
            f"algorithm, not the input, loses the accuracy; {remedy}"
        )
    return out
