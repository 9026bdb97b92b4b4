"""Report dataclasses for masks and non-finite input: masked rows, sentinels, input findings."""

from __future__ import annotations

from dataclasses import dataclass

from smcheck.report.cellmetrics import Count, Extreme, RowIndex

SEVERITIES: tuple[str, ...] = ("INFO", "WARN", "FAIL")
"""Input-finding severities, mildest first; WARN and FAIL count towards the source's verdict."""


@dataclass(frozen=True)
class InputFinding:
    """One finding about the input itself, not about any method: one sentence with the remedy."""

    kind: str
    """Stable id: upstream, fully_masked, became_fully_masked, masked_target,
    sentinel_unrepresentable, sentinel_overflow, sentinel_scaled_to_neginf, sentinel_weak; of a
    format (with its name), division_rounding, rounded_to_zero; of a captured site, observed_nan,
    observed_loss, observed_loss_nan, log_underflow and fast_path_skipped."""
    severity: str
    """INFO, WARN or FAIL."""
    message: str
    dtype: str | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class MaskedOutput:
    """What one method returned for the rows that are entirely -inf in its cell."""

    rows: int
    nan: int
    """Rows returned entirely as NaN (the textbook formulas: 0/0 or -inf - -inf)."""
    zeros: int
    """Rows returned entirely as 0 (a "safe" masked softmax)."""
    other: int


@dataclass(frozen=True)
class BecameMasked:
    """Rows with a finite logit in the source that are entirely -inf in a format."""

    dtype: str
    temperature: float | None
    """None: made -inf by the cast itself; else only once divided by this T in the format."""
    rows: int
    first_row: RowIndex | None
    masks: bool = False
    """The rows hold only masks (sentinels, -inf), which the format cannot hold; else they hold
    logits beyond its range (each kind has an entry of its own)."""


@dataclass(frozen=True)
class SentinelEffect:
    """What one format (at one temperature) does to one sentinel's entries."""

    dtype: str
    temperature: float
    to_neginf: Count
    """Entries finite in the source that are -inf in the format after the cast and x/T."""
    leak: Extreme
    """Largest exact probability the sentinel's entries keep in one row holding logits (0: a
    perfect mask; a row of mask values only is a fully masked row, its weight all on them). A
    leak the format rounds to nonzero is shown even at or below u ("leaks 0.00032 <= u"): the
    format's softmax keeps it on the masked entries too."""
    weak: Count
    """Rows where that mass exceeds the format's unit roundoff u (the ``sentinel_weak`` WARN); a
    smaller leak is within the format's rounding, not no leak."""


@dataclass(frozen=True)
class SentinelCast:
    """What casting to one format does to one sentinel's entries."""

    dtype: str
    representable: bool
    """Whether the sentinel value itself is finite in the format."""
    to_neginf: Count
    """Entries that become -inf: all of them when not representable, else sentinel + score."""


@dataclass(frozen=True)
class Sentinel:
    """A large negative value standing in for -inf, with the entries near it (sentinel + score)."""

    value: float
    label: str | None
    """What the value is known as (e.g. ``torch.finfo(torch.float16).min``, or "the given mask
    value" for a --mask-value that is not a known one)."""
    detected: str
    """``known`` (a common mask value) or ``user`` (the value named with --mask-value); entries
    within 2^-6 of it and 20 nats below the row's logits are sentinel + score."""
    elements: int
    rows: int
    worst_row: RowIndex | None
    exact_elements: int
    """Entries equal to the sentinel (as rounded to some format); the rest are sentinel + score."""
    min: float
    max: float
    casts: list[SentinelCast]
    effects: list[SentinelEffect]
