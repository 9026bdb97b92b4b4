"""The finding of a critical temperature: why a method fails below it, and the remedy."""

from __future__ import annotations

import math
from typing import NamedTuple

from smcheck.dtypes import next_wider, next_wider_range
from smcheck.findings import remedies
from smcheck.findings.situation import Situation
from smcheck.report.phrases import bisected_t, logit_inf, softmax_input

SHIFTS = ("shifted", "torch")
"""The methods naive's remedy names (:data:`~smcheck.findings.remedies.MAX_SHIFTED`)."""


class ShiftLimit(NamedTuple):
    """Where naive's remedy, the shift (or torch.softmax), fails in turn in the same format."""

    t: float
    """Its lowest safe T, unrounded (inf: unsafe at every scanned T)."""
    remedy: str
    """What it needs below ``t`` (:func:`remedy_below` of its cell)."""


class Ceiling(NamedTuple):
    """Where a method fails again above its safe range (the scan's top fails, a lower T not)."""

    t: float
    """Its largest safe T, unrounded."""
    causes: list[str]
    """What fails just above ``t``."""


def advice(
    method: str,
    dtype: str,
    causes: list[str],
    t: float | None,
    wider: str | None = None,
    *,
    rel_tol: float,
    softmin: bool = False,
    largest: float | None = None,
    lowest_t: float | None = None,
    mask_row: bool = False,
    mask_lowest: float | None = None,
    shift: ShiftLimit | None = None,
    ceiling: Ceiling | None = None,
) -> str:
    """One sentence: why the method fails just below ``t`` (inf: at every T) and the remedy,
    then why it fails above ``ceiling`` and that remedy.

    Args:
        method: The method's name.
        dtype: The format's name.
        causes: What fails just below ``t``: cast_overflow or cast_masked (at every T),
            temperature_zero (T rounds to 0 where torch divides: x/T is inf or NaN),
            temperature_overflow,
            exp_overflow, sum_overflow, nan (as in
            :class:`~smcheck.report.model.CriticalTemperature`).
        t: The lowest safe temperature; inf when no scanned T is safe; None when the method is
            safe down to the scan's bottom (then ``ceiling`` is not None).
        wider: for cast_overflow, the narrowest wider format whose cast does not overflow.
        rel_tol: the bisection's tolerance on ``t``: the sentence gives ``t`` to the digits it
            supports, rounded up (:func:`~smcheck.report.phrases.bisected_t`), as the safe T
            to clamp to; where it fails is "below T≈" that figure, which may be safe just
            below it (the exact edge is up to ``rel_tol`` lower).
        softmin, largest, lowest_t, mask_row, mask_lowest: as :func:`remedy_below`.
        shift: for naive, where the shift it is sent to fails in turn within the scan (None:
            it does not): the remedy names that T and what the shift needs below it.
        ceiling: where the method fails again above its safe range, within the scan.

    Returns:
        ``"<method> <dtype>: below T≈... <what fails> -- <remedy>"``, then ``"; above T≈...
        <what fails> -- <remedy>"`` for a ceiling.
    """
    if "cast_overflow" in causes:  # before any T: no temperature brings +inf back
        cast = softmax_input(divided=False, softmin=softmin)
        return (
            f"{method} {dtype}: at every T the cast to {dtype} turns {cast} into +inf -- "
            f"{remedies.softmax_in(wider or next_wider(dtype) or 'float64')}"
        )
    keys = {"lowest_t": lowest_t, "mask_row": mask_row, "mask_lowest": mask_lowest}
    if "cast_masked" in causes:  # before any T: -inf / T is -inf
        every = "every mask of a row" if mask_row else "every logit of a row"
        into = logit_inf("-inf", softmin)
        fix = _masked_row(method, dtype, softmin, lowest_t, mask_row, mask_lowest)
        return (
            f"{method} {dtype}: at every T the cast to {dtype} turns {every} into {into} -- {fix}"
        )
    said = []
    if t is not None:
        fix = remedy_below(method, dtype, causes, softmin=softmin, largest=largest, **keys)
        said.append(_below(method, dtype, causes, t, fix, rel_tol, softmin, mask_row, shift))
    if ceiling is not None:
        said.append(_above(method, dtype, ceiling, rel_tol, softmin))
    return f"{method} {dtype}: " + "; ".join(said)


def _below(
    method: str,
    dtype: str,
    causes: list[str],
    t: float,
    fix: str,
    rel_tol: float,
    softmin: bool,
    mask_row: bool,
    shift: ShiftLimit | None,
) -> str:
    """``below T≈0.998 exp(x/T) overflows float16 -- <fix>, or clamp T to >= 0.998``: the
    figure is the safe end rounded up, so T just below it may be safe too (hence ≈)."""
    shown = bisected_t(t, rel_tol, up=True) if math.isfinite(t) else None
    where = f"below T≈{shown}" if shown else "at every scanned T"
    # a long row's sum overflows at every T alike: no T to clamp to
    summed = "sum_overflow" in causes and method != "naive" and "temperature_overflow" not in causes
    fix += "" if summed else remedies.clamp_t(shown)
    if fix.startswith(remedies.MAX_SHIFTED) and shift is not None:
        fix += _shift_fails(shift, rel_tol)
    fails = _failure(method, dtype, causes, softmin=softmin, mask_row=mask_row)
    return f"{where} {fails} -- {fix}"


def _above(method: str, dtype: str, ceiling: Ceiling, rel_tol: float, softmin: bool) -> str:
    """``above T≈64.3 the sum of exponentials overflows float16 (...) -- accumulate the sum in
    float32 or use torch.softmax, or clamp T to <= 64.3``: the safe end rounded down."""
    shown = bisected_t(ceiling.t, rel_tol, up=False)
    fails = _failure(method, dtype, ceiling.causes, softmin=softmin, mask_row=False)
    # at high T every exp(x/T) nears 1: the row's length overflows the sum, shifted or not
    if "sum_overflow" in ceiling.causes:
        fix = remedies.SUM_OR_TORCH
    else:
        fix = remedy_below(method, dtype, ceiling.causes, softmin=softmin)
    return f"above T≈{shown} {fails} -- {fix}{remedies.clamp_t(shown, at_most=True)}"


def _failure(method: str, dtype: str, causes: list[str], *, softmin: bool, mask_row: bool) -> str:
    """What fails just below a critical T (``causes``: its witness row's)."""
    x = softmax_input(divided=True, softmin=softmin)
    if "temperature_zero" in causes:
        return f"T rounds to 0 in float32, the type torch divides {dtype} in: {x} is inf or NaN"
    if "temperature_overflow" in causes:
        return f"dividing the logits by T overflows {dtype}"
    if method == "naive" and ("exp_overflow" in causes or "sum_overflow" in causes):
        what = f"exp({x})" if "exp_overflow" in causes else f"the sum of exp({x})"
        return f"{what} overflows {dtype}"
    if "sum_overflow" in causes:
        return f"the sum of exponentials overflows {dtype} (a long row of similar logits)"
    if method == "naive":
        return f"every exp({x}) of a row underflows to 0 (0/0)"
    if mask_row:  # as the cells' masked-row-nan says; softmin's masks are +inf, -inf in -x
        neg = f" (-inf in {softmax_input(divided=False, softmin=True)})" if softmin else ""
        into = logit_inf("-inf", softmin)
        return f"every mask of a row is {into} in {dtype} once divided by T{neg}: NaN (inf - inf)"
    return "a whole row divides to -inf (inf - inf)"


def remedy_below(
    method: str,
    dtype: str,
    causes: list[str],
    *,
    softmin: bool = False,
    largest: float | None = None,
    lowest_t: float | None = None,
    mask_row: bool = False,
    mask_lowest: float | None = None,
) -> str:
    """The remedy of a method failing below a critical T for ``causes`` (no clamp), true at
    every T below it down to ``lowest_t``.

    Args:
        method, dtype, causes: as :func:`advice`.
        softmin: the softmax is of -x (the sentence names -x, -x/T).
        largest: the judged rows' largest logit (of -x under softmin), where known, and
        lowest_t: the lowest T the report shows (swept or scanned): for temperature_overflow,
            the format named to divide in holds ``largest / lowest_t``, so the remedy holds at
            every T the report shows; where no wider format does, the sentence says so.
        mask_row: the failing row holds only masks (sentinels): the remedy is the mask's, as
            the cells' masked-row-nan (centring a row of masks gives a uniform output over them),
        mask_lowest: the smallest row maximum of such rows, which a wider format named there
            must hold divided by ``lowest_t``.
    """
    if "temperature_zero" in causes:  # float64 takes T as it is
        return remedies.divide_in("float64")
    if "temperature_overflow" in causes:
        return _centre_or_divide(dtype, softmin, largest, lowest_t)
    if method == "naive":
        return remedies.MAX_SHIFTED
    if "sum_overflow" in causes:
        return remedies.SUM_OR_TORCH
    if mask_row:
        return _masked_row(method, dtype, softmin, lowest_t, True, mask_lowest)
    return remedies.centre_logits(softmin)


def _masked_row(
    method: str,
    dtype: str,
    softmin: bool,
    lowest_t: float | None,
    mask_row: bool,
    mask_lowest: float | None,
) -> str:
    """The cells' masked-row-nan remedy for a row entirely -inf, of masks only (``mask_row``)
    or of logits beyond the format's range."""
    # the scan goes below T = 1, where the format's min is -inf once divided too: the mask
    # goes on x/T (unknown lowest_t: so too)
    t = 0.0 if lowest_t is None else lowest_t
    lowest = None
    if mask_row and mask_lowest is not None and math.isfinite(mask_lowest):
        lowest = mask_lowest / min(t, 1.0) if t > 0 else None
    s = Situation(method, dtype, masked=mask_row, lowest=lowest, temperature=t, softmin=softmin)
    return remedies.remedy("masked-row-nan", s)


def _shift_fails(shift: ShiftLimit, rel_tol: float) -> str:
    """``; below T≈0.00611 they fail too: with them, <their remedy>``: the shift and
    torch.softmax hold only down to ``shift.t``."""
    if not math.isfinite(shift.t):
        return f"; they fail at every scanned T too: with them, {shift.remedy}"
    return f"; below T≈{bisected_t(shift.t, rel_tol, up=True)} they fail too: with them, " + (
        shift.remedy
    )


def _centre_or_divide(
    dtype: str, softmin: bool, largest: float | None, lowest_t: float | None
) -> str:
    """Centre the logits, or divide in the narrowest format with more range than ``dtype`` that
    holds ``largest / lowest_t`` (1e4 / 1e-36 is beyond float32 too); where none does, say so
    rather than name one that overflows at the lowest T."""
    top = None if largest is None or lowest_t is None else largest / lowest_t
    wider = next_wider_range(dtype, top)
    if wider is None and lowest_t is not None and next_wider_range(dtype) is not None:
        return remedies.centre_logits(softmin) + remedies.no_wider_holds(f"{lowest_t:g}", softmin)
    return remedies.centre_or_divide_in(wider, softmin)
