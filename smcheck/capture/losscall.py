"""The loss a captured cross_entropy / nll_loss call returned, where its rows cannot tell it.

A loss site's rows are judged as ``-log p[target]`` with class-index targets. What the call
computed besides that (label smoothing, probability targets, a batch whose every target is
``ignore_index``) is not modelled by the cells, so the loss it returned is judged here: a
non-finite one gets its cause, and each term the cells leave out is said in a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smcheck.findings.remedytexts import mask_with_min


@dataclass
class LossCalls:
    """A loss site's calls, for what the cells do not model."""

    nonfinite: int = 0
    """Calls that returned a non-finite loss for a cause below (the first one found)."""
    value: str = ""
    cause: str = ""
    fix: str = ""
    unmodelled: list[str] = field(default_factory=list)
    """The terms of the calls the cells leave out, each once."""

    def said(self, note: str) -> None:
        if note not in self.unmodelled:
            self.unmodelled.append(note)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def judge_call(calls: LossCalls, op: str, args: tuple, kwargs: dict, out: Any, dtype: str) -> None:
    """Note the call's unmodelled terms into ``calls`` and, where it returned a non-finite loss
    for one of them, its cause and fix (``dtype``: the format the call ran in)."""
    import torch

    x, target = _arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "target")
    if not isinstance(target, torch.Tensor):
        return
    d = 0 if x.dim() == 1 else 1
    rows = x.detach().movedim(d, -1).reshape(-1, x.shape[d])
    found = _term(calls, op, args, kwargs, rows, target, dtype)
    out = out.detach()
    if found is None or bool(torch.isfinite(out).all()):
        return
    bad, why, fix = found[0](), found[1], found[2]  # the rows read only for a non-finite loss
    if not bool(bad.any()):
        return
    calls.nonfinite += 1
    if calls.cause:
        return
    n, first = int(bad.sum()), int(torch.nonzero(bad)[0, 0])
    some = f"{n} of {rows.shape[0]} rows (first row [{first}])" if n < rows.shape[0] else ""
    calls.value = "NaN" if bool(torch.isnan(out).any()) else "inf"
    calls.cause, calls.fix = why.replace("{rows}", some or "every row"), fix


def _term(
    calls: LossCalls, op: str, args: tuple, kwargs: dict, rows: Any, target: Any, dtype: str
) -> tuple[Callable[[], Any], str, str] | None:
    """The call's term the cells do not model, noted once: (the rows it makes non-finite, as a
    function, why, with ``{rows}`` for them, and the fix); None for a call the cells model."""
    import torch

    finite_mask = f"{mask_with_min(dtype)}: 0 × -inf is NaN"
    if target.is_floating_point():  # probability targets, one row each
        calls.said(
            f"{op}'s probability targets are not modelled: the gradient check takes each row's "
            "largest logit as its target; the input findings judge the loss the call returned"
        )
        return (
            lambda: torch.isneginf(rows).any(dim=1),
            "its probability targets meet a -inf logit in {rows}: weight > 0 there makes the "
            "loss +inf, weight 0 NaN (0 × -inf)",
            f"use probability targets that are 0 on the masked classes and {finite_mask}",
        )
    ignore = _arg(args, kwargs, 4, "ignore_index", -100)
    keep = target.detach().reshape(-1) != ignore
    if not bool(keep.any()):
        calls.said(
            f"every target of a call is ignore_index ({ignore}): its rows are judged with each "
            "row's largest logit as the target; the input findings judge the loss it returned"
        )
        return (
            lambda: ~keep,
            f"every target is ignore_index ({ignore}), so its mean is over no row (0/0)",
            "leave batches without a target out of the loss, or use reduction='sum'",
        )
    smoothing = float(_arg(args, kwargs, 7, "label_smoothing", 0.0)) if op == "cross_entropy" else 0
    if smoothing <= 0:
        return None
    calls.said(
        f"label_smoothing={smoothing:g} is not modelled: the gradient check judges -log p of the "
        "target without it; the input findings judge the loss the call returned"
    )

    def masked() -> Any:  # a row with a -inf logit beside a finite one
        neginf = torch.isneginf(rows)
        return keep & neginf.any(dim=1) & ~neginf.all(dim=1)

    return (
        masked,
        f"label_smoothing={smoothing:g} puts weight {smoothing:g}/{rows.shape[1]} on every class, "
        "and there is a -inf logit in {rows}",
        "use probability targets that are 0 on the masked classes (label smoothing over the live "
        f"ones) and {finite_mask}",
    )
