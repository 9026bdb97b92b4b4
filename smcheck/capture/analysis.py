"""Captured sites -> a Report: each site one source, judged in the format it ran in and wider."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smcheck import __version__, api
from smcheck.capture.logsoftmax import site_findings as log_softmax_findings
from smcheck.config import AnalysisConfig
from smcheck.dtypes import DTYPES, get_format, next_wider
from smcheck.environment import collect_environment
from smcheck.errors import ConfigError
from smcheck.findings import remedytexts
from smcheck.report.maskmodel import SEVERITIES, InputFinding
from smcheck.report.model import Report, SourceReport
from smcheck.report.phrases import num, plural, verb
from smcheck.report.sitemodel import Site
from smcheck.sources.loaders import LoadedArray, array_source
from smcheck.sources.targets import TargetIndices, read_targets
from smcheck.sources.validation import widened_note


@dataclass(frozen=True)
class Captured:
    """One site's sampled rows (softmax axis last) as analysed, in memory or read from a file."""

    name: str
    site: Site
    rows: np.ndarray
    source_dtype: str
    """The stored format of the rows: the dtype of the op's input (bfloat16 widened exactly)."""
    targets: np.ndarray | None = None
    """The class index of each row, for a loss site (the gradient targets)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Counters behind the notes: nan_masked, nan_upstream, nan_finite, masked_zero_rows, padded,
    budget, seed; and fast_path (module, kind, padded) where a module above the site would have
    taken torch's fast path uncaptured (capture/fastpath.py)."""


SITE_OWN_OPTIONS = {
    "dim": "each site is analysed along the axis its own call used (site.dim)",
    "softmin": "each site is analysed as its op ran (a softmin call as softmin)",
}
"""``smcheck.analyze`` options a captured site answers itself: refused, since ignored they would
look honoured."""


def refuse_site_options(options: dict[str, Any], spelling: str = "option '{}'") -> None:
    """Raise ConfigError for an option in :data:`SITE_OWN_OPTIONS` (given, not None);
    ``spelling`` names it as the caller's user wrote it (``"--{}"`` on the command line)."""
    for key, why in SITE_OWN_OPTIONS.items():
        if options.get(key) is not None:
            name = spelling.format(key)
            raise ConfigError(f"{name} does not apply to captured sites: {why}; leave it out")


def checked_mask_value(mask_value: Any) -> float | None:
    """A capture's one ``mask_value``, finite and not 0: its sign says whose mask it is
    (:func:`site_mask_value`); raises ConfigError otherwise."""
    if mask_value is None:
        return None
    try:  # a meta tensor has no value to read: RuntimeError
        mv = float(mask_value)
    except (TypeError, ValueError, RuntimeError):
        mv = math.nan
    if not math.isfinite(mv) or mv == 0:
        raise ConfigError(
            f"mask value {mask_value!r} is not a finite nonzero number; give the value the input "
            "masks with: negative for a softmax's input (e.g. -1e4), positive for a softmin's "
            "logits (e.g. 1e4)",
            options=("mask_value",),
        )
    return mv


def site_mask_value(mask_value: float | None, softmin: bool) -> float | None:
    """The mask value a site is analysed with, read by its sign, since one value serves the
    softmax and softmin sites of a capture alike: negative, a mask of the softmax's input (a
    softmin site gets it negated: softmin's logits x are that input's -x); positive, a softmin
    logit mask (a softmax site gets none: no softmax input masks with a positive value)."""
    if mask_value is None:
        return None
    if mask_value > 0:  # a softmin logit mask
        return mask_value if softmin else None
    return -mask_value if softmin else mask_value  # a mask of the softmax's input


def refuse_unmatched_mask_value(mask_value: float | None, ops: list[str], holder: str) -> None:
    """Raise ConfigError for a positive mask value (a softmin's logit mask) where no site of
    ``holder`` is a softmin: every site would leave it out, so it would look honoured."""
    if mask_value is not None and mask_value > 0 and "softmin" not in ops:
        raise ConfigError(
            f"mask value {mask_value!r} is positive, a softmin's logit mask, but {holder} holds "
            f"no softmin site; give the value its softmax inputs are masked with, a negative one "
            f"(e.g. {-mask_value!r})",
            options=("mask_value",),
        )


def check_site_options(options: dict[str, Any]) -> None:
    """Refuse, before anything is captured, what :func:`analyze_captured` would refuse."""
    refuse_site_options(options)
    opts = {k: v for k, v in options.items() if v is not None and k != "progress"}
    opts["mask_value"] = site_mask_value(checked_mask_value(opts.get("mask_value")), False)
    AnalysisConfig.from_options(**opts)


def formats_for(dtype: str) -> tuple[str, ...]:
    """The format a site ran in and every wider one (bfloat16 skips float16: not wider)."""
    if dtype not in DTYPES:
        return DTYPES
    wider = {"float16": ("float32", "float64"), "bfloat16": ("float32", "float64")}
    return (dtype, *wider.get(dtype, DTYPES[DTYPES.index(dtype) + 1 :]))


def softmax_formats(c: Captured) -> tuple[str, ...]:
    """The formats a site's softmax is judged in: those its kernel's softmax really runs in.
    A fused SDPA kernel keeps its scores in the rebuilt rows' format (float32 under a 16-bit
    kernel), never in the site's, so the site's 16-bit cell would judge a cast it never makes."""
    return formats_for(c.source_dtype if c.site.reconstructed else c.site.dtype)


def analyze_captured(
    captured: list[Captured], *, holder: str = "the capture", **options: Any
) -> Report:
    """The report of every captured site; ``options`` as ``smcheck.analyze`` takes them.

    The model ran torch's kernel, so unless ``methods`` are given the other methods' cells are
    hypothetical: shown, never the verdict. Per site, unless given: ``dtypes`` is the site's
    format and the wider ones, ``targets`` the captured class targets of a loss, ``gradients``
    only for a loss site (the gradient check is a cross-entropy's), and ``use`` the site's use.
    ``dim`` and ``softmin`` are the site's own (:data:`SITE_OWN_OPTIONS`): given, they raise
    ConfigError, as does a positive ``mask_value`` (a softmin's) where no site is a softmin;
    ``holder`` names the capture in that message. ``progress`` is called as for
    ``smcheck.analyze``.
    """
    refuse_site_options(options)
    options = api.as_given(options)  # temperatures=() refused, not the default
    progress = options.pop("progress", None)
    mask_value = checked_mask_value(options.pop("mask_value", None))
    refuse_unmatched_mask_value(mask_value, [c.site.op for c in captured], holder)
    out = []
    for c in captured:
        opts = {k: v for k, v in options.items() if v is not None}
        opts["dim"] = -1  # rows are stored with the softmax axis last
        opts.setdefault("dtypes", softmax_formats(c))
        from_site = "use" not in opts
        opts.setdefault("use", c.site.use)  # the use decides gradients too (loss sites only)
        grads = opts["use"] == "loss" if opts.get("gradients") is None else opts["gradients"]
        if c.targets is not None and grads and opts.get("model", "framework") == "framework":
            # only where a loss reads them: no unused note
            opts.setdefault("targets", _site_targets(c.targets))
        softmin = c.site.op == "softmin"
        if softmin:  # the rows hold -x: analysed as softmin of x, messages speak of x and -x
            opts["softmin"] = True
        if (mv := site_mask_value(mask_value, softmin)) is not None:
            opts["mask_value"] = mv
        cfg = AnalysisConfig.from_options(**opts)
        source = captured_source(c, negated=softmin)
        # api.run_sources looked up at each call, so a wrapper installed later is the one used
        rep = api.run_sources([source], cfg, progress=progress).sources[0]
        if from_site:  # the op decided it, not a --use the user gave
            rep = dataclasses.replace(rep, use_reason=f"the captured op: {c.site.op}")
        out.append(_with_site(_kernel_cells(rep, c), c))
    return Report(out, __version__, collect_environment(options.get("threads")))


CAPTURED_TARGETS = "the captured class targets"
"""How a report names the class indices a loss site's calls were given (its gradient targets)."""


def _site_targets(targets: np.ndarray) -> TargetIndices:
    """The site's class targets, named as such, not as an array the user passed."""
    return dataclasses.replace(read_targets(targets), label=CAPTURED_TARGETS)


def captured_source(c: Captured, negated: bool = False) -> LoadedArray:
    """The rows as a source, identical whether they come from memory or from a saved file;
    ``negated``: -rows (a softmin site's x, from the -x it is stored as; exact)."""
    loaded = array_source(-c.rows if negated else c.rows, c.name)
    return dataclasses.replace(
        loaded, source_dtype=c.source_dtype, notes=widened_note(c.source_dtype, loaded.array)
    )


def _kernel_cells(rep: SourceReport, c: Captured) -> SourceReport:
    """A fused site's cells in a format its softmax never runs in (a ``dtypes`` given) made
    hypothetical: shown as comparisons, never the verdict. Another site's narrower cells stay
    judged: a what-if asked of the softmax as it ran, not of a cast its kernel skips."""
    ran = softmax_formats(c)
    if not c.site.reconstructed or all(cell.dtype in ran for cell in rep.cells):
        return rep
    cells = [
        cell if cell.dtype in ran else dataclasses.replace(cell, hypothetical=True)
        for cell in rep.cells
    ]
    return dataclasses.replace(rep, cells=cells)


def _with_site(rep: SourceReport, c: Captured) -> SourceReport:
    """The source report with its site, the capture's notes and what the model itself returned."""
    s, x = c.site, c.extra
    notes = list(rep.notes)
    masked = x.get("masked_zero_rows", 0)
    sampled = s.rows_sampled + masked < s.rows_seen  # else every row fit the budget
    if sampled:
        notes.append(
            f"a sample: {s.rows_sampled} of {plural(s.rows_seen, 'row')} over "
            f"{plural(s.calls, 'call')} (max_rows_per_site={x.get('budget')}, "
            f"seed={x.get('seed')}; rows that returned NaN first)"
        )
    if s.reconstructed:
        notes.append(
            "reconstructed: scaled_dot_product_attention computes its softmax inside a fused "
            "kernel; these rows are its scaled, masked scores rebuilt from q, k, the mask, "
            f"is_causal and scale (in {c.source_dtype}, as the kernels accumulate them), and "
            "the torch cells are torch.softmax of them"
        )
        if (wide := _wider_than_site(rep, c)) is not None:
            notes.append(wide)
    if masked:
        them = verb(masked, "it", "them")
        notes.append(
            f"{plural(masked, 'fully masked row')} left out: the fused kernel returned {them} "
            "as zeros"
            if sampled
            else f"{masked} of {plural(s.rows_seen, 'row')} left out: fully masked, the fused "
            f"kernel returned {them} as zeros"
        )
    if x.get("padded"):
        notes.append("calls with different row lengths: shorter rows padded with -inf (p = 0)")
    notes += x.get("loss_calls", {}).get("unmodelled", [])
    found = [
        _observed_nan(s, x, c.source_dtype),
        _observed_loss(s, x),
        _fast_path(x),
    ]
    found = [f for f in found if f is not None]
    under, own = log_softmax_findings(s, x.get("log_underflow"), rep.input.findings)
    found += [under] if under is not None else []
    # most severe first, as the input's own findings are (a policy reads the first)
    findings = sorted([*found, *own], key=lambda f: -SEVERITIES.index(f.severity))
    inp = dataclasses.replace(rep.input, findings=findings)
    return dataclasses.replace(rep, site=s, notes=notes, input=inp)


def _wider_than_site(rep: SourceReport, c: Captured) -> str | None:
    """Why a fused site's own format judges nothing (no cells, or comparisons where ``dtypes``
    named it), and whether its scores would fit that format."""
    site, rows = c.site.dtype, c.source_dtype
    if site not in DTYPES or site in softmax_formats(c):
        return None
    shown = any(cell.dtype == site for cell in rep.cells)
    text = (
        f"{f'its {site} cells are comparisons, never the verdict' if shown else f'no {site} cells'}"
        f": the fused kernel keeps these scores in {rows}, never in {site}, so its softmax is "
        f"judged in {rows} and wider"
    )
    products, fmax = c.extra.get("products"), get_format(site).max
    if products is None:  # saved before it was recorded: the rows hold the mask, no guess
        return f"{text}; this capture does not record q @ k.T (an unfused attention's product)"
    # an unfused attention stores q @ k.T (nanoGPT, Hugging Face eager) or q * scale @ k.T;
    # the rebuilt rows add the mask (-3e4, finfo.min) and say nothing of either
    qk, scaled = products["qk"], products["scaled"]
    if max(qk, scaled) > fmax:
        fits = {True: "would overflow it", False: "would fit"}
        text += (
            f"; materialised in {site} as (q @ k.T) * scale, q @ k.T up to {num(qk)} "
            f"{fits[qk > fmax]} (max {fmax:g}); scaled first, (q * scale) @ k.T, up to "
            f"{num(scaled)} {fits[scaled > fmax]}"
        )
    return text


def _fast_path(x: dict[str, Any]) -> InputFinding | None:
    """The module above the site would have taken torch's fast path uncaptured, so the report
    speaks for its ordinary path; WARN where that path returned fully masked rows as zeros and
    the fast path, run on this torch, returns NaN for a fully padded sequence."""
    fp = x.get("fast_path")
    if not fp:
        return None
    where = f"the {fp['kind']}" + (f" at {fp['module']}" if fp["module"] else "")
    text = (
        f"{where} would take torch's fast path as run here (eval mode, no gradients), which "
        "capture turns off, so this report speaks for its ordinary path"
    )
    padded, masked = fp.get("padded"), x.get("masked_zero_rows", 0)
    said = "for a fully padded sequence (key_padding_mask all True; run on this torch)"
    if padded == "NaN" and masked:
        text += (
            f": that returned {plural(masked, 'fully masked row')} as zeros, the fast path "
            f"returns NaN {said} -- {remedytexts.FAST_PATH_PADDING}"
        )
        return InputFinding("fast_path_skipped", "WARN", text)
    if padded is not None:
        text += f"; the fast path returns {padded} {said}"
    return InputFinding("fast_path_skipped", "INFO", text)


def _observed_loss(s: Site, x: dict[str, Any]) -> InputFinding | None:
    """FAIL where the call returned a non-finite loss for a term its rows' cells do not model
    (label smoothing, probability targets, every target ignored: capture/losscall.py)."""
    c = x.get("loss_calls")
    if not c or not c["nonfinite"]:
        return None
    calls = f" in {c['nonfinite']} of {plural(s.calls, 'call')}" * (c["nonfinite"] < s.calls)
    return InputFinding(
        # not observed_nan: those are rows the op returned as NaN, whose input may explain them
        "observed_loss_nan" if c["value"] == "NaN" else "observed_loss",
        "FAIL",
        f"{s.op} ({s.file}:{s.line}) returned {c['value']} as the model ran in {s.dtype}{calls}: "
        f"{c['cause']} -- {c['fix']}",
        s.dtype,
    )


def _observed_nan(s: Site, x: dict[str, Any], source_dtype: str) -> InputFinding | None:
    """FAIL when the op returned NaN as the model ran: a real failure, whatever the cells say.
    Each cause found among the sampled NaN rows is counted and gets its own fix;
    ``source_dtype``: the format the op's input was stored in (the layer before ran in it)."""
    if not s.nan_rows:
        return None
    masked, upstream = x.get("nan_masked", 0), x.get("nan_upstream", 0)
    # a capture saved before the count: the other rows were counted as finite
    finite = x.get("nan_finite", s.nan_rows - masked - upstream)
    softmin = s.op == "softmin"  # its rows are stored as -x: masked where x is +inf
    wider = next_wider(s.dtype)
    causes = [  # (rows, what they are, short name, fix)
        (
            masked,
            f"fully masked (every logit {'+' if softmin else '-'}inf in {s.dtype})",
            "fully masked rows",
            f"{remedytexts.mask_with_min(s.dtype, softmin)}; or "
            f"{remedytexts.ZEROS_FOR_MASKED_ROWS}",
        ),
        (
            upstream,
            f"already NaN or {'-' if softmin else '+'}inf at its input",
            "the input's NaN",
            remedytexts.fix_upstream(s.dtype, source_dtype),
        ),
        (
            finite,
            "with finite logits",
            "finite logits",
            f"compute it in {wider}" if wider else "scale the logits into a narrower range",
        ),
    ]
    found = [c for c in causes if c[0]]
    unsampled = s.nan_rows - masked - upstream - finite
    whys = [f"{n} {what}" for n, what, _, _ in found] + [f"{unsampled} not sampled"] * bool(
        unsampled > 0
    )
    if len(found) == 1:
        fix = found[0][3]
    else:  # several causes, several fixes (none: every NaN row is outside the sample)
        fix = "; ".join(f"{name}: {f}" for _, _, name, f in found) or (
            "raise max_rows_per_site to sample them"
        )
    where = f" at {s.module}" if s.module else ""
    return InputFinding(
        "observed_nan",
        "FAIL",
        f"{s.op}{where} ({s.file}:{s.line}) returned NaN in "
        f"{plural(s.nan_rows, 'row')} of {s.rows_seen} as the model ran in {s.dtype}: "
        f"{', '.join(whys)} -- {fix}",
        s.dtype,
    )
