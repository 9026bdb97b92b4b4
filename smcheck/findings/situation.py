"""What a cell's remedy depends on (:class:`Situation`): its cause's method, format, model and
use, what the source holds (masks, the largest logit, softmin), and whether its exact
probabilities saturate or underflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from smcheck.methods import METHODS

if TYPE_CHECKING:
    from smcheck.report.cellmetrics import Accumulation, CellMetrics


@dataclass(frozen=True)
class Situation:
    """What a remedy's choice depends on: the cell, the model and the use of the softmax."""

    method: str
    dtype: str
    use: str = "loss"
    """probs, logprobs or loss (what the user does with the softmax)."""
    model: str = "framework"
    masked: bool = False
    """The source holds masks (-inf or sentinel entries)."""
    largest: float | None = None
    """The largest logit of the judged rows (after softmin's negation), where known: a format
    the cast-overflow remedy names must hold it."""
    top: float | None = None
    """``largest`` / the cell's T, where known: a wider format helps naive only if exp holds it."""
    lowest: float | None = None
    """The smallest row maximum of the judged rows as the cell's softmax takes it (after
    softmin's negation, divided by T), where known: a format the masked-row remedy names must
    hold it, or the row is entirely -inf there too."""
    temperature: float = 1.0
    """The cell's T: below 1 a mask with the format's own minimum is -inf once divided by T too
    (finfo.min / 0.5), so the mask remedy masks the quotient."""
    softmin: bool = False
    """The softmax is of -x: a remedy naming the logits' max, or the format's min, names the
    other end."""
    material: bool = True
    """The finding is a WARN or FAIL: a switch that leaves its cause only as a NOTE fixes it
    (log_softmax's dead gradient elements, each losing under u, fix naive's material ones)."""
    stalled: bool = False
    """The cell's strict sums in the format stalled in some row (:func:`sums_stalled`): an error
    every method that sums in that format shares, which only a wider sum or format removes."""
    max_zero: bool = False
    """Every judged row's max is 0 (the logits come max-shifted): subtracting the max changes
    nothing (lse-direct's y = 0 + log sum is logdomain's log sum)."""
    lost: float | None = None
    """What a dead-gradient finding loses: its worst dead element's exact gradient (None: not
    measured, or another cause)."""
    gradient_abs_u: float = 4.0
    """The materiality limit of a lost gradient, in the format's u (``Thresholds``)."""
    confident: bool = True
    """The cell's exact probabilities saturate or underflow (:func:`exact_p_saturates`), what
    over-confident logits do and curbing them cures; True where not known. Where they do not,
    dead gradient elements are the method's own (a uniform float16 row of 70000: torch's
    log_softmax returns -inf once its float16 row sum overflows), which a wider format cures."""

    @property
    def log_of_p(self) -> bool:
        return takes_log_of_p(self.method)

    @property
    def log_softmax_method(self) -> str:
        """The analysed method that is log_softmax: torch's own, or written out under strict."""
        return "torch" if self.model == "framework" else "logdomain"


def exact_p_saturates(m: CellMetrics) -> bool:
    """Some judged row's exact top probability rounds to 1 in the cell's format, or some live
    exact p rounds to 0 there; True where the report holds neither count (not known)."""
    sat, zero = m.saturated, m.headroom.rounded_to_zero
    if sat is None and zero is None:
        return True
    return bool((sat is not None and sat.rows) or (zero is not None and zero.elements))


def sums_stalled(acc: Accumulation | None) -> bool:
    """The strict model's sums in the cell's format stalled in some row (None: not measured)."""
    return acc is not None and acc.stalled.rows > 0


def takes_log_of_p(method: str) -> bool:
    """The method takes log(p) of its probabilities (naive, shifted, online): log(softmax)."""
    m = METHODS.get(method)
    return m is not None and m.log_route == "log(p)"
