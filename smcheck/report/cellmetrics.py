"""The metrics of one cell: faults, accuracy, headroom, gradients, error bounds, accumulation."""

from __future__ import annotations

from dataclasses import dataclass, field

RowIndex = tuple[int, ...]
"""A row's index in the source's original shape (all axes but the softmax one)."""


@dataclass(frozen=True)
class Count:
    """How many elements and rows, and the worst row's index in the original shape."""

    elements: int
    rows: int
    worst_row: RowIndex | None


@dataclass(frozen=True)
class NanCount(Count):
    """A count of NaN probabilities, with the elements by cause."""

    causes: dict[str, int] = field(default_factory=dict)
    """NaN elements by cause: "inf/inf", "0/0", "inf-inf", "other"."""


@dataclass(frozen=True)
class Extreme:
    """A maximum over rows and the first row attaining it (None when no row qualified)."""

    max: float | None
    worst_row: RowIndex | None


@dataclass(frozen=True)
class UlpHistogram:
    """How many judged elements have an ulp error in each power-of-two bin (fixed bins).

    ``counts[0]``: errors below 2^lo_log2 (exact results included); ``counts[k]``, 0 < k < last:
    [2^(lo_log2+k-1), 2^(lo_log2+k)); ``counts[-1]``: 2^(lo_log2+len-2) and above.
    """

    lo_log2: int
    counts: list[int]


@dataclass(frozen=True)
class ErrorMetric:
    """Error of the finite probabilities against the exact ones."""

    max_ulp: float | None
    """Largest |p̂ - p| in ulps of the format at p, over finite outputs."""
    median_ulp: float | None
    normwise_u: float | None
    """Worst row's ||p̂ - p||_inf / max(||p||_inf, tiny) in units of u = 2^-t, tiny the format's
    smallest normal: below it the spacing is fixed and correct rounding errs by up to tiny·u, so
    a correctly rounded row is at most 1 (docs/design.md §4)."""
    worst_row: RowIndex | None
    """Row of max_ulp."""
    ulp_histogram: UlpHistogram | None = None
    """The distribution of the elements' ulp errors (the same elements as max_ulp and median);
    counted exactly, so it does not depend on the chunking. None where nothing was judged."""


@dataclass(frozen=True)
class LogErrorMetric:
    """Error of the log-probabilities against the exact log-softmax (docs/design.md §4)."""

    max_ulp: float | None
    """Largest |log p̂ - log p| in ulps of the format at the exact log p, over the live entries
    of judged rows where log p̂ is finite."""
    median_ulp: float | None
    max_abs: float | None
    """Largest |log p̂ - log p| in nats over the same entries."""
    worst_row: RowIndex | None
    """Row of max_ulp."""
    nonfinite: Count
    """log p̂ = ±inf or NaN where the exact log p is finite (the same count as log_nonfinite)."""
    finite_at_neginf: Count
    """log p̂ finite where the exact log p is -inf (a -inf mask in the format)."""
    max_abs_row: RowIndex | None = None
    """Row of max_abs (a large error in nats and one in ulps are often in different rows)."""


@dataclass(frozen=True)
class FlipCount:
    """Rows whose argmax differs from the exact one, and those whose argmax is lost; rows with a
    unique exact maximum only (an exact tie has no argmax to flip or lose)."""

    rows: int
    worst_row: RowIndex | None
    """First flipped row."""
    nan_rows: int = 0
    """Rows whose output is NaN (no flip is measured there): their argmax is lost."""
    sum_overflow_rows: int = 0
    """Rows whose sum overflowed, every p̂ 0 (not NaN): their argmax is lost."""
    lost_first_row: RowIndex | None = None
    """First row of those two kinds."""


@dataclass(frozen=True)
class KLMetric:
    """KL(exact || computed) per row, in nats."""

    max: float | None
    mean: float | None
    worst_row: RowIndex | None


@dataclass(frozen=True)
class Headroom:
    """Distance, in nats, of the worst row from the format's limits (negative: past the limit)."""

    overflow_nats: float | None
    """ln(the first value that rounds to +inf) - the largest logsumexp(x/T) of a row: a naive
    sum of exp overflows where this is negative (float16: ln 65520)."""
    overflow_worst_row: RowIndex | None
    underflow_nats: float | None
    """min(x_i - lse) - ln(smallest_subnormal/2): probabilities round to 0 where negative."""
    underflow_worst_row: RowIndex | None
    rounded_to_zero: Count | None = None
    """Live entries whose exact p rounds to 0 in the format (p <= s/2, s the smallest
    subnormal: past the underflow limit), in rows judged: the zeros of every correctly rounded
    method (None in reports built without it)."""
    rounded_to_zero_mass: Extreme | None = None
    """The largest share of a row's exact mass in those entries, and its row: what sampling from
    the format's probabilities never draws (0 and no row where none rounds to 0)."""


@dataclass(frozen=True)
class CellMetrics:
    """What broke in one cell (counts) and how accurate the rest is."""

    overflow: Count
    temperature_overflow: Count
    """Part of ``overflow``: logits that became +inf when divided by T in the format."""
    exp_overflow: Count
    """Part of ``overflow``: elements whose exp became +inf from a finite input."""
    sum_overflow: Count
    """Part of ``overflow``: rows whose sum of exp became +inf while no term did, one element
    each (``overflow`` is the three parts' sum)."""
    cast_overflow: Count
    """Logits the cast to the format turned into +inf, in source rows otherwise judged: no
    softmax of such a row is finite, so those rows are not in ``rows_checked`` (nor in
    ``overflow``, whose counts are of judged rows)."""
    nan: NanCount
    underflow: Count
    exact_zero: Count
    log_nonfinite: Count
    """Log-probabilities that are ±inf or NaN where the exact one is finite."""
    log_of_zero: Count
    """Of those, the -inf ones in rows that did not overflow whose exact log p the format holds:
    log of a probability that rounded to 0, or a log_softmax that returned -inf (an overflowed
    row's zeros, and so their -inf, are
    the overflow's; below -(max + ulp/2), -inf is the log p correctly rounded)."""
    lost_mass: Extreme
    error: ErrorMetric
    sum_error: Extreme
    argmax_flips: FlipCount
    kl: KLMetric
    headroom: Headroom
    rows_checked: int
    """Rows the method was judged on (upstream-broken and fully masked rows excluded); 0 with
    no WARN/FAIL finding: the cell judged nothing (``Cell.judged``), shown as not judged."""
    log_error: LogErrorMetric | None = None
    """The log-probabilities' accuracy (None only in reports built without it)."""
    saturated: RowCount | None = None
    """Judged rows whose exact top probability rounds to 1 in the format (1 - p_max <= u/2),
    whatever the method returned; the first such row (None only in reports built without it)."""
    masked_rows: int = 0
    """Source rows with a finite logit that the cast to the format or dividing by T there makes
    entirely -inf: the method ran on them, nothing is judged there (not in ``rows_checked``),
    but ``nan`` counts the NaN it returned there."""

    @property
    def overflow_with_cast(self) -> Count:
        """``overflow`` and ``cast_overflow`` together, every +inf the cell meets: what check's
        ``overflow`` condition and the Faults table count. Their rows are disjoint (the cast's
        are not judged), so the counts add; the worst row is the cast's where it overflows (a
        row the cast broke lost all of it)."""
        o, c = self.overflow, self.cast_overflow
        worst = c.worst_row if c.elements else o.worst_row
        return Count(o.elements + c.elements, o.rows + c.rows, worst)


@dataclass(frozen=True)
class LossError:
    """Error of the computed cross-entropy loss against the exact one (rows where it is finite)."""

    max_abs: float | None
    """Largest |L̂ - L| in nats (an absolute error of log p is a relative error of p)."""
    max_abs_row: RowIndex | None
    max_rel: float | None
    """Largest |L̂ - L| / L (1 when a small loss rounds to 0)."""
    max_rel_row: RowIndex | None


@dataclass(frozen=True)
class GradientMetrics:
    """Cross-entropy ``-log p[target]`` through the method's own log-probabilities, back-propagated
    by autograd in the format, against the exact loss and gradient ``p - onehot(target)``.

    Gradients are taken with respect to the softmax input (the logits divided by T). Rows are those
    the method is judged on whose target class is not masked (docs/design.md §5).
    """

    target: str
    """How targets were chosen: "argmax", "argmin", the file as given, "<array>", or "the
    captured class targets" (a captured loss site's own)."""
    rows_checked: int
    masked_target_rows: int
    """Rows left out because their target is a mask while another class is live: the exact
    loss is infinite (a row of masks only is left out uncounted: its loss is log n)."""
    loss_inf: Count
    """Rows whose computed loss is infinite although the exact loss is finite in the format."""
    loss_nan: Count
    nan: Count
    """NaN gradient elements."""
    nan_loss_rows: int
    """Of nan's rows, those whose loss is NaN too: the NaN forward back-propagates."""
    nan_zero_rows: int
    """Of the others, those with a probability of 0 (log p̂ = -inf, a mask's too): d log(p)/dp =
    1/0 = inf there, the backward multiplies it by 0 (the upstream gradient of a non-target
    entry, or the target's exp), which gives NaN, and the row sum spreads it to the row. The rest
    met an inf inside the backward pass."""
    dead: Count
    """Gradient elements exactly 0 where the exact gradient rounds to nonzero in the format."""
    vanished_rows: int
    """Rows whose whole computed gradient is 0 while the exact one is representable as nonzero."""
    vanished_first_row: RowIndex | None
    saturated_rows: int
    """Rows whose exact top probability rounds to 1 in the format (stored in the format it
    reads 1, and 1 - p_max is lost), rows whose computed gradient holds a NaN included."""
    saturated_first_row: RowIndex | None
    max_rel_error: float | None
    """max over rows of ||ĝ - g||_inf / ||g||_inf (rows with a NaN gradient excluded)."""
    max_rel_error_row: RowIndex | None
    loss_error: LossError
    dead_max: float | None = None
    """The largest exact |g| of a dead element: what the format loses there. The entries of g lie
    in [-1, 1], so this decides whether the dead elements matter (Thresholds.gradient_abs_u)."""
    masked_target_first_row: RowIndex | None = None
    """The first of the ``masked_target_rows``."""
    saturated_nan_rows: int = 0
    """Of ``saturated_rows``, those whose computed gradient holds a NaN."""
    saturated_lossy_rows: int = 0
    """Of ``saturated_rows``, those whose finite computed gradient is off by more than u/2
    somewhere (max |ĝ - g| > u/2): more than saturation can cost, 1 - p_max <= u/2 at the top
    class, so the method's own error, which the saturation finding does not claim."""
    saturated_lost: float | None = None
    """The largest max |ĝ - g| of the ``saturated_lossy_rows`` (None when there is none)."""
    losses: list[float] | None = None
    """Small inputs only: the computed loss per row, and below the exact values beside it."""
    exact_losses: list[float] | None = None
    gradients: list[list[float]] | None = None
    exact_gradients: list[list[float]] | None = None


@dataclass(frozen=True)
class RowCount:
    """How many rows, and the worst (or first) one's index in the original shape."""

    rows: int
    worst_row: RowIndex | None


@dataclass(frozen=True)
class WorstError:
    """The row with the largest normwise error, read against its bound and conditioning."""

    row: RowIndex | None
    error_u: float
    """||p̂ - p||_inf / max(||p||_inf, tiny) in units of u (as ErrorMetric.normwise_u)."""
    bound_u: float | None
    """The row's rounding-error bound in units of u; None where it is vacuous."""
    first_order_u: float
    """The first-order term T of the bound (what the paper states)."""
    cond: float
    """The row's condition number (normwise, for relative perturbations of x - max x)."""


@dataclass(frozen=True)
class BoundCheck:
    """Observed error against the rounding-error bound of Blanchard, Higham & Higham (2021)."""

    bound: str
    """The first-order bound's formula, in units of u."""
    c: float
    """The error of one exp/log, in units of u, that the bound charges (1 for correct rounding)."""
    rows_tested: int
    """Rows with finite output and no overflow, where the bound applies."""
    violations: RowCount
    """Rows whose error exceeds the bound (worst: the largest error/bound)."""
    vacuous: RowCount
    """Rows where the bound says nothing (K·T·u >= 1 or B >= 1/u, e.g. n >= 1/u); first such row."""
    max_ratio: Extreme
    """Largest error/bound over the rows with a non-vacuous bound."""
    cond_max: Extreme
    """Largest condition number over the tested rows."""
    worst: WorstError | None
    reading: str
    """Whose fault a large error is: "none" (no large error), "implementation" (a bound is
    violated), "input" (ill-conditioned row), "algorithm" (the method's own error terms)."""


@dataclass(frozen=True)
class Accumulation:
    """The accumulation stall of the strict model's sums in the format."""

    stall_length: int
    """2^t: a sequential sum of equal terms stops growing after this many."""
    stalled: RowCount
    """Rows whose running sum absorbed more than 2^-(1-b)t of their mass (b: normwise_bits)."""
    max_absorbed: Extreme
    """Largest fraction of a row's summed mass added to a running sum that did not change."""
