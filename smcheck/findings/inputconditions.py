"""Input conditions (``--fail-on input,fully-masked``): the source's values themselves, checked
once per source; on by default in ``smcheck check`` (docs/ci.md)."""

from __future__ import annotations

from smcheck.findings import remedytexts
from smcheck.findings.conditiontypes import Hit, Metric
from smcheck.report.model import InputSummary, RowIndex
from smcheck.report.phrases import first_of, logit_inf, logit_inf_of_input, of_input, plural


def _first(n: int, row: RowIndex | None) -> str:
    """``, first row [0,3]`` of ``n`` rows; ``, row [0,3]`` of one."""
    return "" if row is None else ", " + first_of(n, row, "first row")


def _upstream(s: InputSummary, softmin: bool, dtype: str | None = None) -> Hit:
    # the summary counts the softmax's input: under softmin its +inf are the logits' -inf
    detail = (
        f"{plural(s.upstream_rows, 'row')} with NaN or {logit_inf('+inf', softmin)} in the input "
        f"before any softmax ({s.nan} NaN, {s.posinf} {logit_inf_of_input('+inf', softmin)})"
        + _first(s.upstream_rows, s.upstream_first_row)
    )
    fix = remedytexts.fix_upstream(dtype)  # float32 advised only below it
    return Hit(float(s.upstream_rows), s.upstream_rows, s.upstream_first_row, detail, fix)


def _fully_masked(s: InputSummary, softmin: bool, dtype: str | None = None) -> Hit:
    n, of_masks = s.fully_masked_rows, s.fully_masked_sentinel_rows
    # two kinds (docs/design.md §9): rows entirely -inf, rows of mask values only
    kinds = [
        *([f"every logit {logit_inf_of_input('-inf', softmin)}"] if n > of_masks else []),
        *([f"every entry a mask value{of_input(softmin)}"] if of_masks else []),
    ]
    every = "; or ".join(kinds)
    detail = f"{plural(n, 'row')} fully masked in the input ({every})" + _first(
        n, s.fully_masked_first_row
    )
    return Hit(float(n), n, s.fully_masked_first_row, detail)


INPUT_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "input",
            "rows with NaN or +inf (-inf under softmin) in the input",
            _upstream,
            remedytexts.fix_upstream(),
        ),
        Metric(
            "fully-masked",
            "rows whose every logit is -inf (+inf under softmin), or every entry a mask value, in "
            "the input",
            _fully_masked,
            remedytexts.ZEROS_FOR_MASKED_ROWS,
        ),
    )
}
"""Conditions on the source's values themselves, checked once per source (not per cell)."""

OBSERVED_NAN = "observed_nan"
"""A captured site's finding for the rows its op returned as NaN (not a NaN loss of no row)."""

FINDING_OF: dict[str, tuple[str, ...]] = {
    "input": ("upstream",),
    "fully-masked": ("fully_masked",),
    "nan": (OBSERVED_NAN, "observed_loss_nan"),
    "loss-inf": ("observed_loss", "log_underflow"),
}
"""The input findings each input condition reports (and, on a captured site's input, ``nan``:
the NaN rows its op returned as the model ran and the NaN loss a call returned, ``loss-inf``:
the infinite loss it returned, also where a log(softmax) that underflowed at nll_loss made it
inf): a verdict level (``fail``) leaves them out where that condition is met, so one problem is
one violation."""


def observed(s: InputSummary, condition: str) -> Hit | None:
    """What a captured site's op returned as the model ran, as the findings of ``condition``
    (:data:`FINDING_OF`: ``nan``, ``loss-inf``) say it, each of them; counted once per source
    beside the cells' own; files have none."""
    found = [f.message for f in s.findings if f.kind in FINDING_OF[condition]]
    return Hit(1.0, None, None, "; ".join(found)) if found else None


def explained_nan(s: InputSummary, nan_rows: int, said: set[str]) -> bool:
    """Whether every row a captured site's op returned as NaN is a row whose finding ``said``
    holds: NaN or +inf at its input (``upstream``), every logit -inf (``fully_masked``; a row of
    mask values only gives no NaN). Each such row returns NaN, so the counts add up exactly
    when no other row did; the ``observed_nan`` finding then tells the same problems."""
    explained = s.upstream_rows if said & set(FINDING_OF["input"]) else 0
    if said & set(FINDING_OF["fully-masked"]):
        explained += s.fully_masked_rows - s.fully_masked_sentinel_rows
    return 0 < nan_rows <= explained
