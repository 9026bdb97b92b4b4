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

from smcheck.capture.sites import call_arg
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


@dataclass
class LossRows:
    """One loss call's input as its checks read it, built once per call (hooks._loss_rows)."""

    rows: Any
    """The input with the class axis last, the other axes flattened (a view where it can be)."""
    target: Any
    """The call's target tensor as given (class indices or probabilities); None: no tensor."""
    classes: Any
    """The flat class targets, where they are class indices, one per row; else None."""
    keep: Any
    """``classes != ignore_index`` (None with ``classes``)."""
    any_kept: bool
    ignore: int
    out: Any
    """The loss the call returned (detached)."""
    finite: bool
    """Whether ``out`` is finite: only a non-finite loss needs the rows read."""

    def nan(self) -> bool:
        """Whether the loss the call returned holds a NaN."""
        import torch

        return not self.finite and bool(torch.isnan(self.out).any())


def loss_rows(x: Any, args: tuple, kwargs: dict, out: Any) -> LossRows:
    """The rows, targets and kept targets of one loss call on ``x`` (one pass, one sync each)."""
    import torch

    d = 0 if x.dim() == 1 else 1
    rows = x.detach().movedim(d, -1).reshape(-1, x.shape[d])
    target = call_arg(args, kwargs, 1, "target")
    ignore = call_arg(args, kwargs, 4, "ignore_index", -100)
    classes = keep = None
    if isinstance(target, torch.Tensor) and not target.is_floating_point():
        classes = target.detach().reshape(-1)
        if classes.numel() != rows.shape[0]:
            classes = None  # not one target a row: torch raised, or it is not read here
        else:
            keep = classes != ignore
    target = target if isinstance(target, torch.Tensor) else None
    any_kept = keep is not None and bool(keep.any())
    out = out.detach()
    finite = bool(torch.isfinite(out).all())
    return LossRows(rows, target, classes, keep, any_kept, ignore, out, finite)


def judge_call(
    calls: LossCalls, op: str, args: tuple, kwargs: dict, loss: LossRows, dtype: str
) -> None:
    """Note the call's unmodelled terms into ``calls`` and, where it returned a non-finite loss
    for one of them, its cause and fix (``dtype``: the format the call ran in)."""
    import torch

    if loss.target is None:
        return
    rows = loss.rows
    found = _term(calls, op, args, kwargs, loss, dtype)
    if found is None or loss.finite:
        return
    bad, why, fix = found[0](), found[1], found[2]  # the rows read only for a non-finite loss
    if not bool(bad.any()):
        return
    calls.nonfinite += 1
    if calls.cause:
        return
    n, first = int(bad.sum()), int(torch.nonzero(bad)[0, 0])
    some = f"{n} of {rows.shape[0]} rows (first row [{first}])" if n < rows.shape[0] else ""
    calls.value = "NaN" if loss.nan() else "inf"
    calls.cause, calls.fix = why.replace("{rows}", some or "every row"), fix


def _term(
    calls: LossCalls, op: str, args: tuple, kwargs: dict, loss: LossRows, dtype: str
) -> tuple[Callable[[], Any], str, str] | None:
    """The call's term the cells do not model, noted once: (the rows it makes non-finite, as a
    function, why, with ``{rows}`` for them, and the fix); None for a call the cells model."""
    import torch

    rows, keep, ignore = loss.rows, loss.keep, loss.ignore
    finite_mask = f"{mask_with_min(dtype)}: 0 × -inf is NaN"
    if loss.target.is_floating_point():  # probability targets, one row each
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
    if keep is None:  # not one class target a row: torch raised
        return None
    if not loss.any_kept:
        calls.said(
            f"every target of a call is ignore_index ({ignore}): its rows are judged with each "
            "row's largest logit as the target; the input findings judge the loss it returned"
        )
        return (
            lambda: ~keep,
            f"every target is ignore_index ({ignore}), so its mean is over no row (0/0)",
            "leave batches without a target out of the loss, or use reduction='sum'",
        )
    smoothing = (
        float(call_arg(args, kwargs, 7, "label_smoothing", 0.0)) if op == "cross_entropy" else 0
    )
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
