"""The finding of a critical temperature: why a method fails below it, and the remedy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from smcheck.dtypes import get_format, next_wider, next_wider_range
from smcheck.findings import remedies, remedytexts
from smcheck.findings.situation import Situation
from smcheck.report.phrases import bisected_t, logit_inf, softmax_input

TORCH_T_ZERO = 2.0**-150
"""T at or below which float32, where torch divides formats up to float32, rounds T to 0
(half the smallest subnormal: a tie goes to the even 0)."""

SHIFTS = {"shifted": "max-shifted softmax", "torch": "torch.softmax"}
"""The methods naive's remedy names (:data:`~smcheck.findings.remedytexts.MAX_SHIFTED`)."""


class Ceiling(NamedTuple):
    """Where a method fails again above its safe range (the scan's top fails, a lower T not)."""

    t: float
    """Its largest safe T, unrounded."""
    causes: list[str]
    """What fails just above ``t``."""


class ShiftLimit(NamedTuple):
    """Where one method naive's remedy names (:data:`SHIFTS`) fails in turn in the same format,
    from its own searches."""

    method: str
    t: float | None
    """Its lowest safe T, unrounded (inf: unsafe at every scanned T; None: safe down to the
    scan's bottom)."""
    remedy: str
    """What it needs below ``t`` (:func:`remedy_below` of its cell)."""
    causes: list[str]
    """What fails just below ``t`` (at the scan's top where ``t`` is inf)."""
    ceiling: Ceiling | None = None
    """Where it fails again above its safe range (None: safe up to the scan's top)."""


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
    log_read: bool = False,
    shifts: Sequence[ShiftLimit] = (),
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
        softmin, largest, lowest_t, mask_row, mask_lowest, log_read: as :func:`remedy_below`.
        shifts: for naive, where each method its remedy names fails in turn within the scan
            (its own searches): the remedy names those safe at some scanned T, and where each
            fails and what it needs there.
        ceiling: where the method fails again above its safe range, within the scan.

    Returns:
        ``"<method> <dtype>: below T≈... <what fails> -- <remedy>"``, then ``"; above T≈...
        <what fails> -- <remedy>"`` for a ceiling.
    """
    if "cast_overflow" in causes:  # before any T: no temperature brings +inf back
        cast = softmax_input(divided=False, softmin=softmin)
        return (
            f"{method} {dtype}: at every T the cast to {dtype} turns {cast} into +inf -- "
            f"{remedytexts.softmax_in(wider or next_wider(dtype) or 'float64')}"
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
        fix = remedy_below(
            method, dtype, causes, softmin=softmin, largest=largest, log_read=log_read, **keys
        )
        # the shifts' own limits follow the clamp: "use ..., or clamp T to >= 36.1; below ..."
        limits = ""
        if fix == remedytexts.MAX_SHIFTED and shifts:
            fix, limits = _shifts(shifts, dtype, rel_tol, softmin, log_read)
        said.append(_below(method, dtype, causes, t, fix, rel_tol, softmin, mask_row) + limits)
    if ceiling is not None:
        said.append(_above(method, dtype, ceiling, rel_tol, softmin, log_read))
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
) -> str:
    """``below T≈0.998 exp(x/T) overflows float16 -- <fix>, or clamp T to >= 0.998``: the
    figure is the safe end rounded up, so T just below it may be safe too (hence ≈)."""
    shown = bisected_t(t, rel_tol, up=True) if math.isfinite(t) else None
    # unsafe at every T: the witness is the scan's top; lower T may fail otherwise (a row that
    # overflows its sum at T = 1e3 divides to -inf at 1e-6)
    where = f"below T≈{shown}" if shown else "fails at every scanned T; at the scan's top"
    # a long row's sum overflows at every T alike: no T to clamp to
    summed = "sum_overflow" in causes and method != "naive" and "temperature_overflow" not in causes
    fix += "" if summed else remedytexts.clamp_t(shown)
    fails = _failure(method, dtype, causes, softmin=softmin, mask_row=mask_row)
    return f"{where} {fails} -- {fix}"


def _above(
    method: str, dtype: str, ceiling: Ceiling, rel_tol: float, softmin: bool, log_read: bool
) -> str:
    """``above T≈64.3 the sum of exponentials overflows float16 (...) -- accumulate the sum in
    float32 or use torch.softmax, or clamp T to <= 64.3``: the safe end rounded down."""
    shown = bisected_t(ceiling.t, rel_tol, up=False)
    fails = _failure(method, dtype, ceiling.causes, softmin=softmin, mask_row=False)
    fix = _ceiling_fix(method, dtype, ceiling.causes, softmin, log_read)
    return f"above T≈{shown} {fails} -- {fix}{remedytexts.clamp_t(shown, at_most=True)}"


def _ceiling_fix(method: str, dtype: str, causes: list[str], softmin: bool, log_read: bool) -> str:
    """The remedy above a method's safe range."""
    # at high T every exp(x/T) nears 1: the row's length overflows the sum, shifted or not
    if "sum_overflow" in causes:
        return _sum_fix(dtype, log_read)
    return remedy_below(method, dtype, causes, softmin=softmin)


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
    log_read: bool = False,
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
        log_read: the report judges torch's cells from its log_softmax (use logprobs or loss),
            which rounds its 16-bit row sum to the format: a sum overflow is not sent to torch.
    """
    if "temperature_zero" in causes:  # float64 takes T as it is
        return remedytexts.divide_in("float64")
    if "temperature_overflow" in causes:
        return _centre_or_divide(dtype, softmin, largest, lowest_t)
    if method == "naive":
        return remedytexts.MAX_SHIFTED
    if "sum_overflow" in causes:
        return _sum_fix(dtype, log_read)
    if mask_row:
        return _masked_row(method, dtype, softmin, lowest_t, True, mask_lowest)
    return remedytexts.centre_logits(softmin)


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


def _shifts(
    shifts: Sequence[ShiftLimit], dtype: str, rel_tol: float, softmin: bool, log_read: bool
) -> tuple[str, str]:
    """``use max-shifted softmax or torch.softmax`` and ``; below T≈0.00611 they fail too: with
    them, <their remedy>; above T≈180 max-shifted softmax fails too: with it, <its remedy>``:
    each named only where it is safe at some scanned T, each edge from its own searches."""
    if log_read and get_format(dtype).t < 24:
        shifts = _log_softmax_limits(shifts)
    named = [s for s in shifts if s.t is None or math.isfinite(s.t)]
    if not named:  # none is safe anywhere: name them with what the first needs
        return (
            remedytexts.MAX_SHIFTED,
            f"; they fail at every scanned T too: with them, {shifts[0].remedy}",
        )
    edges: dict[str, list[str]] = {}  # clause -> the methods it holds for, in order
    for s in named:
        if s.t is not None:
            below = bisected_t(s.t, rel_tol, up=True)
            edges.setdefault(f"below T≈{below} @: with #, {s.remedy}", []).append(s.method)
        if s.ceiling is not None:
            above = bisected_t(s.ceiling.t, rel_tol, up=False)
            fix = _ceiling_fix(s.method, dtype, s.ceiling.causes, softmin, log_read)
            edges.setdefault(f"above T≈{above} @: with #, {fix}", []).append(s.method)
    said = []
    for clause, methods in edges.items():
        if len(methods) == len(named):
            who, it = ("they fail too", "them") if len(methods) > 1 else ("it fails too", "it")
        else:
            who, it = " and ".join(SHIFTS[m] for m in methods) + " fails too", "it"
        said.append(clause.replace("@", who, 1).replace("#", it, 1))
    return "use " + " or ".join(SHIFTS[s.method] for s in named), "".join(f"; {c}" for c in said)


def _sum_fix(dtype: str, log_read: bool) -> str:
    """:data:`~smcheck.findings.remedytexts.SUM_OR_TORCH`; where the report reads torch's
    log_softmax (use logprobs or loss), whose 16-bit row sum is rounded to the format, the
    float32 sum alone."""
    if log_read and get_format(dtype).t < 24:
        return f"accumulate the sum in float32 (torch.log_softmax rounds its row sum to {dtype})"
    return remedytexts.SUM_OR_TORCH


def _log_softmax_limits(shifts: Sequence[ShiftLimit]) -> list[ShiftLimit]:
    """torch's limits as the report judges it under logprobs and loss: its log_softmax rounds
    its 16-bit row sum to the format, as the framework's shifted softmax does (torch.sum sums
    in float32), so where the shift's sum overflows, log_softmax's does too (torch.softmax
    sums in float32 and never rounds it: its own search does not see this)."""
    by = {s.method: s for s in shifts}
    shift, torch = by.get("shifted"), by.get("torch")
    if shift is None or torch is None:
        return list(shifts)
    if shift.t is not None and math.isinf(shift.t) and "sum_overflow" in shift.causes:
        torch = torch._replace(t=shift.t, remedy=shift.remedy, causes=shift.causes)
    top = shift.ceiling
    if top is not None and "sum_overflow" in top.causes:
        if torch.ceiling is None or torch.ceiling.t > top.t:
            torch = torch._replace(ceiling=top)
    return [torch if s.method == "torch" else s for s in shifts]


def _centre_or_divide(
    dtype: str, softmin: bool, largest: float | None, lowest_t: float | None
) -> str:
    """Centre the logits, or divide in the narrowest format with more range than ``dtype`` that
    holds ``largest / lowest_t`` (1e4 / 1e-36 is beyond float32 too); where torch takes T as 0
    (``lowest_t`` at or below 2^-150, up to float32), centre in float64."""
    if lowest_t is not None and get_format(dtype).t <= 24 and lowest_t <= TORCH_T_ZERO:
        # centring does not help where T itself is 0: 0 / 0 at the row's max
        return (
            f"{remedytexts.centre_logits(softmin)} in float64 (float32, where torch divides "
            f"{dtype}, takes T={lowest_t:g} as 0)"
        )
    # float64 holds every x/T of a narrower format's logits at T >= 2^-150 (3.4e38 / 2^-150)
    top = None if largest is None or lowest_t is None else largest / lowest_t
    return remedytexts.centre_or_divide_in(next_wider_range(dtype, top), softmin)
