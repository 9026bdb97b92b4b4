"""The softmax-method interface: what every implementation returns for one block of rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

    from smcheck.dtypes import FloatFormat
    from smcheck.methods.framework import TorchResult

Array = npt.NDArray[np.float64]


class NanCause(IntEnum):
    """Why an output probability is NaN; stable names appear in JSON."""

    NONE = 0
    INF_OVER_INF = 1
    ZERO_OVER_ZERO = 2
    INF_MINUS_INF = 3
    OTHER = 4

    @property
    def label(self) -> str:
        return {1: "inf/inf", 2: "0/0", 3: "inf-inf", 4: "other"}.get(self.value, "none")


@dataclass(frozen=True)
class MethodOutput:
    """A method's results on a (rows, n) block; every value is exactly a value of the format.

    Arrays are float64 (values of the narrower format held exactly), so the metrics are plain numpy.
    """

    p: Array
    """Probabilities as computed."""
    logp: Array
    """Log-probabilities as the method produces them (``log(p)`` for the probability routes)."""
    overflow: npt.NDArray[np.bool_] | None = None
    """Elements whose intermediate ``exp`` became +inf from a finite input."""
    sum_overflow: npt.NDArray[np.bool_] | None = None
    """Rows whose sum became +inf although every term was finite."""
    nan_cause: npt.NDArray[np.int8] | None = None
    """A :class:`NanCause` code per element (0 where the output is not NaN)."""
    absorbed: Array | None = None
    """Per row (strict model): the fraction of the summed mass whose addends left the running
    sum unchanged -- the accumulation stall; NaN where the sum is not finite."""


FrameworkFn = Callable[["torch.Tensor"], "TorchResult"]
StrictFn = Callable[[Array, "FloatFormat", bool], MethodOutput]


@dataclass(frozen=True)
class SoftmaxMethod:
    """A registered softmax algorithm, runnable under one or more arithmetic models."""

    name: str
    """Stable id (appears in JSON): naive, shifted, logdomain, torch, ..."""
    summary: str
    """One line: the computation."""
    log_route: str
    """How log-probabilities are obtained: "log(p)" or "log-softmax"."""
    framework: FrameworkFn
    """PyTorch ops on tensors of the format (the ``framework`` model); differentiable."""
    strict: StrictFn | None = None
    """Every operation rounded to the format, sums sequential (the ``strict`` model)."""

    @property
    def models(self) -> tuple[str, ...]:
        return ("framework", "strict") if self.strict is not None else ("framework",)
