"""The remedy sentences every finding ends with, named once (the text after `` -- ``).

Where two findings spell the same remedy differently today the spellings are kept as separate
entries (outputs are compared byte for byte); each such drift is marked ``DRIFT`` to be unified
by a later change of wording.
"""

from __future__ import annotations

import math

# --- overflow and NaN of the probabilities -------------------------------------------------------
MAX_SHIFTED = "use max-shifted softmax or torch.softmax"
MAX_SHIFTED_OR_WIDER = "use max-shifted softmax or torch.softmax, or a wider format"
"""The ``--fail-on`` hint for overflow, NaN and error conditions (policy conditions)."""
SHIFTED = "use shifted softmax or torch.softmax"
"""DRIFT: :data:`MAX_SHIFTED` without "max-" (the remedy after a vacuous or loose bound)."""
MAX_SHIFTED_OR_LOG_DOMAIN = "use max-shifted or log-domain softmax, or a wider format"
"""For naive and lse-direct when the normwise error is too large."""

CENTRE_LOGITS = "centre the logits before dividing ((x - max x) / T)"
CENTRE_OR_FLOAT32 = CENTRE_LOGITS + ", or divide and take the softmax in float32"
RAISE_T = ", or raise T"
"""Appended to :data:`CENTRE_OR_FLOAT32` in a verdict (critical temperatures clamp T instead)."""


def clamp_t(t: float) -> str:
    """``, or clamp T to >= 0.25`` after a critical-temperature remedy; nothing for inf."""
    return f", or clamp T to >= {t:.4g}" if math.isfinite(t) else ""


# --- the sum -------------------------------------------------------------------------------------
SUM_IN_FLOAT32 = "accumulate the sum in float32"
SUM_IN_FLOAT32_OR_TORCH = "accumulate the sum in float32 or use torch.softmax"
SUM_IN_FLOAT32_OR_PAIRWISE = "accumulate in float32 or sum pairwise"
"""DRIFT: :data:`SUM_IN_FLOAT32` worded for a stalled sum."""
NORMALISER_IN_FLOAT32 = "keep the running normaliser in float32"
LSE_SUBTRACT_MAX = "subtract the max before the logsumexp (logdomain)"

BY_METHOD = {
    "naive": SHIFTED,
    "shifted": SUM_IN_FLOAT32,
    "logdomain": SUM_IN_FLOAT32,
    "lse-direct": LSE_SUBTRACT_MAX,
    "online": NORMALISER_IN_FLOAT32,
}
"""The remedy of each analysed algorithm when it, not the input, loses the accuracy."""

# --- formats -------------------------------------------------------------------------------------
USE_WIDER = "use a wider format"
"""The remedy when the input limits the accuracy, and of a method without its own remedy."""
WIDER = "compute in a wider format"
WIDER_SOFTMAX = "compute the softmax in a wider format"
LOG_DOMAIN_OR_WIDER = "work in the log domain or a wider format"

# --- log-probabilities and the cross-entropy loss ------------------------------------------------
LOG_SOFTMAX = "use log_softmax / cross_entropy on the logits"
LOG_SOFTMAX_NOT_LOG_P = "use log_softmax / cross_entropy on the logits instead of log(softmax)"
"""The ``--fail-on`` hint for log-probability, loss and NaN-gradient conditions."""
LOG_ROUTE = "use log_softmax / cross_entropy on logits instead of log(softmax)"
"""DRIFT: :data:`LOG_SOFTMAX_NOT_LOG_P` without "the" (gradient verdicts of log(p) methods)."""
LOSS_LOG_SOFTMAX_FLOAT32 = "compute the loss with log_softmax / cross_entropy in float32"
"""The ``--fail-on`` hint for dead and vanished gradients and the gradient error."""
CHECK_LOGIT_SCALE = "check the scale of the logits"
CURB_CONFIDENCE = "curb over-confident logits (label smoothing, a higher temperature)"
SOFTMAX_AND_LOSS_FLOAT32 = "compute the softmax and the loss in float32"
"""DRIFT: the ``--fail-on saturation`` hint; the verdict says :func:`softmax_and_loss_in`."""


def loss_in(wider: str) -> str:
    """``compute the loss in float32``: the gradient remedy where a wider format exists."""
    return f"compute the loss in {wider}"


def softmax_and_loss_in(wider: str) -> str:
    """The remedy for saturated rows where a wider format exists."""
    return f"compute the softmax and loss in {wider}, or {CURB_CONFIDENCE}"


# --- the input and its masks ---------------------------------------------------------------------
FIX_UPSTREAM = (
    "fix the layer that produced the logits (run it in float32, or find it with "
    "torch.autograd.detect_anomaly)"
)
ZEROS_FOR_MASKED_ROWS = (
    "use a masked softmax that returns zeros there (as "
    "torch.nn.functional.scaled_dot_product_attention does), or drop the rows"
)
MASK_WITH_DTYPE_MIN = "mask with torch.finfo(dtype).min of the dtype the softmax runs in"
MASK_WITH_NEGINF_OR_MIN = "mask with -inf or torch.finfo(dtype).min"
MASK_WITH_MIN_OR_HANDLE_MASKED_ROWS = "mask with torch.finfo(dtype).min or handle fully masked rows"
"""For NaN from rows that the format or T turned entirely into -inf."""
DIVIDE_BEFORE_MASKING = "divide by T before masking, or in a wider format"
AFTER_DIVIDING = ", after dividing by T"
"""Appended to a mask remedy when the mask fails only once divided by T."""


def mask_value_for(dtype: str) -> str:
    """The remedy for rows that become fully masked in ``dtype``."""
    return f"mask with a value {dtype} holds, such as torch.finfo(torch.{dtype}).min"


def mask_in_float32_or_clamp(dtype: str) -> str:
    """The remedy for sentinel + score overflowing to -inf in ``dtype``."""
    return f"add the mask in float32, or clamp to torch.finfo(torch.{dtype}).min"


# --- the registry: a cell finding's remedy by cause, method and format ---------------------------
WIDER_FORMAT = {"float16": "float32", "bfloat16": "float32", "float32": "float64"}
"""The next wider format of each, where one exists."""


def _gradient_fix(method: str, dtype: str) -> str:
    from smcheck.methods import METHODS

    m = METHODS.get(method)
    if m is not None and m.log_route == "log(p)":
        return LOG_ROUTE
    wider = WIDER_FORMAT.get(dtype)
    return loss_in(wider) if wider else CHECK_LOGIT_SCALE


def _dead_gradient_fix(method: str, dtype: str) -> str:
    fix = _gradient_fix(method, dtype)
    return CURB_CONFIDENCE if fix == CHECK_LOGIT_SCALE else fix


def _saturation_fix(method: str, dtype: str) -> str:
    wider = WIDER_FORMAT.get(dtype)
    return softmax_and_loss_in(wider) if wider else CURB_CONFIDENCE


def _normwise_fix(method: str, dtype: str) -> str:
    return MAX_SHIFTED_OR_LOG_DOMAIN if method in ("naive", "lse-direct") else WIDER


def _constant(text: str):
    return lambda method, dtype: text


CELL_REMEDIES = {
    "temperature-overflow": _constant(CENTRE_OR_FLOAT32 + RAISE_T),
    "exp-overflow": _constant(MAX_SHIFTED),
    "probability-nan": _constant(""),
    "log-of-zero": _constant(LOG_SOFTMAX),
    "underflow": _constant(LOG_DOMAIN_OR_WIDER),
    "argmax-flip": _constant(WIDER_SOFTMAX),
    "normwise-error": _normwise_fix,
    "loss-inf": _gradient_fix,
    "loss-nan": _gradient_fix,
    "gradient-nan": _gradient_fix,
    "dead-gradient": _dead_gradient_fix,
    "saturation": _saturation_fix,
    "bound-violated": _constant(""),
    "stall": _constant(SUM_IN_FLOAT32_OR_PAIRWISE),
    "ill-conditioned": _constant(USE_WIDER),
    "vacuous-bound": lambda method, dtype: BY_METHOD.get(method, USE_WIDER),
    "algorithm-error": lambda method, dtype: BY_METHOD.get(method, USE_WIDER),
    # causes judged by use/masks (judgement)
    "masked-row-nan": _constant(MASK_WITH_MIN_OR_HANDLE_MASKED_ROWS),
}
"""Every cause a cell's verdict can name, with the function that picks its remedy."""


def remedy(cause: str, method: str, dtype: str) -> str:
    """The remedy of one cell finding: chosen by its cause, the cell's method and its format."""
    return CELL_REMEDIES[cause](method, dtype)
