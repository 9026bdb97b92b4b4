"""Settling a source's remedies against its own cells: a switch seen to fail is never advised.

Each finding's remedy is first the registry's best candidate (:mod:`smcheck.findings.remedies`);
once every cell of a source is judged, :func:`settle` re-picks it, skipping a candidate that
names a cell analysed and showing the same cause (a wider format that saturates too, a
torch.softmax offered beside the shift that NaNs too).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from smcheck.findings.remedies import CELL_REMEDIES, NO_REMEDY, Remedy, Situation, candidates
from smcheck.report.model import Cell, SourceReport
from smcheck.report.phrases import LOGIT_ROWS, cell_name


def settle(
    cells: Sequence[Cell],
    *,
    use: str = "loss",
    masked: bool = False,
    largest: float | None = None,
    lowest: float | None = None,
    mask_lowest: float | None = None,
    softmin: bool = False,
) -> list[Cell]:
    """``cells`` with each finding's remedy re-picked from its candidates, knowing every cell
    (and ``largest``, the judged rows' largest logit, which a format named for the cast must
    hold; ``lowest``, the smallest row maximum of those holding logits, which one named for
    rows the cast or T made entirely -inf must hold, divided by each cell's T, and
    ``mask_lowest`` that of those holding only masks, for theirs; ``softmin``: the cells are
    softmax(-x)).

    A candidate names a cell of this report (same temperature and model) or one not analysed,
    and may offer other methods beside it (``Remedy.also``), which must not be seen to fail.
    The first whose cell was analysed and is free of the finding's cause wins; failing that, the
    first not seen to fail (a cell not analysed, or advice that names no cell). A candidate whose
    cell shows the same cause is never advised; when all do, the finding has no remedy. For a
    WARN or FAIL finding, a cell that shows the cause only as a NOTE (immaterial) is free of it.
    """
    causes = {_key(c.method, c.dtype, c): _material(c) for c in cells}
    base = Situation("", "", use, masked=masked, largest=largest, softmin=softmin)
    return [
        _settled(
            c,
            causes,
            dataclasses.replace(base, model=c.model, lowest=_over(lowest, c)),
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


def _over(lowest: float | None, cell: Cell) -> float | None:
    """``lowest`` as far from 0 as the cell's softmax takes it: the cast comes before the
    division by T, so a format must hold the raw value and, for T < 1, the quotient (None:
    unknown)."""
    if lowest is None or not math.isfinite(lowest):
        return None
    return lowest / min(cell.temperature, 1.0)


def _material(cell: Cell) -> dict[str, bool]:
    """Each cause the cell names: whether any of its findings of it is WARN or FAIL."""
    out: dict[str, bool] = {}
    for f in cell.findings:
        out[f.cause] = out.get(f.cause, False) or f.severity != "NOTE"
    return out


def _key(method: str, dtype: str, cell: Cell) -> tuple[str, str, float, str]:
    return (method, dtype, cell.temperature, cell.model)


_SEEN_ONLY = ("dead-gradient", "saturation")
"""Causes whose NOTE a wider format often keeps (a p_t within float32's u/2 of 1 rounds to 1
there too): a wider format is advised for their NOTEs only where this report saw it clean."""


def _pick(cause: str, s: Situation, cell: Cell, causes: dict) -> Remedy:
    unseen = []
    for r in candidates(cause, s) if cause in CELL_REMEDIES else ():
        dtype = r.dtype or cell.dtype
        seen, *others = (
            causes.get(_key(m, dtype, cell)) for m in (r.method or cell.method, *r.also)
        )
        if any(_fails(cause, s, o) for o in others):
            continue  # it names a switch seen to fail (torch.softmax beside the shift)
        gone = seen is not None and not _fails(cause, s, seen)
        if r.fix and gone:
            return r  # applied in this very report, and the cause is gone (or immaterial)
        unproven = r.dtype and not s.material and cause in _SEEN_ONLY
        if not r.fix or (seen is None and not unproven):
            unseen.append(r)
    return unseen[0] if unseen else NO_REMEDY


def _fails(cause: str, s: Situation, seen: dict[str, bool] | None) -> bool:
    """The cell whose causes are ``seen`` (None: not analysed) shows ``cause`` as it counts for
    a finding of ``s`` (for a WARN or FAIL, a NOTE of it does not count)."""
    return seen is not None and cause in seen and (seen[cause] or not s.material)


def _settled(cell: Cell, causes: dict, base: Situation, mask_lowest: float | None) -> Cell:
    s = dataclasses.replace(base, method=cell.method, dtype=cell.dtype)
    findings = []
    for f in cell.findings:
        here = dataclasses.replace(s, material=f.severity != "NOTE")
        if f.cause == "masked-row-nan" and s.masked:
            # rows of masks only, or rows of logits beside them (-1e5 beside rows of -1e9 in
            # float16): those are remedied as in a source without masks, as they are alone
            of_logits = f.why.startswith(LOGIT_ROWS)
            lowest = s.lowest if of_logits else mask_lowest
            here = dataclasses.replace(here, masked=not of_logits, lowest=lowest)
        pick = _pick(f.cause, here, cell, causes)
        findings.append(dataclasses.replace(f, remedy=pick.text, fix=pick.fix))
    where = cell_name(cell.method, cell.dtype, cell.temperature)
    reasons = tuple(f.sentence(where) for f in findings)
    return dataclasses.replace(cell, findings=tuple(findings), reasons=reasons)
