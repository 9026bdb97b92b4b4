"""The temperature analysis of a source: entropy sweep and critical temperatures."""

from __future__ import annotations

from dataclasses import dataclass, field

from smcheck.report.cellmetrics import RowIndex


@dataclass(frozen=True)
class SweepPoint:
    """Shape of the exact distribution at one temperature (from the source values, any dtype)."""

    temperature: float
    rows: int
    """Rows averaged over (upstream-broken and fully masked rows excluded)."""
    entropy_mean: float | None
    """Mean entropy of softmax(x / T), in nats."""
    max_prob_mean: float | None
    effective_support_mean: float | None
    """Mean of exp(entropy): how many classes the distribution effectively spreads over."""


@dataclass(frozen=True)
class CriticalTemperature:
    """Where one method in one format stops being safe, and where its outputs become one-hot."""

    method: str
    dtype: str
    min_safe: float | None
    """Smallest T of the scan from which no row overflows or gives NaN, up to ``max_safe``: the
    bisection's safe end, within ``rel_tol`` above the exact edge, unrounded (the text reports
    and ``advice`` round it up to the digits ``rel_tol`` supports); None: safe down to the
    bottom of the scan; inf: unsafe at every T of the scan; NaN: no row judged (``judged``)."""
    min_safe_row: RowIndex | None
    """The row that fails just below min_safe."""
    causes: list[str]
    """What fails on that row just below min_safe: temperature_zero (T rounds to 0 in the type
    torch divides the format in, float32 up to float32: x/T is inf or NaN), temperature_overflow,
    exp_overflow, sum_overflow, nan; or at every T, cast_overflow (the cast to the format gives
    +inf) or cast_masked (it turns a whole row into -inf, and the method gives NaN for it)."""
    one_hot_below: float | None
    """Largest T of the scan at which every row's output is exactly one-hot (one entry 1, the
    others 0) -- the bisection's one-hot end, unrounded (the text reports round it down); None:
    never all one-hot (rows with tied maxima never are, nor outputs that overflow first); inf:
    already at the top of the scan; NaN: no row judged (``judged``)."""
    one_hot_row: RowIndex | None
    """The last row to collapse: still not one-hot just above one_hot_below."""
    advice: str | None
    """The remedy, in one sentence, when some T of the scan is unsafe (min_safe or max_safe not
    None)."""
    max_safe: float | None = None
    """Largest T of the scan at which no row overflows or gives NaN, where its top fails but a
    lower T is safe (a long row's sum overflows at high T): the bisection's safe end, within
    ``rel_tol`` below the exact edge, unrounded (the text reports round it down); None: safe at
    the top of the scan, or at no T of it (min_safe inf); NaN: no row judged (``judged``)."""
    max_safe_row: RowIndex | None = None
    """The row that fails just above max_safe."""
    max_safe_causes: list[str] = field(default_factory=list)
    """What fails on that row just above max_safe (as ``causes``)."""
    judged: bool = True
    """Whether the scan had a row to judge in this format; False where every row is NaN/+inf or
    fully masked there: then min_safe, max_safe and one_hot_below are NaN (nothing was found
    either way) and the reports say no row was judged."""


@dataclass(frozen=True)
class TemperatureScan:
    """How the critical temperatures were searched."""

    lo: float
    """The scan's bottom: 1e-6, or the lowest T swept below it."""
    hi: float
    grid: list[float]
    """Temperatures scanned from the top before bisecting (one per decade down to 1e-6, then
    each swept T below it)."""
    rel_tol: float
    """Bisection stops when the bracket's ends differ by at most this factor minus one."""


@dataclass(frozen=True)
class TemperatureAnalysis:
    """The sweep over temperatures and, when asked for, the critical temperatures."""

    sweep: list[SweepPoint]
    critical: list[CriticalTemperature] | None = None
    """Per method × dtype; None unless asked for (--critical, or a sweep of several T)."""
    scan: TemperatureScan | None = None
