"""The sentences of the remedies, each written once: what a finding, a check message or an input
note tells the user to do. :mod:`smcheck.findings.remedies` chooses among them per cause; input
findings, the temperature advice and capture name them directly."""

from __future__ import annotations

from smcheck.report.phrases import softmax_input

MAX_SHIFTED = "use max-shifted softmax or torch.softmax"
SHIFTED_ONLY = "use max-shifted softmax"
TORCH_SOFTMAX = "use torch.softmax"
LOG_SOFTMAX = "use log_softmax / cross_entropy on the logits instead of log(softmax)"
FIX_MASKED_TARGETS = "fix the targets or the mask (a label on a padded or masked class)"
LSE_SUBTRACT_MAX = "subtract the max before the logsumexp (logdomain)"
CENTRE_LOGITS = "centre the logits before dividing ((x - max x) / T)"
CURB_CONFIDENCE = "curb over-confident logits (label smoothing, a higher temperature)"
MASKED_ROWS_ASIDE = (
    "nothing to fix where a row's other entries are masks (their probability is 0 by design); "
    "elsewhere "
)
"""Leads a saturation remedy in a masked source: a row saturated by its masks is no fault."""
MASKED_SATURATION = MASKED_ROWS_ASIDE + CURB_CONFIDENCE
CHECK_LOGIT_SCALE = "check the scale of the logits"
SUM_OR_TORCH = "accumulate the sum in float32 or use torch.softmax"
"""A 16-bit sum of exponentials overflowing (critical temperatures): torch sums in float32."""


TORCH_SUM = "use torch.softmax (its kernel never rounds the row sum to the format)"
"""A 16-bit row sum overflowing: torch's CPU kernel sums 16-bit formats in float32."""


def fix_upstream(*formats: str | None) -> str:
    """Fix the layer that produced the logits: run it in float32 only where it is known to have
    run narrower (``formats``: those it ran in, as far as the caller knows them)."""
    narrow = "run it in float32, or " if {"float16", "bfloat16"} & set(formats) else ""
    find = "find it with torch.autograd.detect_anomaly"
    return f"fix the layer that produced the logits ({narrow}{find})"


ZEROS_FOR_MASKED_ROWS = (
    "use a masked softmax that returns zeros there (as "
    "torch.nn.functional.scaled_dot_product_attention does), or drop the rows"
)
FAST_PATH_PADDING = (
    "drop fully padded sequences, or call torch.backends.mha.set_fastpath_enabled(False)"
)
SHIFT_BEFORE_CAST = "subtract the row max before the cast (softmax is shift-invariant)"
SHIFT_MIN_BEFORE_CAST = "subtract the row min before the cast (softmin is shift-invariant)"
DIVIDE_BEFORE_MASKING = "divide by T before masking, or in a wider format"
AFTER_DIVIDING = ", after dividing by T"
"""Appended to a mask remedy when the mask fails once divided by T (a cell's masked rows: at any
T < 1, where the format's own minimum divided by T is -inf too)."""


def softmax_in(wider: str) -> str:
    return f"compute the softmax in {wider}"


def softmax_and_loss_in(wider: str) -> str:
    """A loss or gradient fault sent to a wider format: the softmax goes too (a float16 p cast to
    float32 keeps its faults: a p already 0, the float16 backward of exp(x) / sum)."""
    return f"compute the softmax and loss in {wider}"


def centre_logits(softmin: bool = False) -> str:
    """:data:`CENTRE_LOGITS`; under softmin the softmax's input -x, centred: -x - max(-x)."""
    if not softmin:
        return CENTRE_LOGITS
    return f"centre {softmax_input(divided=False, softmin=True)} before dividing ((min x - x) / T)"


def centre_or_divide_in(wider: str | None, softmin: bool = False) -> str:
    """The remedy for logits that overflow when divided by T (critical temperatures add a clamp)."""
    divide = f", or divide and take the softmax in {wider}" if wider else ""
    return centre_logits(softmin) + divide


def shift_before_cast(softmin: bool = False) -> str:
    """Shift the logits so that none becomes +inf in the cast (nor a whole row -inf)."""
    return SHIFT_MIN_BEFORE_CAST if softmin else SHIFT_BEFORE_CAST


def divide_in(wider: str) -> str:
    """The remedy for x/T rounded in a narrow format (torch.softmax(x.float() / T, -1))."""
    return f"divide by T and take the softmax in {wider}"


def sum_in(wider: str) -> str:
    return f"accumulate the sum in {wider} or pairwise"


def normaliser_in(wider: str) -> str:
    return f"keep the running normaliser in {wider}"


def clamp_t(t: str | None, *, at_most: bool = False) -> str:
    """``, or clamp T to >= 0.25`` after a critical-temperature remedy (``<=`` ``at_most``, for
    a method that fails above it); nothing for None."""
    return f", or clamp T to {'<=' if at_most else '>='} {t}" if t else ""


def mask_with_min(dtype: str | None, softmin: bool = False) -> str:
    """Mask with the format's own minimum (-1e9 is -inf in float16, a fully masked row NaN);
    under softmin its maximum (softmin masks with large logits: 1e9 is +inf there)."""
    end = "max" if softmin else "min"
    if dtype is None:
        return f"mask with torch.finfo(dtype).{end} of the dtype the softmax runs in"
    return f"mask with torch.finfo(torch.{dtype}).{end}, a value {dtype} holds"


def mask_in_float32_or_clamp(dtype: str, softmin: bool = False) -> str:
    """The remedy for sentinel + score overflowing to -inf in ``dtype`` (+inf under softmin)."""
    end = "max" if softmin else "min"
    return f"add the mask in float32, or clamp to torch.finfo(torch.{dtype}).{end}"
