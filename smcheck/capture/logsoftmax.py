"""The log(softmax) trap seen from an ``nll_loss`` site: which -inf of its input underflowed.

An nll_loss site's rows are log-probabilities: a -inf there is a masked class (p = 0 exactly)
or a probability that rounded to 0 before ``torch.log`` (the exact log p finite). The rows
alone cannot tell them apart, so capture remembers, by weak reference, each softmax output and
each ``torch.log`` of one; when an nll_loss reads such a log (or a view of it) and its target
entry is -inf, the exact log p at the target is computed in float64 from the softmax's input,
if that input is still alive (else the log(softmax) is said without the exact value). Nothing
is kept alive, nothing is computed unless the call returned a non-finite loss and a target
reads -inf.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

from smcheck.capture.losscall import LossRows
from smcheck.findings.remedytexts import FIX_MASKED_TARGETS, LOG_SOFTMAX
from smcheck.report.maskmodel import InputFinding
from smcheck.report.phrases import plural, verb
from smcheck.report.sitemodel import Site


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
    """Rows whose exact log p at the target the site's format holds: log(softmax) underflowed."""
    masked: int = 0
    """Rows of a log(softmax) whose exact log p at the target is -inf (or past the format's
    range) too: a real mask."""
    freed: int = 0
    """Rows of a log(softmax) whose softmax input was freed: p rounded to 0 or a mask."""
    other: int = 0
    """Rows of an input that is no remembered log(softmax): its own -inf, a mask."""
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
        target reads -inf, by cause: ``lp`` a remembered log of a softmax (or a contiguous view
        of all of it) or not. Only a call that returned a non-finite loss can have one: no other
        is read."""
        import torch

        if loss.finite or loss.classes is None or not loss.any_kept:
            return
        idx = torch.nonzero(loss.keep).squeeze(1)
        t = loss.classes[idx]
        hit = torch.isneginf(loss.rows[idx, t])
        n = int(hit.sum())
        if not n:
            return
        s = self._source_of(lp)
        x = s.x() if s is not None else None
        if s is None:  # not log(softmax): its -inf is the input's own, a mask
            into.other += n
            return
        into.where = into.where or s.where
        if x is None:  # log(softmax), its input freed: underflow or mask, no telling
            into.freed += n
            return
        z = -x.detach() if s.negate else x.detach()
        d = 0 if lp.dim() == 1 else 1
        exact = torch.log_softmax(z.double(), s.dim).reshape(lp.shape)  # flat order is lp's
        ex = exact.movedim(d, -1).reshape(-1, lp.shape[d])[idx, t]
        # the site's format holds the exact log p (log_softmax would return it), not only float64:
        # rounded to it, as float16's -65519 rounds to -65504, not finfo.min's compare
        under = hit & torch.isfinite(ex.to(lp.dtype))
        into.masked += n - int(under.sum())
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


def site_findings(
    s: Site, u: dict[str, Any] | None, own: list[InputFinding]
) -> tuple[InputFinding | None, list[InputFinding]]:
    """The log(softmax) finding of an nll_loss site (``u``: its :class:`LogUnderflow` as a
    dict), and its input's own findings with ``masked_target`` kept only where a real mask is
    known: dropped where every -inf target was log(softmax)'s, else counting the real masks."""
    if not u or not u["rows"] + u.get("freed", 0):
        return None, own
    real = u["masked"] + u.get("other", 0)  # a capture saved before the counts: masked only
    out = [f for f in own if f.kind != "masked_target" or real]
    for i, f in enumerate(out):
        if f.kind == "masked_target":
            out[i] = InputFinding(f.kind, f.severity, _masks_only(f.message, real, u), f.dtype)
    return InputFinding("log_underflow", "FAIL", _said(s, u), s.dtype), out


# the head and the left-out clause of findings/inputs.masked_target_findings' sentence
_HEAD = re.compile(
    r"^(?:up to )?\d+ rows? (?:has|have) the target at a masked class \(targets: ([^;]*); [^)]*\)"
)
_LEFT_OUT = re.compile(r"; (?:it is|they are) left out of the gradient metrics")


def _masks_only(message: str, real: int, u: dict[str, Any]) -> str:
    """A masked_target sentence counting the real masks of every call only: its sample's rows
    (and their first row) hold the log(softmax) -inf targets too, which log_underflow says."""
    logs, freed = u["rows"] + u.get("freed", 0), u.get("freed", 0)
    what = "log(softmax)'s underflow" + " or mask" * bool(freed)
    said = _HEAD.sub(
        lambda m: (
            f"{plural(real, 'row')} {verb(real, 'has', 'have')} the target at a masked "
            f"class (targets: {m[1]}; {logs} more {verb(logs, 'is', 'are')} {what}: see "
            "log_underflow)"
        ),
        message,
        count=1,
    )
    return _LEFT_OUT.sub("; such rows are left out of the gradient metrics", said, count=1)


def _said(s: Site, u: dict[str, Any]) -> str:
    """Where the target read -inf, and why: p rounded to 0 before the log (the exact log p
    known), or a log(softmax) whose softmax input was freed (either cause, so either fix)."""
    n, freed, head = u["rows"], u.get("freed", 0), f"{s.op}'s input ({s.file}:{s.line})"
    fix = LOG_SOFTMAX + f"; if the class is masked, {FIX_MASKED_TARGETS}" * bool(freed)
    if not n:
        return (
            f"{head} holds -inf at the target in {plural(freed, 'row')}: its input is "
            f"log(softmax) ({u['where']}), where p rounded to 0 or the class is masked; the exact "
            f"log p is not available (the softmax's input was freed), so the loss is inf -- {fix}"
        )
    more = (
        f", and in {freed} more of a log(softmax) whose softmax input was freed, where p rounded "
        "to 0 or the class is masked (the exact log p is not available)"
    ) * bool(freed)
    return (
        f"{head} holds -inf at the target in {plural(n, 'row')} where the exact log p "
        f"({u['exact']:.6g} in row [{u['first_row']}]) is finite in {s.dtype}{more}: "
        f"log(softmax) underflowed at {u['where']}, so the loss is inf -- {fix}"
    )


def _remember(table: dict[int, tuple[Any, _Softmax]], t: Any, s: _Softmax) -> None:
    key = id(t)
    table[key] = (weakref.ref(t, lambda _: table.pop(key, None)), s)
