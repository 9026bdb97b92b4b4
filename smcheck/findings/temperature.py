"""The finding of a critical temperature: why a method fails below it, and the remedy."""

from __future__ import annotations

import math

from smcheck.dtypes import next_wider, next_wider_range
from smcheck.findings import remedies
from smcheck.report.phrases import bisected_t, softmax_input


def advice(
    method: str,
    dtype: str,
    causes: list[str],
    t: float,
    wider: str | None = None,
    *,
    rel_tol: float,
    softmin: bool = False,
    largest: float | None = None,
    lowest_t: float | None = None,
) -> str:
    """One sentence: why the method fails just below ``t`` (inf: at every T) and the remedy.

    Args:
        method: The method's name.
        dtype: The format's name.
        causes: What fails just below ``t``: cast_overflow (at every T), temperature_overflow,
            exp_overflow, sum_overflow, nan (as in
            :class:`~smcheck.report.model.CriticalTemperature`).
        t: The lowest safe temperature; inf when no scanned T is safe.
        wider: for cast_overflow, the narrowest wider format whose cast does not overflow.
        rel_tol: the bisection's tolerance on ``t``: the sentence gives ``t`` to the digits it
            supports, rounded up (:func:`~smcheck.report.phrases.bisected_t`).
        softmin: the softmax is of -x (the sentence names -x, -x/T).
        largest: the judged rows' largest logit (of -x under softmin), where known, and
        lowest_t: the lowest T the report shows (swept or scanned): for temperature_overflow,
            the format named to divide in holds ``largest / lowest_t``, so the remedy holds at
            every T the report shows; where no wider format does, the sentence says so.

    Returns:
        ``"<method> <dtype>: below T=... <what fails> -- <remedy>"``.
    """
    shown = bisected_t(t, rel_tol, up=True) if math.isfinite(t) else None
    where = f"below T={shown}" if shown else "at every scanned T"
    clamp = remedies.clamp_t(shown)
    if "cast_overflow" in causes:  # before any T: no temperature brings +inf back
        cast = softmax_input(divided=False, softmin=softmin)
        return (
            f"{method} {dtype}: at every T the cast to {dtype} turns {cast} into +inf -- "
            f"{remedies.softmax_in(wider or next_wider(dtype) or 'float64')}"
        )
    if "temperature_overflow" in causes:
        return (
            f"{method} {dtype}: {where} dividing the logits by T overflows {dtype} -- "
            f"{_centre_or_divide(dtype, softmin, largest, lowest_t)}{clamp}"
        )
    x = softmax_input(divided=True, softmin=softmin)
    if method == "naive" and ("exp_overflow" in causes or "sum_overflow" in causes):
        what = f"exp({x})" if "exp_overflow" in causes else f"the sum of exp({x})"
        return (
            f"{method} {dtype}: {where} {what} overflows {dtype} -- {remedies.MAX_SHIFTED}{clamp}"
        )
    if "sum_overflow" in causes:
        return (
            f"{method} {dtype}: {where} the sum of exponentials overflows {dtype} (a long row "
            f"of similar logits) -- {remedies.SUM_OR_TORCH}"
        )
    if method == "naive":
        return (
            f"{method} {dtype}: {where} every exp({x}) of a row underflows to 0 (0/0) -- "
            f"{remedies.MAX_SHIFTED}{clamp}"
        )
    return (
        f"{method} {dtype}: {where} a whole row divides to -inf (inf - inf) -- "
        f"{remedies.centre_logits(softmin)}{clamp}"
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
