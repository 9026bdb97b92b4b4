"""Settling a source's remedies against its own cells: a switch seen to fail is never advised.

Each finding's remedy is first the registry's best candidate (:mod:`smcheck.findings.remedies`);
once every cell of a source is judged, :func:`settle` re-picks it, skipping a candidate that
names a cell analysed and showing the same cause (a wider format that saturates too, a
torch.softmax offered beside the shift that NaNs too) or a FAIL the switch would carry over
(torch × float16 under use=loss, whose log_softmax rounds its row sum to float16).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from smcheck.dtypes import get_format
from smcheck.findings.cellfindings import JUDGED_FROM
from smcheck.findings.remedies import CELL_REMEDIES, NO_REMEDY, Remedy, candidates
from smcheck.findings.situation import (
    Situation,
    exact_p_saturates,
    sums_stalled,
    takes_log_of_p,
)
from smcheck.report.model import Cell, SourceReport
from smcheck.report.phrases import cell_name


def settle(
    cells: Sequence[Cell],
    *,
    use: str = "loss",
    masked: bool = False,
    largest: float | None = None,
    lowest: float | None = None,
    mask_lowest: float | None = None,
    softmin: bool = False,
    gradient_abs_u: float = 4.0,
) -> list[Cell]:
    """``cells`` with each finding's remedy re-picked from its candidates, knowing every cell
    (and ``largest``, the judged rows' largest logit, which a format named for the cast must
    hold; ``lowest``, the smallest row maximum of those holding logits, which one named for
    rows the cast or T made entirely -inf must hold, divided by each cell's T, and
    ``mask_lowest`` that of those holding only masks, for theirs; ``softmin``: the cells are
    softmax(-x); ``gradient_abs_u``: the materiality limit of a lost gradient, in u).

    A candidate names a cell of this report (same temperature and model) or one not analysed,
    and may offer other methods beside it (``Remedy.also``), which must not be seen to fail.
    The first whose cell was analysed and is free of the finding's cause wins; failing that, the
    first not seen to fail (a cell not analysed, or advice that names no cell). A candidate whose
    cell shows the same cause (:func:`_fails`) is never advised, nor one whose cell, or a method
    it offers beside it, shows a FAIL (as the use judges it) that the switch would carry over
    (:meth:`_Seen.refutes`: of a cause the finding's own cell does not FAIL with, and not one of
    the log(p) route shared by both); when all are refused, the finding has no remedy. A cell
    that shows the cause only as a NOTE (immaterial) is free of it, but for a NOTE finding only
    in a wider format (its limit scales with a smaller u; the same format's NOTE is no better).
    """
    seen = {_key(c.method, c.dtype, c): _seen(c) for c in cells}
    # every row's max 0, rows of masks only included (their max is the sentinel)
    zero = largest == 0 and lowest == 0 and mask_lowest in (None, 0.0, math.inf)
    base = Situation(
        "", "", use, masked=masked, largest=largest, softmin=softmin, max_zero=zero,
        gradient_abs_u=gradient_abs_u,
    )  # fmt: skip
    return [
        _settled(
            c,
            seen,
            dataclasses.replace(
                base,
                model=c.model,
                top=_divided(largest, c),
                lowest=_over(lowest, c),
                temperature=c.temperature,
                stalled=sums_stalled(c.accumulation),
                confident=exact_p_saturates(c.metrics),
            ),
            _over(mask_lowest, c),
        )
        for c in cells
    ]


def source_situation(source: SourceReport) -> Situation:
    """What the remedies of ``source``'s cells depend on, as its report holds it: the use, the
    masks and softmin, and the judged rows' largest logit where no upstream row can hold a
    larger finite one (the smallest row maximum is not in the report: a cell whose rows it
    masked has its own ``masked-row-nan`` finding, settled with it, as a cast overflow has)."""
    inp = source.input
    largest = inp.max if not inp.upstream_rows else None
    return Situation(
        "", "", source.use, masked=inp.has_masks, largest=largest, softmin=source.softmin
    )


def _divided(largest: float | None, cell: Cell) -> float | None:
    """``largest`` / T, what naive takes exp of (None: unknown)."""
    if largest is None or not math.isfinite(largest):
        return None
    return largest / cell.temperature


def _over(lowest: float | None, cell: Cell) -> float | None:
    """``lowest`` as far from 0 as the cell's softmax takes it: the cast comes before the
    division by T, so a format must hold the raw value and, for T < 1, the quotient (None:
    unknown)."""
    if lowest is None or not math.isfinite(lowest):
        return None
    return lowest / min(cell.temperature, 1.0)


@dataclasses.dataclass(frozen=True)
class _Seen:
    """What settle knows of an analysed cell."""

    causes: dict[str, bool]
    """Each cause the cell names: whether any of its findings of it is WARN or FAIL."""
    failing: frozenset[str]
    """The causes of its FAIL findings (under the run's use: one the use does not judge is a
    NOTE)."""
    log_of_p: bool
    """Its log-probabilities are log(softmax) (naive, shifted, online)."""
    lost: float | None
    """What its dead gradient elements lose (its worst dead element's exact |g|; None: none)."""

    def refutes(self, here: _Seen) -> bool:
        """A switch from the cell ``here`` to this one would carry a FAIL over: one of a cause
        that ``here`` does not FAIL with (one it does is there whatever the switch, remedied by
        its own finding: log(p) at exp(-1005) is -inf in every format, shifted or not), nor,
        between two log(p) routes, one of that route (a p of 0 is -inf in both, where the
        overflow's NaN hid it in ``here``; its loss finding sends it to log_softmax)."""
        brought = self.failing - here.failing
        if self.log_of_p and here.log_of_p:
            brought -= JUDGED_FROM.keys()
        return bool(brought)


def _seen(cell: Cell) -> _Seen:
    causes: dict[str, bool] = {}
    for f in cell.findings:
        causes[f.cause] = causes.get(f.cause, False) or f.severity != "NOTE"
    failing = frozenset(f.cause for f in cell.findings if f.severity == "FAIL")
    lost = cell.gradient.dead_max if cell.gradient and "dead-gradient" in causes else None
    return _Seen(causes, failing, takes_log_of_p(cell.method), lost)


def _key(method: str, dtype: str, cell: Cell) -> tuple[str, str, float, str]:
    return (method, dtype, cell.temperature, cell.model)


_KNOWN_BY_ROWS = "saturation"
"""A cause reported by its rows, not by what they lose: a wider cell that shows it, even as a
NOTE, rounds the same exact p_max to 1 (a p of 1 - 2.5e-13 in float32 as in float16), which a
switch there leaves as it is; and one not analysed may well do so too ([0, -20]: 1 - p_max =
2.1e-9, under float32's u/2), so a NOTE of it is sent only to a wider cell seen free of it."""


def _pick(cause: str, s: Situation, cell: Cell, seen: dict) -> Remedy:
    unseen, here = [], seen[_key(cell.method, cell.dtype, cell)]
    for r in candidates(cause, s) if cause in CELL_REMEDIES else ():
        dtype = r.dtype or cell.dtype
        target, *others = (
            seen.get(_key(m, dtype, cell)) for m in (r.method or cell.method, *r.also)
        )
        named = [*others, target] if r.fix else others
        if any(o is not None and o.refutes(here) for o in named):
            continue  # the report shows the cell it sends the user to failing (torch × float16)
        wider = r.dtype is not None
        if any(_fails(cause, s, o, wider) for o in others):
            continue  # it names a switch seen to fail (torch.softmax beside the shift)
        if wider and target is None and not s.material and s.confident:
            if cause == _KNOWN_BY_ROWS or not _matters_in(r.dtype, s):
                continue  # not analysed: what the logits lose is likely lost there too
        if r.fix and target is not None and not _fails(cause, s, target, wider):
            return r  # applied in this very report, and the cause is gone (or immaterial)
        if not r.fix or target is None:
            unseen.append(r)
    return unseen[0] if unseen else NO_REMEDY


def _matters_in(dtype: str, s: Situation) -> bool:
    """A dead-gradient NOTE of over-confident logits (``s.lost`` measured) loses more than the
    materiality limit of the wider ``dtype``, not analysed: a cautious guess that the switch
    keeps it (a p_t within u/2 of 1 rounds to 1 there, and the methods' backward passes lose
    the target's gradient up to a few u: [0, -17] in float16 loses 4.1e-8, and naive float32
    the same). An analysed wider cell is read instead (:func:`_fails`)."""
    return s.lost is None or s.lost > s.gradient_abs_u * get_format(dtype).u


def _fails(cause: str, s: Situation, seen: _Seen | None, wider: bool) -> bool:
    """The cell ``seen`` (None: not analysed) shows ``cause`` as it counts for a finding of
    ``s``: as a WARN or FAIL; for a NOTE finding, as a NOTE too where ``seen`` is in the same
    format (a NOTE in a ``wider`` one is below a limit its smaller u scales down: settled),
    where the cause is :data:`_KNOWN_BY_ROWS`, or where its dead gradient elements lose as much
    as the finding's (the switch keeps what the logits lose: [0, -17, -17, -17], naive)."""
    if seen is None or cause not in seen.causes:
        return False
    if seen.causes[cause] or s.material:
        return seen.causes[cause]
    as_much = seen.lost is not None and s.lost is not None and seen.lost >= s.lost
    return not wider or cause == _KNOWN_BY_ROWS or (cause == "dead-gradient" and as_much)


def _settled(cell: Cell, seen: dict, base: Situation, mask_lowest: float | None) -> Cell:
    s = dataclasses.replace(base, method=cell.method, dtype=cell.dtype)
    findings = []
    for f in cell.findings:
        lost = cell.gradient.dead_max if f.cause == "dead-gradient" and cell.gradient else None
        here = dataclasses.replace(s, material=f.severity != "NOTE", lost=lost)
        if f.cause == "masked-row-nan" and s.masked:
            # rows of masks only, or rows of logits beside them (-1e5 beside rows of -1e9 in
            # float16): those are remedied as in a source without masks, as they are alone
            of_logits = f.masks is False
            lowest = s.lowest if of_logits else mask_lowest
            here = dataclasses.replace(here, masked=not of_logits, lowest=lowest)
        pick = _pick(f.cause, here, cell, seen)
        findings.append(dataclasses.replace(f, remedy=pick.text, fix=pick.fix))
    where = cell_name(cell.method, cell.dtype, cell.temperature)
    reasons = tuple(f.sentence(where) for f in findings)
    return dataclasses.replace(cell, findings=tuple(findings), reasons=reasons)
