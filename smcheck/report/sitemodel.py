"""Where a captured softmax ran in a live model (``smcheck.capture``): one call site."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    """One call site of a softmax-family op, as ``smcheck.capture`` recorded it."""

    op: str
    """The op as called: ``softmax``, ``log_softmax``, ``cross_entropy``, ``nll_loss``,
    ``scaled_dot_product_attention``, ``softmin``."""
    module: str
    """The path of the innermost module running it (``encoder.layers.0.self_attn``); ``""`` at
    the top level."""
    file: str
    """The Python file of the call (the first frame outside torch), relative when inside the
    working directory."""
    line: int
    dtype: str
    """The format the op ran in, after autocast's casting rules (its output's dtype)."""
    autocast: str | None
    """The autocast state at the call (``cpu:bfloat16``), None when off."""
    dim: int
    """The softmax axis of the op's input, as the call gave it."""
    calls: int
    rows_seen: int
    """Rows the op computed over all calls."""
    rows_sampled: int
    """Rows kept for the analysis (at most ``max_rows_per_site``, seeded; rows whose output held
    NaN are kept first)."""
    nan_rows: int
    """Rows in which the op returned NaN as the model ran (all calls, not only the sample)."""
    use: str
    """What the op's result feeds: ``probs``, ``logprobs`` or ``loss``."""
    via: str | None = None
    """The torch line that called the op when it ran inside a torch function or module
    (``torch/nn/modules/adaptive.py:283``): tells apart the softmaxes of one user line."""
    reconstructed: bool = False
    """The softmax is inside a fused kernel: its scaled, masked scores were rebuilt from q, k."""


def rows_dtype(dtype: str, site: Site | None) -> str:
    """The analysed rows' format as a source's header gives it: ``float32``; for a site whose
    softmax is fused (SDPA) ``float32, scores rebuilt from q and k``, since the site's name gives
    the format the kernel ran in (``in float16``), which is not the format of these rows."""
    return (
        f"{dtype}, scores rebuilt from q and k"
        if site is not None and site.reconstructed
        else dtype
    )
