"""Masks and non-finite input through the analysis: fully masked rows, sentinels, input findings.

docs/design.md §9: NaN and +inf in the input are upstream problems, -inf is a mask (p = 0),
and a row that is entirely -inf -- in the source, or only once cast to a format and divided by
T -- is a finding of its own, with what each method returns for it. Those rows are kept out of
the accuracy metrics; the NaN a method returns for a row that only the format or T masked fully
(its source logits are finite) is that cell's NaN (``masked_nan``). A source row of mask values
only (one mask value, perhaps beside -inf) is fully masked too, but finite: its softmax spreads
the row's weight uniformly over the masks instead of giving NaN, so the methods are judged on it
and the finding says what each returned. Everything here accumulates per chunk and merges exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from smcheck.analysis.sentinels import SentinelAccumulator, SentinelChunk, SentinelStat
from smcheck.analysis.stats import CountStat
from smcheck.dtypes import FloatFormat, get_format
from smcheck.findings.inputs import SentinelRows, input_findings
from smcheck.report import maskmodel as rk
from smcheck.report.model import Extreme
from smcheck.report.phrases import join_and, value_text, verb

if TYPE_CHECKING:
    import torch

    from smcheck.methods.base import MethodOutput
    from smcheck.reference.exact import Reference
    from smcheck.sources.rows import RowView

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class _Output:
    """What one method returned for fully masked rows, by kind."""

    rows: int = 0
    nan: int = 0
    zeros: int = 0

    def add(self, p: Array) -> None:
        self.rows += p.shape[0]
        self.nan += int(np.isnan(p).all(-1).sum())
        self.zeros += int((p == 0).all(-1).sum())

    def result(self) -> rk.MaskedOutput:
        return rk.MaskedOutput(self.rows, self.nan, self.zeros, self.rows - self.nan - self.zeros)


@dataclass
class MaskChunk:
    """Per-chunk state shared by every format, temperature and method."""

    start: int
    upstream: BoolArray
    masked: BoolArray
    sentinels: SentinelChunk
    gone: dict[tuple[str, float], BoolArray] = field(default_factory=dict)
    """Rows entirely -inf in a format at a temperature (source masks included)."""
    cast_gone: dict[str, BoolArray] = field(default_factory=dict)
    """Rows with finite logits in the source that the cast to a format makes entirely -inf."""

    @property
    def mask_rows(self) -> BoolArray:
        """Rows whose every finite entry is a sentinel: masks, where a row entirely -inf is a
        mask the format cannot hold; in the others (-1e5 beside -1e9 rows) it is logits beyond
        its range."""
        return ~self.sentinels.has_logits

    @property
    def sentinel_rows(self) -> BoolArray:
        """Source rows of mask values only, not entirely -inf: fully masked rows whose softmax
        is finite (the weight spread over the masks), so judged rather than left out."""
        return self.mask_rows & ~self.upstream & ~self.masked

    @property
    def sentinel_entries(self) -> BoolArray:
        """Sentinel entries: masks like -inf, so the method metrics leave them out."""
        return self.sentinels.entries


@dataclass
class MaskAccumulator:
    """Everything about masks and non-finite input over all chunks of one source."""

    upstream: CountStat = field(default_factory=CountStat)
    masked: CountStat = field(default_factory=CountStat)
    sentinel_rows: CountStat = field(default_factory=CountStat)
    """Source rows of mask values only (:attr:`MaskChunk.sentinel_rows`): fully masked, finite."""
    keys: tuple[int, int] | None = None
    """Their finite entries, one mask value (sentinels.classify), so their softmax is uniform
    over them: fewest and most in a row (None before any such row)."""
    sentinel_outputs: dict[tuple[str, str, float], _Output] = field(default_factory=dict)
    """Per cell: what the method returned for those rows where the cell keeps them finite."""
    became: dict[tuple[str, float | None, bool], CountStat] = field(default_factory=dict)
    """Rows made entirely -inf by the cast to a format (T None) or only by dividing by T, apart
    by whether they are rows of masks (:attr:`MaskChunk.mask_rows`)."""
    outputs: dict[tuple[str, str, float], _Output] = field(default_factory=dict)
    masked_nans: dict[tuple[str, str, float, bool], CountStat] = field(default_factory=dict)
    """Per cell: NaN probabilities in rows with finite source logits that are fully masked there,
    apart by whether they are rows of masks."""
    sentinels: SentinelAccumulator = field(default_factory=SentinelAccumulator)
    softmin: bool = False
    """The values are -x (softmin): the messages name the logits' +inf masks (§9)."""

    def expect(self, fmts: list[str], temperatures: tuple[float, ...], methods: list[str]) -> None:
        """Make every per-format entry now, in the run's order: the formats of a chunk may run
        on threads (SourceAnalysis.formats_on), and the report lists them in this order,
        not in whichever order the threads first reached them."""
        for f in fmts:
            for t in (None, *temperatures):
                for masks in (False, True):
                    self.became[(f, t, masks)] = CountStat()
            for t in temperatures:
                for m in methods:
                    self.outputs[(m, f, t)] = _Output()
                    self.sentinel_outputs[(m, f, t)] = _Output()
                    for masks in (False, True):
                        self.masked_nans[(m, f, t, masks)] = CountStat()
        self.sentinels.expect(fmts, temperatures)

    def add_source(self, x: Array, upstream: BoolArray, masked: BoolArray, start: int) -> MaskChunk:
        """Fold in a chunk's source values (after --softmin negation)."""
        self.upstream.add(upstream.astype(np.int64), start)
        self.masked.add(masked.astype(np.int64), start)
        chunk = MaskChunk(
            start, upstream, masked, self.sentinels.add_source(x, ~upstream & ~masked, start)
        )
        rows = chunk.sentinel_rows
        self.sentinel_rows.add(rows.astype(np.int64), start)
        if rows.any():
            n = np.isfinite(x[rows]).sum(-1)
            lo, hi = self.keys or (int(n.min()), int(n.max()))
            self.keys = (min(lo, int(n.min())), max(hi, int(n.max())))
        return chunk

    def add_cast(self, chunk: MaskChunk, fmt: FloatFormat, xd: Array) -> None:
        """Fold in the cast of the chunk to ``fmt`` (``xd``: the rounded values)."""
        gone = (xd == -np.inf).all(-1) & ~chunk.upstream & ~chunk.masked
        chunk.cast_gone[fmt.name] = gone
        self._add_became(chunk, fmt.name, None, gone)
        self.sentinels.add_cast(chunk.sentinels, fmt, xd)

    def _add_became(self, chunk: MaskChunk, fmt: str, t: float | None, rows: BoolArray) -> None:
        for masks, of in ((False, ~chunk.mask_rows), (True, chunk.mask_rows)):
            stat = self.became.setdefault((fmt, t, masks), CountStat())
            stat.add((rows & of).astype(np.int64), chunk.start)

    def add_format(
        self,
        chunk: MaskChunk,
        fmt: FloatFormat,
        t: float,
        xs: torch.Tensor,
        ref: Reference,
        valid: BoolArray,
    ) -> BoolArray:
        """Fold in one format × temperature; returns ``valid`` without the rows ``xs`` masks fully.

        ``xs`` is the logits as the methods see them (cast to the format, divided by T there),
        ``ref`` the exact softmax of the rounded, scaled logits (its ``p`` is read only when a
        sentinel is present: a double-double reference builds it in long double on first read).
        """

        neginf = _neginf(xs)
        gone = neginf.all(-1) & ~chunk.upstream
        chunk.gone[(fmt.name, t)] = gone
        self._add_became(chunk, fmt.name, t, gone & ~chunk.masked & ~chunk.cast_gone[fmt.name])
        valid = valid & ~gone
        self.sentinels.add_format(chunk.sentinels, fmt, t, neginf, ref, valid)
        return valid

    def add_output(
        self, chunk: MaskChunk, method: str, fmt: str, t: float, res: MethodOutput
    ) -> None:
        """What ``method`` returned for the rows that are fully masked in this cell."""
        out = self.outputs.setdefault((method, fmt, t), _Output())
        gone = chunk.gone[(fmt, t)]
        kept = chunk.sentinel_rows & ~gone  # those the cell masks fully are ``became``'s
        if kept.any():
            self.sentinel_outputs.setdefault((method, fmt, t), _Output()).add(res.p[kept])
        if gone.any():  # res.p is read only here: it may be a float64 copy made on first read
            p = res.p[gone]
            out.add(p)
            per_row = np.zeros(gone.shape, dtype=np.int64)
            per_row[gone] = np.isnan(p).sum(-1)
            per_row[chunk.masked] = 0  # a row masked in the source is the input's finding
            for masks, of in ((False, ~chunk.mask_rows), (True, chunk.mask_rows)):
                nans = self.masked_nans.setdefault((method, fmt, t, masks), CountStat())
                nans.add(np.where(of, per_row, 0), chunk.start)

    # --------------------------------------------------------------------------------- results

    def masked_output(self, method: str, fmt: str, t: float) -> rk.MaskedOutput:
        return self.outputs.get((method, fmt, t), _Output()).result()

    def masked_rows(self, fmt: str, t: float) -> int:
        """Rows with a finite source logit that the cast to ``fmt`` or dividing by ``t`` there
        makes entirely -inf (disjoint: the cast's are not counted again at T)."""
        return sum(c.rows for (f, at, _), c in self.became.items() if f == fmt and at in (None, t))

    def masked_nan(self, method: str, fmt: str, t: float, masks: bool) -> CountStat:
        """NaN probabilities ``method`` returned for rows the cast to ``fmt`` or T masked fully,
        of rows of masks (``masks``) or of the other rows."""
        return self.masked_nans.get((method, fmt, t, masks), CountStat())

    def masked_by(self, fmt: str, t: float, sentinels: list[rk.Sentinel], masks: bool) -> str:
        """Why rows with finite source logits are fully masked in ``fmt`` at ``t``, of rows of
        masks (``masks``: e.g. ``-1e9 rounds to -inf in float16``) or of the other rows (``every
        logit of a row rounds to -inf in float16``); "" when none are. Under softmin the
        sentinels are -x's, and the logits past the range round to +inf (``-inf in -x``)."""
        why = []
        # -x is exact: a logit that rounds to +inf is a -inf of -x
        into, neg = ("+inf", " (-inf in -x)") if self.softmin else ("-inf", "")
        every = "every mask of a row" if masks else "every logit of a row"
        cast = self.became.get((fmt, None, masks))
        if cast is not None and cast.rows:
            lost = [
                value_text(s.value)
                for s in sentinels
                for c in s.casts
                if c.dtype == fmt and not c.representable and c.to_neginf.elements
            ]
            if masks and lost:
                of = " of -x" if self.softmin else ""
                rounds = verb(len(lost), "rounds", "round")
                why.append(f"{join_and(lost)}{of} {rounds} to -inf in {fmt}")
            else:
                why.append(f"{every} rounds to {into} in {fmt}{neg}")
        scaled = self.became.get((fmt, t, masks))
        if t != 1 and scaled is not None and scaled.rows:
            why.append(f"{every} is {into} in {fmt} once divided by T={t:g}{neg}")
        return "; ".join(why)

    def cast_masked(self, fmt: str) -> tuple[int, bool] | None:
        """The first judged row the cast to ``fmt`` turns entirely -inf, and whether it holds
        only masks; None where the cast masks none."""
        found = [
            (c.worst_row, masks)
            for masks in (False, True)
            if (c := self.became.get((fmt, None, masks))) is not None and c.worst_row is not None
        ]
        return min(found) if found else None

    def became_masked(self, view: RowView) -> list[rk.BecameMasked]:
        return [
            rk.BecameMasked(f, t, c.rows, view.index(c.worst_row), masks)
            for (f, t, masks), c in self.became.items()
            if t != 1  # T = 1 adds nothing to the cast
        ]

    def sentinel_reports(self, view: RowView) -> list[rk.Sentinel]:
        return [_sentinel_report(s, view) for s in self.sentinels.sentinels()]

    def summary_fields(
        self, view: RowView, *, nan: int, posinf: int, dtype: str | None = None
    ) -> dict[str, Any]:
        """The InputSummary fields about masks, sentinels and upstream rows, with the findings.

        Args:
            view: the source's rows.
            nan: NaN elements in the input.
            posinf: +inf elements in the input.
            dtype: the source's stored format, which the findings' remedies read.
        """
        became, sentinels = self.became_masked(view), self.sentinel_reports(view)
        outputs = {k: self.masked_output(*k) for k in self.outputs}
        upstream_first = view.index(self.upstream.worst_row)
        masked_first = view.index(self.masked.worst_row)
        firsts = [r for r in (self.masked.worst_row, self.sentinel_rows.worst_row) if r is not None]
        return {
            "fully_masked_rows": self.masked.rows + self.sentinel_rows.rows,
            "fully_masked_sentinel_rows": self.sentinel_rows.rows,
            "upstream_rows": self.upstream.rows,
            "upstream_first_row": upstream_first,
            "fully_masked_first_row": view.index(min(firsts, default=None)),
            "became_fully_masked": became,
            "sentinels": sentinels,
            "findings": input_findings(
                upstream_rows=self.upstream.rows,
                upstream_first=upstream_first,
                nan=nan,
                posinf=posinf,
                masked_rows=self.masked.rows,
                masked_first=masked_first,
                outputs=outputs,
                of_sentinels=self._sentinel_rows(view),
                became=became,
                sentinels=sentinels,
                softmin=self.softmin,
                dtype=dtype,
            ),
        }

    def _sentinel_rows(self, view: RowView) -> SentinelRows:
        rows = self.sentinel_rows
        lo, hi = self.keys or (0, 1)
        return SentinelRows(
            rows.rows,
            view.index(rows.worst_row),
            {k: o.result() for k, o in self.sentinel_outputs.items()},
            keys=lo if lo == hi else None,
        )


def _sentinel_report(s: SentinelStat, view: RowView) -> rk.Sentinel:
    casts = [
        rk.SentinelCast(
            dtype=f,
            representable=bool(np.isfinite(get_format(f).round(s.value))),
            to_neginf=c.result(view.index),
        )
        for f, c in s.cast.items()
    ]
    effects = [
        rk.SentinelEffect(
            dtype=f,
            temperature=t,
            to_neginf=e.to_neginf.result(view.index),
            leak=Extreme(e.leak.result, view.index(e.leak.row)),
            weak=e.weak.result(view.index),
        )
        for (f, t), e in s.effects.items()
    ]
    return rk.Sentinel(
        value=s.value,
        label=s.label,
        detected=s.detected,
        elements=s.count.elements,
        rows=s.count.rows,
        worst_row=view.index(s.count.worst_row),
        exact_elements=s.exact,
        min=s.lo,
        max=s.hi,
        casts=casts,
        effects=effects,
    )


def _neginf(xs: torch.Tensor) -> BoolArray:
    """Where ``xs`` is -inf. Most chunks hold none: a minimum says so in a third of the time
    isneginf takes to write its mask (a NaN minimum says nothing: the mask then)."""
    import torch

    low = xs.amin() if xs.numel() else xs.new_zeros(())
    if bool(low > -torch.inf):
        return np.zeros(tuple(xs.shape), dtype=bool)
    return torch.isneginf(xs).numpy()
