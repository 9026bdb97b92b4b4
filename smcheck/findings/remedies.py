"""The remedy registry: every remedy a finding names, chosen by what is in use (its sentences,
each written once, are :mod:`smcheck.findings.remedytexts`).

A cell finding's remedy depends on its cause, the cell's method, its format, the model and the
use of the softmax (:class:`Situation`). Each cause has a chooser that lists candidate
:class:`Remedy` values, best first; a remedy that names a cell (a method or format to switch to)
never names the cell's own method or format. :func:`remedy` gives the first candidate's text;
:func:`smcheck.findings.settling.settle` re-picks them once a source's cells are all known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smcheck.dtypes import WIDER_FORMATS, get_format, holding
from smcheck.findings.remedytexts import (
    AFTER_DIVIDING,
    CHECK_LOGIT_SCALE,
    CURB_CONFIDENCE,
    LOG_SOFTMAX,
    LSE_SUBTRACT_MAX,
    MASKED_ROWS_ASIDE,
    MASKED_SATURATION,
    MAX_SHIFTED,
    SHIFTED_ONLY,
    TORCH_SOFTMAX,
    TORCH_SUM,
    centre_logits,
    centre_or_divide_in,
    mask_with_min,
    normaliser_in,
    shift_before_cast,
    softmax_and_loss_in,
    softmax_in,
    sum_in,
)
from smcheck.findings.situation import Situation
from smcheck.report.model import Finding


# --- remedies as data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Remedy:
    """A remedy's text and, where it names one, the cell it switches to (None: the same)."""

    text: str
    method: str | None = None
    dtype: str | None = None
    also: tuple[str, ...] = ()
    """Other methods the text offers in the same format (``or torch.softmax``): settle advises
    the remedy only where none of them was seen to fail either."""

    @property
    def fix(self) -> dict[str, str]:
        """The switch as data, e.g. ``{"dtype": "float32"}``; empty for advice without a cell."""
        return {k: v for k, v in (("method", self.method), ("dtype", self.dtype)) if v}


NO_REMEDY = Remedy("")


def _wider(s: Situation, text: Callable[[str], str]) -> list[Remedy]:
    return [Remedy(text(w), dtype=w) for w in WIDER_FORMATS.get(s.dtype, ())]


def _then_wider(s: Situation, first: list[Remedy], text: Callable[[str], str]) -> list[Remedy]:
    """``first``, each format wider, then ``first`` in each wider format (both are needed when
    the logits themselves overflow the format, e.g. once divided by a small T)."""
    both = [
        Remedy(f"{r.text}, in {w}", r.method, w, r.also)
        for r in first
        for w in WIDER_FORMATS.get(s.dtype, ())
    ]
    return [*first, *_wider(s, text), *both]


# --- choosers: the candidates of each cause, best first ------------------------------------------
def _temperature_overflow(s: Situation) -> list[Remedy]:
    centre = centre_or_divide_in(None, s.softmin) + ", or raise T"
    return [*_wider(s, lambda w: centre_or_divide_in(w, s.softmin)), Remedy(centre)]


def _shift_or_torch(s: Situation, *, alone: bool = False) -> list[Remedy]:
    """Naive's fix: the shift, or torch.softmax; ``alone``: then each by itself, for a fault
    that one may keep and the other not (torch only where the model runs it)."""
    if s.method != "naive":
        return []
    out = [Remedy(MAX_SHIFTED, method="shifted", also=("torch",))]
    if alone:
        out.append(Remedy(SHIFTED_ONLY, method="shifted"))
        if s.model == "framework":
            out.append(Remedy(TORCH_SOFTMAX, method="torch"))
    return out


def _shift_first(s: Situation) -> list[Remedy]:
    """Overflow and NaN of exp(x): naive needs the shift; the others a format that holds x.

    Neither the shift nor torch.softmax is offered alone: both take the max of the same x, so
    a NaN in one (x holds +inf, or a row is all -inf: inf - inf) is a NaN in the other."""
    return _then_wider(s, _shift_or_torch(s), softmax_in)


_OVERFLOWING = (
    "cast-overflow", "temperature-overflow", "exp-overflow", "probability-nan", "loss-inf",
    "loss-nan", "gradient-nan",
)  # fmt: skip


def _holds_top(cause: str, r: Remedy, s: Situation, dtype: str | None) -> bool:
    """x/T finite in ``dtype`` (bar a cast overflow, its own finding); for naive's overflow and
    the NaN and inf it makes, its exp too (another fault's remedy, a stall's, is not refused
    for an overflow the cell already has)."""
    if s.top is None or dtype is None:
        return True
    f = get_format(dtype)
    finite = s.top < -f.neg_overflow or (s.largest or 0.0) >= -f.neg_overflow
    exp_fault = s.method == "naive" and cause in _OVERFLOWING
    return finite and bool(r.method or not exp_fault or s.top < f.exp_overflow_x)


def _sum_first(s: Situation) -> list[Remedy]:
    """A sum of finite exps overflowing: torch's softmax sums 16-bit formats in float32, which
    a shift does not replace (a row longer than the format's max overflows a shifted sum). In
    float32 and float64 torch sums in the format: only an unshifted sum overflows there, and
    the shift is the fix."""
    if get_format(s.dtype).t >= 24 and s.method == "naive":
        return _then_wider(s, _shift_or_torch(s), softmax_in)
    first = [Remedy(TORCH_SUM, method="torch")] if s.model == "framework" else []
    return _then_wider(s, first, softmax_in)


def _log_of_zero(s: Situation) -> list[Remedy]:
    first = [Remedy(LOG_SOFTMAX, method=s.log_softmax_method)] if s.log_of_p else []
    return _then_wider(s, first, softmax_in)


def _underflow(s: Situation) -> list[Remedy]:
    # log_softmax keeps log p finite, which is all that logprobs and loss read; probabilities
    # themselves need a format whose range holds them
    use_log = s.log_of_p and s.use in ("logprobs", "loss")
    first = [Remedy(LOG_SOFTMAX, method=s.log_softmax_method)] if use_log else []
    # naive's exp(x) is p e^lse: a low row max (lse < 0) zeroes a p the format holds, which the
    # shift removes (e^(x - max) >= p); a wider format stays where shifted underflows too
    return _then_wider(s, [*first, *_shift_or_torch(s, alone=True)], softmax_in)


def _accuracy(s: Situation) -> list[Remedy]:
    """The error of the probabilities: the method's own fix, then a wider format."""
    # torch's float32 sum and rounding once may clear an error the shift in the format keeps
    first = _subtract_max(s) if s.method == "lse-direct" else _shift_or_torch(s, alone=True)
    if s.model == "strict" and first:
        # a strict sum in the format stalls whatever the shift: a wider format cures both
        return [*_wider(s, softmax_in), *first]
    return _then_wider(s, first, softmax_in)


def _log_route(s: Situation) -> list[Remedy]:
    """The method's log-probabilities done right: log_softmax for log(p), the max for lse-direct."""
    if s.log_of_p:
        return [Remedy(LOG_SOFTMAX, method=s.log_softmax_method)]
    if s.method == "lse-direct":
        return [Remedy(LSE_SUBTRACT_MAX, method="logdomain")]
    return []


def _subtract_max(s: Situation) -> list[Remedy]:
    """lse-direct's accuracy fix, logdomain, where it changes z: it keeps the rounding of the
    logsumexp y = max + log sum out of z, but takes the same sum (a stalled strict sum stalls
    in both) and, where every row's max is 0, computes the very same z (y = log sum)."""
    if s.stalled or s.max_zero:
        return []  # only a wider sum or format removes the error then
    return _log_route(s)


def _log_accuracy(s: Situation) -> list[Remedy]:
    """The error of finite log-probabilities: log_softmax for log(p), the max for lse-direct
    (where subtracting it changes z; else a wider format)."""
    route = _subtract_max(s) if s.method == "lse-direct" else _log_route(s)
    return _then_wider(s, route, softmax_in)


def _loss(s: Situation) -> list[Remedy]:
    """An infinite or NaN loss or gradient: log(p) methods need log_softmax; lse-direct the max."""
    return [*_then_wider(s, _log_route(s), softmax_and_loss_in), Remedy(CHECK_LOGIT_SCALE)]


def _dead_gradient(s: Situation) -> list[Remedy]:
    # A material loss (over 4u) comes from a backward written out in the format: naive's
    # exp(x) / s in float16 with s near 52000 makes 1/s and 1/(p_t s) subnormal, cancelling to
    # 0 at the target; lse-direct's rounded logsumexp rounds p_t to 1. log_softmax's gradient
    # softmax - onehot (logdomain's alike) loses at most about u where p_t rounds to 1 -- a
    # NOTE, which only a wider softmax removes, where it does at all (settle advises one for a
    # NOTE where it saw it lose less, or, not analysed, where the loss is over 4u there).
    # lse-direct's p_t rounds to 1 through its rounded logsumexp at any loss, which
    # subtracting the max cures. Casting p to float32 for the loss changes nothing: the
    # softmax's backward still runs in the format. Logits are called over-confident only where
    # the exact p saturates or underflows: a uniform float16 row of 70000 is dead where
    # log_softmax's float16 row sum overflows, which float32 cures.
    first = _log_route(s) if s.material or s.method == "lse-direct" else []
    wider = _wider(s, softmax_and_loss_in)
    if not s.confident:
        return [*first, *wider]
    last = MASKED_SATURATION if s.masked else CURB_CONFIDENCE
    return [*first, *wider, Remedy(last)]


def _saturation(s: Situation) -> list[Remedy]:
    # only use=loss takes a loss to move with the softmax; a masked source's saturated row may
    # be its masks' doing, so no remedy there calls it over-confident
    aside = MASKED_ROWS_ASIDE if s.masked else ""
    wider = softmax_and_loss_in if s.use == "loss" else softmax_in
    curb = aside + CURB_CONFIDENCE
    return [*_wider(s, lambda w: f"{aside}{wider(w)}, or {CURB_CONFIDENCE}"), Remedy(curb)]


def _stall(s: Situation) -> list[Remedy]:
    # measured under the strict model only: torch's own sums are float32 and blocked already
    return _wider(s, sum_in) if s.model == "strict" else []


def _algorithm(s: Situation) -> list[Remedy]:
    """The algorithm, not the input, loses the accuracy (a vacuous bound or a large error)."""
    if s.method == "online":
        return _wider(s, normaliser_in)
    if s.method in ("shifted", "logdomain") and s.model == "strict":
        return _wider(s, sum_in)  # framework sums of 16-bit formats are float32 already
    return _accuracy(s)


def _masked_row(s: Situation) -> list[Remedy]:
    """NaN for a row that the format or T turned entirely into -inf (e.g. -1e9 in float16)."""
    # masking with the format's own minimum is the fix; the wider format is the switch a check
    # can verify (the same logits stay finite there), so it rides along: one whose range holds
    # every row's maximum (-1e39 is -inf in float32 as well as in float16)
    lowest = None if s.lowest is None else -s.lowest  # the ranges are symmetric
    # naive takes exp of the row unshifted: e^-65520 is 0 in every format, as is e^finfo.min,
    # so a wider format or the format's own minimum leaves it 0/0; only the shift helps it
    holds = () if s.method == "naive" else holding(s.dtype, lowest)
    if not s.masked:  # ordinary logits beyond the format's range, no mask among them
        # a row the cast keeps finite but T turns -inf (-100 / 1e-6 in float16): the division
        # does it, so the logits are centred before it, not shifted before the cast
        t = s.temperature
        cast = lowest is None or t >= 1 or lowest * t >= -get_format(s.dtype).neg_overflow
        shift = Remedy(shift_before_cast(s.softmin) if cast else centre_logits(s.softmin))
        return [*(Remedy(softmax_in(w), dtype=w) for w in holds), shift]
    # below T = 1 the format's min is -inf once divided too: the mask goes on x/T, as the
    # input finding of rows that T masks says
    after = AFTER_DIVIDING if s.temperature < 1 else ""
    shift = f", and {SHIFTED_ONLY}" if s.method == "naive" else ""
    mask = f"{mask_with_min(s.dtype, s.softmin)}{after}{shift}, or handle fully masked rows"
    return [*(Remedy(f"{mask}, or {softmax_in(w)}", dtype=w) for w in holds), Remedy(mask)]


def _cast_overflow(s: Situation) -> list[Remedy]:
    """Logits beyond the format's range: a format that holds them, or a shift before the cast."""
    holds = [Remedy(softmax_in(w), dtype=w) for w in holding(s.dtype, s.largest)]
    return [*holds, Remedy(shift_before_cast(s.softmin))]


def _none(s: Situation) -> list[Remedy]:
    return []


Chooser = Callable[[Situation], list[Remedy]]

CELL_REMEDIES: dict[str, Chooser] = {
    "temperature-overflow": _temperature_overflow,
    "exp-overflow": _shift_first,
    "sum-overflow": _sum_first,
    "probability-nan": _shift_first,
    "log-of-zero": _log_of_zero,
    "underflow": _underflow,
    "argmax-flip": lambda s: _wider(s, softmax_in),
    "normwise-error": _accuracy,
    "log-error": _log_accuracy,
    "loss-inf": _loss,
    "loss-nan": _loss,
    "gradient-nan": _loss,
    "dead-gradient": _dead_gradient,
    "saturation": _saturation,
    "bound-violated": _none,
    "stall": _stall,
    "ill-conditioned": lambda s: _wider(s, softmax_in),
    "vacuous-bound": _algorithm,
    "algorithm-error": _algorithm,
    "masked-row-nan": _masked_row,
    "cast-overflow": _cast_overflow,
}
"""Every cause a cell's verdict can name, with the chooser of its candidate remedies."""


def candidates(cause: str, s: Situation) -> list[Remedy]:
    """The remedies of ``cause`` in situation ``s``, best first; none names what is in use, nor
    a format (its own included) where the cell's x/T overflows too."""
    found = [r for r in CELL_REMEDIES[cause](s) if r.method != s.method and r.dtype != s.dtype]
    return [
        r for r in found if not (r.method or r.dtype) or _holds_top(cause, r, s, r.dtype or s.dtype)
    ]


def finding(
    cause: str, severity: str, message: str, method: str, dtype: str, why: str = ""
) -> Finding:
    """A cell's finding with its remedy (the situation's details are settled per source)."""
    r = choose(cause, method, dtype, material=severity != "NOTE")
    return Finding(cause, severity, message, r.text, r.fix, why)


def choose(
    cause: str,
    method: str,
    dtype: str,
    *,
    use: str = "loss",
    model: str = "framework",
    masked: bool = False,
    material: bool = True,
) -> Remedy:
    """The remedy of one cell finding (the first candidate), or :data:`NO_REMEDY`."""
    found = candidates(cause, Situation(method, dtype, use, model, masked, material=material))
    return found[0] if found else NO_REMEDY


def remedy(cause: str, s: Situation) -> str:
    """The text of the first candidate of ``cause`` in ``s`` (empty when no remedy is known)."""
    return next(iter(candidates(cause, s)), NO_REMEDY).text
