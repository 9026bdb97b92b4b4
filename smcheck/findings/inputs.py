"""Findings about the input itself (NaN/+inf, fully masked rows, sentinels, targets at a masked
class); one line each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from smcheck.dtypes import get_format
from smcheck.findings import remedytexts
from smcheck.report.maskmodel import (
    SEVERITIES,
    BecameMasked,
    InputFinding,
    MaskedOutput,
    Sentinel,
)
from smcheck.report.model import Cell, Count, RowIndex
from smcheck.report.phrases import (
    at_temperature,
    first_of,
    join_and,
    logit_inf,
    logit_inf_of_input,
    of_input,
    plural,
    row_index,
    runs,
    value_text,
    verb,
)


@dataclass(frozen=True)
class SentinelRows:
    """Source rows of mask values only (one sentinel value, perhaps beside -inf: see
    sentinels.classify): fully masked rows whose softmax is finite, the row's weight spread
    uniformly over its masks."""

    rows: int = 0
    first: RowIndex | None = None
    outputs: dict[tuple[str, str, float], MaskedOutput] = field(default_factory=dict)
    """What each method returned for them, per cell (where the cell keeps them finite)."""
    keys: int | None = None
    """The finite entries of every such row, which the exact softmax weighs equally (None: the
    rows differ)."""


def _kind(o: MaskedOutput, spread: str | None = None) -> str:
    if o.nan == o.rows:
        return "NaN"
    if o.zeros == o.rows:
        return "zeros"
    if spread and o.other == o.rows:
        return spread
    return "NaN or other values" if o.nan else "non-zero values"


def describe_outputs(
    outputs: dict[tuple[str, str, float], MaskedOutput], rows: int, spread: str | None = None
) -> tuple[str, bool]:
    """``"naive, shifted and torch return NaN for them"`` from per-cell outputs; and whether any
    method returns something other than zeros (the finding is then a warning). ``spread``
    names what a row neither NaN nor zeros nor partly NaN is (``that weight``)."""
    by_method: dict[str, dict[str, list[str]]] = {}
    for (method, dtype, t), o in outputs.items():
        if o.rows:
            kinds = by_method.setdefault(method, {})
            kinds.setdefault(_kind(o, spread), []).append(dtype + at_temperature(t))
    groups: dict[str, list[str]] = {}
    for method, kinds in by_method.items():
        if len(kinds) == 1:
            groups.setdefault(next(iter(kinds)), []).append(method)
        else:
            parts = [f"{k} in {join_and(where)}" for k, where in kinds.items()]
            groups.setdefault("; ".join(parts), []).append(method)
    phrases = [
        f"{join_and(methods)} {verb(len(methods), 'returns', 'return')} {kind}"
        for kind, methods in groups.items()
    ]
    bad = any(k != "zeros" for kinds in by_method.values() for k in kinds)
    them = verb(rows, "it", "them")
    return (join_and(phrases) + f" for {them}" if phrases else f"no method ran on {them}"), bad


def input_findings(
    *,
    upstream_rows: int,
    upstream_first: RowIndex | None,
    nan: int,
    posinf: int,
    masked_rows: int,
    masked_first: RowIndex | None,
    outputs: dict[tuple[str, str, float], MaskedOutput],
    became: Sequence[BecameMasked],
    sentinels: Sequence[Sentinel],
    softmin: bool = False,
    of_sentinels: SentinelRows | None = None,
    dtype: str | None = None,
) -> list[InputFinding]:
    """Every finding about the input, most severe kinds first.

    Fully masked rows are of two kinds, each its own ``fully_masked`` finding: rows entirely -inf
    (``masked_rows``: no softmax, left out of the method metrics) and rows of mask values only
    (``of_sentinels``: a finite softmax spread over the masks, judged). ``dtype``: the source's
    stored format; the remedy for upstream rows advises float32 only where it is narrower.

    The counts and values are of the softmax's input; under ``softmin`` that is -x, so the
    messages name the logits' own +inf masks and -inf (``+inf in -x``), and -x's sentinels.
    """
    out: list[InputFinding] = []
    # -x is exact: a logit's -inf is a +inf of -x, its +inf mask a -inf of -x
    if upstream_rows:
        first = first_of(upstream_rows, upstream_first, "first row")
        out.append(
            InputFinding(
                "upstream",
                "FAIL",
                f"{plural(upstream_rows, 'row')} {verb(upstream_rows, 'holds', 'hold')} NaN or "
                f"{logit_inf('+inf', softmin)} before any softmax runs ({nan} NaN, {posinf} "
                f"{logit_inf_of_input('+inf', softmin)}; {first}): "
                "no method can give them a distribution, so they are kept out of the method "
                "metrics -- " + remedytexts.fix_upstream(dtype),
            )
        )
    what, bad = describe_outputs(outputs, masked_rows)
    if masked_rows:
        first = first_of(masked_rows, masked_first, "first row")
        out.append(
            InputFinding(
                "fully_masked",
                "WARN" if bad else "INFO",
                f"{plural(masked_rows, 'fully masked row')} (every logit "
                f"{logit_inf_of_input('-inf', softmin)}; {first}): "
                f"{what}, and {verb(masked_rows, 'it is', 'they are')} kept out of the method "
                "metrics -- " + remedytexts.ZEROS_FOR_MASKED_ROWS,
            )
        )
    if of_sentinels is not None and of_sentinels.rows:
        out.append(_sentinel_rows(of_sentinels, softmin))
    out += [_became(b, outputs, softmin) for b in became if b.rows]
    for s in sentinels:
        out += _sentinel_findings(s, softmin)
    return sorted(out, key=lambda f: -SEVERITIES.index(f.severity))  # stable: kinds keep order


def masked_target_findings(cells: Sequence[Cell], use: str) -> list[InputFinding]:
    """One finding for the rows whose target class is masked (docs/design.md §5): p is 0 there,
    so the exact cross-entropy is infinite (huge, for a sentinel mask) whatever the method --
    the data's fault, not a method's, so it is said once for the source, not per cell.

    FAIL where the loss is judged (``use`` loss): it is what the trainer's loss reads for those
    rows (torch's cross_entropy gives inf), as the NaN or +inf input no method can help is; INFO
    where gradients were taken under another use. The cells' gradient metrics leave the rows out
    (``masked_target_rows``); a cast that rounds a target's logit to -inf masks it in that format
    only, so the format with the most such rows is the one counted.
    """
    graded = [c.gradient for c in cells if c.gradient is not None]
    worst = max(graded, key=lambda g: g.masked_target_rows, default=None)
    if worst is None or not worst.masked_target_rows:
        return []
    n = worst.masked_target_rows
    some = "" if all(g.masked_target_rows == n for g in graded) else "up to "
    first = first_of(n, worst.masked_target_first_row, "first row")
    return [
        InputFinding(
            "masked_target",
            "FAIL" if use == "loss" else "INFO",
            f"{some}{plural(n, 'row')} {verb(n, 'has', 'have')} the target at a masked class "
            f"(targets: {worst.target}; {first}): p = 0 there, so the cross-entropy is infinite "
            "(or, for a sentinel mask, huge) in any method; "
            f"{verb(n, 'it is', 'they are')} left out of the gradient metrics -- "
            f"{remedytexts.FIX_MASKED_TARGETS}, or leave those rows out of the loss "
            "(cross_entropy's ignore_index)",
        )
    ]


def _sentinel_rows(m: SentinelRows, softmin: bool) -> InputFinding:
    """Rows of mask values only: no NaN as rows of -inf give, but the whole weight on the masks
    (an attention query over padding alone averages the padded values), a warning when any
    method returns other than zeros there. Under softmin the masks are -x's."""
    what, bad = describe_outputs(m.outputs, m.rows, "that weight")
    what += _where_kept(m.outputs, m.rows)
    each = f" (1/{m.keys} each)" if m.keys else ""
    its = verb(m.rows, "its", "each row's")
    return InputFinding(
        "fully_masked",
        "WARN" if bad else "INFO",
        f"{plural(m.rows, 'fully masked row')} (every entry a mask value{of_input(softmin)}; "
        f"{first_of(m.rows, m.first, 'first row')}): the softmax gives no NaN there but spreads "
        f"{its} weight uniformly over its masked keys{each}: {what} -- "
        + remedytexts.ZEROS_FOR_MASKED_ROWS,
    )


def _where_kept(outputs: dict[tuple[str, str, float], MaskedOutput], rows: int) -> str:
    """`` in bfloat16..float64 (float16: below)``: where the outputs describe_outputs names were
    returned, when a format (or T) makes some of the ``rows`` entirely -inf -- -1e9 is -inf in
    float16 -- so every method's output there is its own became_fully_masked finding's, below
    (``no method ran on it`` then says why); nothing where every cell keeps them finite."""
    kept = [(d, t) for (_, d, t), o in outputs.items() if o.rows]
    lost = [(d, t) for (_, d, t), o in outputs.items() if o.rows < rows]
    if not lost:
        return ""
    order = list(dict.fromkeys(d for _, d, _ in outputs))
    some = ", some of them" if any(0 < o.rows < rows for o in outputs.values()) else ""
    if not kept:  # an INFO then, which a WARN became finding precedes: no "below"
        return f" ({verb(rows, 'it becomes', 'they become')} fully masked in {_where(lost, order)})"
    return f" in {_where(kept, order)} ({_where(lost, order)}{some}: below)"


def _became(
    b: BecameMasked,
    outputs: dict[tuple[str, str, float], MaskedOutput],
    softmin: bool,
) -> InputFinding:
    """Rows of finite logits entirely -inf once cast (or divided by T): a mask the format cannot
    hold where the rows hold only masks (sentinels), else logits beyond the format's range, as
    in a source without masks. Under softmin the rows are -x's, and the logits past the range
    are those above it."""
    where = b.dtype if b.temperature is None else f"{b.dtype} at T={b.temperature:g}"
    here = {k: o for k, o in outputs.items() if k[1] == b.dtype and b.temperature in (None, k[2])}
    what, bad = describe_outputs(here, b.rows)
    floor = value_text(-get_format(b.dtype).neg_overflow)
    past, into = (f"above {floor}", "+inf") if softmin else (f"below -{floor}", "-inf")
    of = " of -x" if softmin else ""
    rows = f"{plural(b.rows, 'row')}{of} {verb(b.rows, 'becomes', 'become')}"
    if b.masks:
        cause = (
            f"every finite logit rounds to {into} there"
            if b.temperature is None
            else (f"every finite logit is {into} there once divided by T")
        )
        text = f"{rows} fully masked in {where} ({cause}"
        remedy = remedytexts.mask_with_min(b.dtype, softmin) + (
            "" if b.temperature is None else remedytexts.AFTER_DIVIDING
        )
        # naive's exp of the format's minimum is 0 as well: a row of it is still 0/0 there
        if any(m == "naive" and o.rows and _kind(o) != "zeros" for (m, _, _), o in here.items()):
            remedy += f", and {remedytexts.SHIFTED_ONLY} for naive"
    elif b.temperature is None:
        text = f"{rows} entirely -inf in {where} (every logit is at or {past}, beyond its range"
        remedy = remedytexts.shift_before_cast(softmin)
    else:
        text = f"{rows} entirely -inf in {where} (every x/T is at or {past}"
        remedy = remedytexts.centre_logits(softmin)
    return InputFinding(
        "became_fully_masked",
        "WARN" if bad else "INFO",
        f"{text}; {first_of(b.rows, b.first_row, 'first row')}): {what} -- {remedy}",
        b.dtype,
        b.temperature,
    )


def _name(s: Sentinel, softmin: bool = False) -> str:
    """``mask sentinel -1e9``; under softmin ``mask sentinel -1e9 of -x`` (the logits hold 1e9)."""
    text = f"mask sentinel {value_text(s.value)}"
    return text + (f" ({s.label})" if s.label else "") + (" of -x" if softmin else "")


def _where(pairs: Sequence[tuple[str, float]], order: Sequence[str] | None = None) -> str:
    """``float16 and bfloat16 at T=100`` for (dtype, T) pairs, grouped by temperature; given the
    formats' ``order``, runs of three or more as a range (``bfloat16..float64 at T=100``)."""
    by_t: dict[float, list[str]] = {}
    for d, t in dict.fromkeys(pairs):
        by_t.setdefault(t, []).append(d)
    return "; ".join(
        (join_and(ds) if order is None else runs(ds, order)) + at_temperature(t)
        for t, ds in by_t.items()
    )


def _up_to(values: Sequence[int], word: str) -> str:
    n = max(values)
    return ("" if len(set(values)) == 1 else "up to ") + plural(n, word)


def _worst_row(c: Count, where: str = "") -> str:
    """``worst row [0,3]`` (the row with the most such entries; ``where``: the format it is of)
    of several rows; ``row [0,3]`` of one."""
    return first_of(c.rows, c.worst_row, "worst row") + where


def _sentinel_findings(s: Sentinel, softmin: bool) -> list[InputFinding]:
    """At most one finding per kind for one sentinel, its formats and temperatures together
    (under softmin the sentinel and its entries are -x's)."""
    out: list[InputFinding] = []
    name = _name(s, softmin)
    lost = [c for c in s.casts if not c.representable and c.to_neginf.elements]
    if lost:
        out.append(
            InputFinding(
                "sentinel_unrepresentable",
                "INFO",
                f"{name} is not representable in {join_and([c.dtype for c in lost])} and "
                f"becomes -inf there ({_up_to([c.to_neginf.elements for c in lost], 'entry')} in "
                f"{_up_to([c.to_neginf.rows for c in lost], 'row')}): the mask still gives p = 0, "
                "but a row holding only sentinels becomes fully masked -- "
                + remedytexts.mask_with_min(lost[0].dtype if len(lost) == 1 else None, softmin),
                lost[0].dtype if len(lost) == 1 else None,
            )
        )
    for c in s.casts:
        if c.representable and c.to_neginf.elements:
            f = get_format(c.dtype)
            limit = f.max + 2.0 ** (f.emax - f.t)  # halfway to the next power of two: rounds to inf
            out.append(
                InputFinding(
                    "sentinel_overflow",
                    "INFO",
                    f"sentinel + score overflows to -inf in {c.dtype}: "
                    f"{plural(c.to_neginf.elements, 'entry')} near {name} "
                    f"{verb(c.to_neginf.elements, 'is', 'are')} at or below "
                    f"-{value_text(limit)} (down to {value_text(s.min)}) in "
                    f"{plural(c.to_neginf.rows, 'row')} ({_worst_row(c.to_neginf)}) -- "
                    + remedytexts.mask_in_float32_or_clamp(c.dtype, softmin),
                    c.dtype,
                )
            )
    cast = {c.dtype: c.to_neginf.elements for c in s.casts}
    scaled = [
        (e, e.to_neginf.elements - cast.get(e.dtype, 0))
        for e in s.effects
        if e.temperature != 1 and e.to_neginf.elements > cast.get(e.dtype, 0)
    ]
    if scaled:
        first = scaled[0][0]
        at = first.dtype + at_temperature(first.temperature)  # the row's format of several
        out.append(
            InputFinding(
                "sentinel_scaled_to_neginf",
                "INFO",
                f"dividing by T turns {_up_to([n for _, n in scaled], 'entry')} of {name} "
                f"into -inf in {_where([(e.dtype, e.temperature) for e, _ in scaled])} ("
                + _worst_row(first.to_neginf, "" if len(scaled) == 1 else f" in {at}")
                + ") -- "
                + remedytexts.DIVIDE_BEFORE_MASKING,
                first.dtype if len(scaled) == 1 else None,
                first.temperature if len(scaled) == 1 else None,
            )
        )
    weak = [e for e in s.effects if e.weak.rows]
    if weak:
        worst = max(weak, key=lambda e: e.leak.max or 0.0)
        f = get_format(worst.dtype)
        out.append(
            InputFinding(
                "sentinel_weak",
                "WARN",
                f"{name} is too weak to mask in "
                f"{_where([(e.dtype, e.temperature) for e in weak])}: "
                f"its entries keep more probability than the format's rounding error u in "
                f"{_up_to([e.weak.rows for e in weak], 'row')}, up to {worst.leak.max:.3g} "
                f"({worst.dtype}{at_temperature(worst.temperature)}, u = {f.u:.3g}, row "
                f"{row_index(worst.leak.worst_row)}) -- "
                + remedytexts.mask_with_min(worst.dtype if len(weak) == 1 else None, softmin)
                + ("" if all(e.temperature == 1 for e in weak) else remedytexts.AFTER_DIVIDING),
                worst.dtype if len(weak) == 1 else None,
                worst.temperature if len(weak) == 1 else None,
            )
        )
    return out
