"""The log(softmax) trap seen from an ``nll_loss`` site: which -inf of its input underflowed.

An nll_loss site's rows are log-probabilities: a -inf there is a masked class (p = 0 exactly)
or a probability that rounded to 0 before ``torch.log`` (the exact log p finite). The rows
alone cannot tell them apart, so capture remembers, by weak reference, each softmax output and
each ``torch.log`` of one; when an nll_loss reads such a log (or a view of it) and its target
entry is -inf, the exact log p at the target is computed in float64 from the softmax's input,
if that input is still alive. Nothing is kept alive, nothing is computed unless the call
returned a non-finite loss and a target reads -inf.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from smcheck.capture.losscall import LossRows


@dataclass
class _Softmax:
    x: Any
    """Weak reference to the softmax's input."""
    dim: int
    negate: bool
    """A softmin: the distribution is softmax(-x)."""
    where: str = ""
    """The user's line that took the log (``file:line``)."""


@dataclass
class LogUnderflow:
    """An nll_loss site's rows whose target read -inf, by cause, over all its calls."""

    rows: int = 0
    """Rows whose exact log p at the target is finite: log(softmax) underflowed."""
    masked: int = 0
    """Rows whose exact log p at the target is -inf too: a real mask."""
    first_row: int | None = None
    exact: float | None = None
    """The exact log p at the target of the first underflowed row."""
    where: str = ""


class LogOfSoftmax:
    """Softmax outputs and their logs, each dropped when its tensor is freed."""

    def __init__(self) -> None:
        self._probs: dict[int, tuple[Any, _Softmax]] = {}
        self._logs: dict[int, tuple[Any, _Softmax]] = {}

    def softmax(self, out: Any, x: Any, dim: int, negate: bool) -> None:
        """Remember that ``out`` is softmax(x) (of -x for a softmin) along ``dim``."""
        _remember(self._probs, out, _Softmax(weakref.ref(x), dim, negate))

    def remembers(self, p: Any) -> bool:
        """Whether ``p`` is a softmax output remembered (checked first: finding the line costs)."""
        got = self._probs.get(id(p))
        return got is not None and got[0]() is p

    def log(self, p: Any, out: Any, where: str) -> None:
        """``out = torch.log(p)``: remembered where ``p`` is a remembered softmax output."""
        got = self._probs.get(id(p))
        if got is not None and got[0]() is p:
            s = got[1]
            _remember(self._logs, out, _Softmax(s.x, s.dim, s.negate, where))

    def judge(self, lp: Any, loss: LossRows, into: LogUnderflow) -> None:
        """Count, into ``into``, the rows of the nll_loss call on ``lp`` (read as ``loss``) whose
        target reads -inf, where ``lp`` is a remembered log of a softmax (or a contiguous view of
        all of it). Only a call that returned a non-finite loss can have one: no other is read."""
        import torch

        s = self._source_of(lp)
        x = s.x() if s is not None else None
        if x is None or loss.finite or loss.classes is None or not loss.any_kept:
            return
        d = 0 if lp.dim() == 1 else 1
        c, t = lp.shape[d], loss.classes
        idx = torch.nonzero(loss.keep).squeeze(1)
        hit = torch.isneginf(loss.rows[idx, t[idx]])
        if not bool(hit.any()):
            return
        z = -x.detach() if s.negate else x.detach()
        exact = torch.log_softmax(z.double(), s.dim).reshape(lp.shape)  # flat order is lp's
        ex = exact.movedim(d, -1).reshape(-1, c)[idx, t[idx]]
        under = hit & torch.isfinite(ex)
        into.masked += int((hit & ~under).sum())
        if bool(under.any()):
            into.rows += int(under.sum())
            if into.first_row is None:
                first = int(torch.nonzero(under)[0, 0])
                into.first_row, into.exact = int(idx[first]), float(ex[first])
                into.where = s.where

    def _source_of(self, lp: Any) -> _Softmax | None:
        """The softmax behind ``lp``: a log remembered, or a view with its elements in order."""
        for t in (lp, lp._base):
            got = self._logs.get(id(t)) if t is not None else None
            if got is None or got[0]() is not t:
                continue
            same = t is lp or (lp.is_contiguous() and t.is_contiguous() and lp.numel() == t.numel())
            return got[1] if same and lp.storage_offset() == t.storage_offset() else None
        return None


def _remember(table: dict[int, tuple[Any, _Softmax]], t: Any, s: _Softmax) -> None:
    key = id(t)
    table[key] = (weakref.ref(t, lambda _: table.pop(key, None)), s)
