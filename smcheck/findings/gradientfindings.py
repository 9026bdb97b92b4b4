"""A cell's cross-entropy findings (docs/design.md §5): infinite and NaN losses, NaN and dead
gradient elements, and saturation, with what the gradient loses against the materiality limit
``Thresholds.gradient_abs_u`` u."""

from __future__ import annotations

from smcheck.config import Thresholds
from smcheck.dtypes import FloatFormat
from smcheck.findings.cellfindings import CellFindings
from smcheck.findings.situation import takes_log_of_p
from smcheck.report.model import CellMetrics, GradientMetrics
from smcheck.report.phrases import plural, rows_of, verb

_ZERO_P_NAN = (
    ": the backward multiplies its 1/p = inf by 0, giving NaN, which the row sum spreads to the row"
)
"""How a p of 0 makes the log(p) route's gradient NaN, said where it is the only cause: at a
non-target entry log's backward takes its upstream 0 times 1/p = inf; at the target the
division's backward takes -1/p = -inf times that entry's exp, 0; the row sum feeds every
element (checked with torch autograd on float16 rows)."""


def gradient_findings(
    found: CellFindings, fmt: FloatFormat, g: GradientMetrics, th: Thresholds, has_masks: bool
) -> None:
    """The findings of a cell's cross-entropy gradient metrics (docs/design.md §5).

    Dead elements matter only where what the format loses of the gradient (entries in
    [-1, 1]) exceeds ``th.gradient_abs_u`` u (saturation: :func:`saturation_finding`).
    """
    total = g.rows_checked
    limit = th.gradient_abs_u * fmt.u
    dead_material = g.dead_max is None or g.dead_max > limit
    log_of_p = takes_log_of_p(found.method)
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
        said = _nan_gradient_causes(g, log_of_p, has_masks)
        found.fail(
            "gradient-nan",
            f"{_are(g.nan.elements, 'gradient element')} NaN in {rows_of(g.nan.rows, total)}"
            + _nan_gradient_text(said, g.nan.rows),
            why="; ".join(what for _, what, _ in said),
        )
    if g.dead.elements:
        gone = ""
        if g.vanished_rows:
            gone = f"; the whole gradient vanished in {rows_of(g.vanished_rows, total)}"
        found.warn(
            "dead-gradient",
            f"{_are(g.dead.elements, 'gradient element')} exactly 0 where the exact gradient is "
            f"representable in {fmt.name}, in {rows_of(g.dead.rows, total)}{gone}"
            + _lost(g.dead_max, th, fmt, dead_material),
            material=dead_material,
        )


def saturation_finding(
    found: CellFindings,
    fmt: FloatFormat,
    m: CellMetrics,
    th: Thresholds,
    g: GradientMetrics | None,
) -> None:
    """Rows whose exact top probability rounds to 1 in the format, with gradients or without:
    a property of the probabilities (what the method returned does not change it). It matters
    only where what it costs the gradient, 1 - p_max <= u/2, exceeds ``th.gradient_abs_u`` u;
    where no gradient was taken (``g`` None) it says what the probabilities lose instead."""
    rows = m.saturated.rows if m.saturated is not None else 0
    if not rows:
        return
    limit = th.gradient_abs_u * fmt.u
    material = fmt.u / 2 > limit  # a top probability rounds to 1 iff 1 - p <= u/2
    why = ""
    if g is None:  # p_max = 1 is p_max correctly rounded; a confidence taken from it reads 1
        half = f"1 - p_max <= u/2 = {fmt.u / 2:.3g}"
        said = f" ({half}, within p_max's rounding: it reads as certain)"
    else:
        said, why = _saturated_gradient(g, rows, fmt, th, material)
    found.warn(
        "saturation",
        f"the top probability rounds to 1 in {fmt.name} in {rows_of(rows, m.rows_checked)}: "
        f"stored in {fmt.name} it reads 1, and 1 - p_max is lost there" + said,
        material=material,
        why=why,
    )


def _saturated_gradient(
    g: GradientMetrics, rows: int, fmt: FloatFormat, th: Thresholds, material: bool
) -> tuple[str, str]:
    """What saturation costs the saturated rows' gradient, and the finding's origin
    (``Finding.why``: ``NaN gradient`` where some rows' gradient is NaN, so a grouped line joins
    only cells of which the same is true): `` (saturation costs the gradient at most 1 - p_max
    <= u/2 = 2.98e-08 at the top class there, under the 4u = 2.38e-07 that matters)``;
    `` (the gradient is NaN there)``; both by rows.

    g = p - onehot, and p_max read as 1 moves only the top class's entry, by 1 - p_max <= u/2:
    that is all saturation can cost. A computed gradient off by more is off by its method's own
    rounding (naive bfloat16's 1.0078 for an exact 0.9993, whose 1 - p_max is 0.0007), the
    gradient findings' to report where it matters (dead-gradient), not saturation's."""
    finite = rows - g.saturated_nan_rows
    bound = "can cost the gradient up to" if material else "costs the gradient at most"
    versus = _versus(th, fmt, material)
    costs = f"saturation {bound} 1 - p_max <= u/2 = {fmt.u / 2:.3g} at the top class"
    if not g.saturated_nan_rows:
        return f" ({costs} there, {versus})", ""
    if not finite:
        return " (the gradient is NaN there)", "NaN gradient"
    nan = plural(g.saturated_nan_rows, "row")
    return f" ({costs} in {plural(finite, 'row')}, {versus}; the gradient is NaN in {nan})", (
        "NaN gradient"
    )


def _versus(th: Thresholds, fmt: FloatFormat, material: bool) -> str:
    """``under the 4u = 2.38e-07 that matters``: the materiality limit a loss is judged by."""
    limit = th.gradient_abs_u * fmt.u
    side = "over" if material else "under"
    return f"{side} the {th.gradient_abs_u:g}u = {limit:.3g} that matters"


def _lost(lost: float | None, th: Thresholds, fmt: FloatFormat, material: bool) -> str:
    """Why a dead-gradient finding is a NOTE or a WARN: what the gradient loses, ``lost``, the
    worst dead element's loss, against the materiality limit ``th.gradient_abs_u`` u.

    A NOTE holds for every element: `` (the gradient loses at most 2.98e-08 there, under the
    4u = 4.77e-07 that matters)``. A WARN's worst need not be every element's (2 of mnist's 40
    dead float16 elements lose more than 4u): `` (the gradient loses up to 0.00315 in the worst
    of them, over the 4u = 0.00195 that matters)``.
    """
    if lost is None:
        return ""
    if not material:
        return f" (the gradient loses at most {lost:.3g} there, {_versus(th, fmt, False)})"
    return f" (the gradient loses up to {lost:.3g} in the worst of them, {_versus(th, fmt, True)})"


def _nan_gradient_causes(
    g: GradientMetrics, log_of_p: bool, has_masks: bool
) -> list[tuple[int, str, str]]:
    """Where the NaN gradients come from: (rows, what, how it gives NaN when it is the only
    cause) for each part that explains some rows."""
    # 1/p is infinite at p = 0 only along the log(p) route; log_softmax's backward has none
    zero = g.nan_zero_rows if log_of_p else 0
    at_mask = ", at a mask too" if has_masks else ""
    parts = [  # (rows, what, how it gives NaN when it is the only cause)
        (g.nan_loss_rows, "the loss is NaN", " there"),
        (zero, f"log(p) at p = 0{at_mask}", _ZERO_P_NAN),
        (g.nan.rows - g.nan_loss_rows - zero, "an inf or 0/0 inside the backward pass", ""),
    ]
    return [part for part in parts if part[0]]


def _nan_gradient_text(said: list[tuple[int, str, str]], rows: int) -> str:
    """`` (the loss is NaN in 4 rows; log(p) at p = 0 in 2 rows)``: the parts of
    :func:`_nan_gradient_causes` by rows; one part alone, covering all ``rows``, says how."""
    if not said:
        return ""
    if len(said) == 1 and said[0][0] == rows:
        return f" ({said[0][1]}{said[0][2]})"
    return " (" + "; ".join(f"{what} in {plural(n, 'row')}" for n, what, _ in said) + ")"


def _are(n: int, word: str) -> str:
    return f"{plural(n, word)} {verb(n, 'is', 'are')}"
