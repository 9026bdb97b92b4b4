"""Mask sentinels: large finite negatives used in place of -inf, and what each format does to them.

Attention and LM code masks with a finite value (``torch.finfo(dtype).min``, -1e4, -1e9 ...) so
that a fully masked row stays finite. Three things go wrong in a narrower format: the sentinel is
not representable and becomes -inf (-1e9 in float16), sentinel + score overflows to -inf
(-65504 + s in float16 for s <= -16, since -65520 is the midpoint to the next power of two), or
the sentinel is too weak to mask (its entries keep a probability above the format's rounding
error, e.g. -1e4 divided by a large temperature). Every statistic merges exactly across chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from smcheck.analysis.stats import CountStat, MaxStat
from smcheck.dtypes import FORMATS, FloatFormat

if TYPE_CHECKING:
    from smcheck.reference.exact import Reference

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

KNOWN_SENTINELS: tuple[tuple[float, str], ...] = tuple(
    sorted(
        [(-f.max, f"torch.finfo(torch.{f.name}).min") for f in FORMATS.values()]
        + [
            (-1e4, "BERT-style additive attention mask"),
            (-1e9, "common masked_fill value"),
            (-1e10, "common masked_fill value"),
            (-1e20, "large mask value"),
            (-1e30, "large mask value"),
            (-3.4e38, "float32 min, rounded"),
        ]
    )
)
"""Mask values seen in practice, with what they are known as."""

NEAR = 2.0**-6
"""A value within this relative distance of a sentinel is read as sentinel + score."""
SENTINEL_GAP = 20.0
"""...when it lies at least this many nats below the row's other logits (exp(-20) ~ 2e-9)."""
USER_LABEL = "the given mask value"
"""The label of a --mask-value (mask_value=) that is not a known sentinel."""

_LABELS = dict(KNOWN_SENTINELS)


def _variants(value: float) -> frozenset[float]:
    """The sentinel as stored in each format (a float32 file holds -3.4e38 as -3.3999999e38)."""
    return frozenset(float(v) for f in FORMATS.values() for v in [f.round(value)] if np.isfinite(v))


@dataclass(frozen=True)
class _Table:
    """The sentinels one analysis recognises: the known ones and the user's mask value."""

    values: Array
    """Every sentinel, sorted."""
    stored: Array
    """Every stored form of every sentinel (sorted)..."""
    stored_key: Array
    """...and the sentinel each stands for."""
    threshold: float
    """No entry above this is near a sentinel."""


@lru_cache(maxsize=8)
def _table(mask_value: float | None) -> _Table:
    values = sorted({s for s, _ in KNOWN_SENTINELS} | ({mask_value} - {None}))
    # a stored form shared by two sentinels goes to the nearer one (itself, if it is one)
    best: dict[float, float] = {}
    for s in values:
        for v in _variants(s):
            if v not in best or abs(v / s - 1) < abs(v / best[v] - 1):
                best[v] = s
    stored = sorted(best)
    return _Table(
        np.array(values),
        np.array(stored),
        np.array([best[v] for v in stored]),
        float(max(values)) * (1 - NEAR),
    )


def classify(x: Array, mask_value: float | None = None) -> tuple[Array, BoolArray]:
    """Per element, the sentinel it stands for (NaN elsewhere); per row, whether it has logits.

    The sentinels are the known mask values (:data:`KNOWN_SENTINELS`: every format's finfo.min,
    -1e4, -1e9 ...) and ``mask_value``, the value the user names (--mask-value). An element is a
    sentinel entry when it lies within :data:`NEAR` (relative) of one (the nearest) and at least
    SENTINEL_GAP nats below the row's other finite logits. A row with no other finite logit is a
    row of masks only where its finite entries are all one stored form of a sentinel exactly
    (padding: -1e9, finfo.min, or -1e9 + score rounded to -1e9); else its entries are logits
    (-1e4 + 10 N(0,1), sequence scores: a peaked, meaningful softmax). Nothing else is a mask:
    tied low logits are ordinary logits. The rule looks at one row only, so the classification
    does not depend on chunking. The second result marks rows with a finite logit that is not a
    sentinel entry (the rows where a mask can leak).
    """
    tab = _table(mask_value)
    keys = np.full(x.shape, np.nan)
    fin = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cand = fin & (x <= tab.threshold)
        if not cand.any():  # the common case, nothing near a sentinel: the rest is moot
            return keys, fin.any(-1)
        at, v = np.flatnonzero(cand), x[cand]
        # most entries are a sentinel exactly (as stored in some format): a sorted lookup
        i = np.clip(np.searchsorted(tab.stored, v), 0, tab.stored.size - 1)
        hit = tab.stored[i] == v
        keys.flat[at[hit]] = tab.stored_key[i[hit]]
        exact = np.zeros(x.shape, dtype=bool)
        exact.flat[at[hit]] = True
        at, v = at[~hit], v[~hit]
        dist = np.abs(v[:, None] / tab.values[None, :] - 1.0)
        best = np.argmin(dist, axis=1)
        ok = dist[np.arange(v.size), best] <= NEAR
        keys.flat[at[ok]] = tab.values[best[ok]]
        near = ~np.isnan(keys)
        # entries near a sentinel but within SENTINEL_GAP of the row's logits are logits
        top = np.where(fin & ~near, x, -np.inf).max(-1, keepdims=True)
        keys[near & np.isfinite(top) & (x > top - SENTINEL_GAP)] = np.nan
        # a row of nothing else is of masks only where one exact mask value (and -inf) fills it
        lo = np.where(fin, x, np.inf).min(-1, keepdims=True)
        one = (lo == np.where(fin, x, -np.inf).max(-1, keepdims=True)) & (exact | ~fin).all(
            -1, keepdims=True
        )
        keys[np.broadcast_to(np.isneginf(top) & ~one, x.shape)] = np.nan
    has_logits = (fin & np.isnan(keys)).any(-1)
    return keys, has_logits


@dataclass
class _Effect:
    """One sentinel in one format at one temperature."""

    to_neginf: CountStat = field(default_factory=CountStat)
    leak: MaxStat = field(default_factory=MaxStat)
    weak: CountStat = field(default_factory=CountStat)


@dataclass
class SentinelStat:
    """Counts for one sentinel value (its sentinel + score entries included)."""

    value: float
    user: bool = False
    """The value the user named (--mask-value), rather than a known one."""
    count: CountStat = field(default_factory=CountStat)
    exact: int = 0
    lo: float = np.inf
    hi: float = -np.inf
    effects: dict[tuple[str, float], _Effect] = field(default_factory=dict)
    cast: dict[str, CountStat] = field(default_factory=dict)
    """Per format: entries that the cast alone turns into -inf."""

    @property
    def label(self) -> str:
        return _LABELS.get(self.value, USER_LABEL)

    @property
    def detected(self) -> str:
        """``user`` (the value named with --mask-value) or ``known`` (a common mask value)."""
        return "user" if self.user else "known"

    def effect(self, fmt: str, t: float) -> _Effect:
        return self.effects.setdefault((fmt, t), _Effect())


@dataclass
class SentinelChunk:
    """The sentinel entries of one chunk: their key per element and the keys present."""

    start: int
    keys: Array
    present: list[float]
    has_logits: BoolArray
    """Rows with a finite logit that is not a sentinel entry: where a mask can leak."""
    entries: BoolArray
    """Every sentinel entry of the chunk (tracked or not): masks, like -inf, for the metrics."""


@dataclass
class SentinelAccumulator:
    """Sentinels over all chunks of one source, with their fate in every format and temperature."""

    mask_value: float | None = None
    """The user's mask value (--mask-value), recognised besides the known sentinels."""
    stats: dict[float, SentinelStat] = field(default_factory=dict)
    cells: tuple[tuple[str, ...], tuple[float, ...]] = ((), ())
    """The run's formats and temperatures (:meth:`expect`), in order."""

    def expect(self, fmts: list[str], temperatures: tuple[float, ...]) -> None:
        """A new sentinel's per-format entries are made at once, in this order (see
        MaskAccumulator.expect)."""
        self.cells = (tuple(fmts), tuple(temperatures))

    def _stat(self, k: float) -> SentinelStat:
        if k not in self.stats:
            s = self.stats[k] = SentinelStat(k, user=k == self.mask_value)
            fmts, temperatures = self.cells
            for f in fmts:
                s.cast[f] = CountStat()
                for t in temperatures:
                    s.effects[(f, t)] = _Effect()
        return self.stats[k]

    def add_source(self, x: Array, rows_ok: BoolArray, start: int) -> SentinelChunk:
        """Classify a chunk's entries (rows with NaN/+inf or fully masked are skipped)."""
        keys, has_logits = classify(x, self.mask_value)
        entries = ~np.isnan(keys)
        keys[~rows_ok] = np.nan
        present = [float(k) for k in np.unique(keys[~np.isnan(keys)])]
        for k in present:
            s = self._stat(k)
            at = keys == k
            s.count.add(at.sum(-1), start)
            vals = x[at]
            s.exact += int(np.isin(vals, list(_variants(k))).sum())
            s.lo, s.hi = min(s.lo, float(vals.min())), max(s.hi, float(vals.max()))
        return SentinelChunk(start, keys, present, has_logits, entries)

    def add_cast(self, chunk: SentinelChunk, fmt: FloatFormat, xd: Array) -> None:
        """Fold in the cast of a chunk to ``fmt`` (``xd``: the rounded values)."""
        neginf = xd == -np.inf
        for k in chunk.present:
            c = self.stats[k].cast.setdefault(fmt.name, CountStat())
            c.add((neginf & (chunk.keys == k)).sum(-1), chunk.start)

    def add_format(
        self,
        chunk: SentinelChunk,
        fmt: FloatFormat,
        t: float,
        neginf: BoolArray,
        ref: Reference,
        valid: BoolArray,
    ) -> None:
        """Fold in one format × temperature: ``neginf`` marks entries that are -inf there (after
        the cast and x/T), ``ref`` is the exact softmax of those values, ``valid`` the judged
        rows. ``ref.p`` is read only if the chunk holds a sentinel."""
        if not chunk.present:
            return
        p = ref.p
        judged = valid & chunk.has_logits  # a row of sentinels only has nothing to leak into
        for k in chunk.present:
            at = chunk.keys == k
            e = self.stats[k].effect(fmt.name, t)
            e.to_neginf.add((at & neginf).sum(-1), chunk.start)
            with np.errstate(invalid="ignore"):
                mass = np.where(at & judged[:, None], p, 0).sum(-1).astype(np.float64)
            # only rows holding the sentinel, so the worst row does not depend on chunking
            e.leak.add(np.where(judged & at.any(-1), mass, np.nan), chunk.start)
            e.weak.add((judged & (mass > fmt.u)).astype(np.int64), chunk.start)

    def sentinels(self) -> list[SentinelStat]:
        """Tracked sentinels, most negative first."""
        return [self.stats[k] for k in sorted(self.stats)]
