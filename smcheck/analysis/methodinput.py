"""What the methods see, and running them: a chunk negated for softmin, rounded, divided by T.

The engine and the critical-temperature search both go through these, so a row gets the same
bits in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from smcheck.dtypes import FloatFormat
from smcheck.sources.rows import row_block_mask

if TYPE_CHECKING:
    import torch

    from smcheck.methods.base import MethodOutput, SoftmaxMethod


def prepare_chunk(x: np.ndarray, softmin: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The analysed values of a float64 chunk and its (upstream, fully masked) row masks.

    Args:
        x: a chunk of source rows as float64.
        softmin: analyse softmax(-x); the negation is exact.

    Returns:
        The values (negated for softmin), rows with NaN or +inf, rows entirely -inf.
    """
    if softmin:
        x = -x  # Softmin(x) = softmax(-x); negation is exact
    upstream, masked = row_block_mask(x)
    return x, upstream, masked


def exact_in(src: np.dtype, f: FloatFormat) -> bool:
    """Whether every value of the source dtype is a value of ``f`` (rounding is the identity)."""
    t_src = {"float16": 11, "float32": 24, "float64": 53}.get(src.name)
    if t_src is None:
        return False
    w_src = {"float16": 5, "float32": 8, "float64": 11}[src.name]
    return f.t >= t_src and f.w >= w_src


def round_chunk(x: np.ndarray, f: FloatFormat, ftz: bool, src: np.dtype) -> np.ndarray:
    """``f.round(x)`` without the numpy passes where the result is known or torch is exact.

    The identity when the source dtype fits in ``f``; torch's cast when the values are float32
    (one correct rounding: float64 -> float32 is exact there); ``f.round`` otherwise.
    """
    import torch

    if ftz:
        return f.round(x, ftz=True)
    if exact_in(src, f):
        return x
    if src.name in ("float16", "float32") and f.t < 24:
        return torch.from_numpy(x).to(f.torch_dtype()).to(torch.float64).numpy()
    return f.round(x)


def divisor(f: FloatFormat, t: float) -> float:
    """The T that ``x / T`` (a Python float) divides a CPU tensor of ``f`` by: torch takes the
    scalar in the op's compute type, float32 up to float32 (16-bit ops compute in float32 and
    round the quotient once), float64 else. T is not rounded to a 16-bit format. (torch's CUDA
    kernel multiplies by 1/T instead; smcheck runs the methods on the CPU.)"""
    return float(np.float32(t)) if f.t <= 24 else float(t)


def divide(xt: torch.Tensor, f: FloatFormat, t: float) -> tuple[torch.Tensor, np.ndarray]:
    """``xt / T`` in the format ``f``, as user code writes it (T a Python float), and the
    elements that became +inf."""
    import torch

    if t == 1.0:
        return xt, np.zeros(tuple(xt.shape), dtype=bool)
    xs = xt / float(t)
    over = torch.isposinf(xs)
    if bool(over.any()):  # else no quotient overflowed: xt's pass is not needed
        over &= torch.isfinite(xt)
    return xs, over.numpy()


def scale_by_temperature(xt: torch.Tensor, xw: np.ndarray, f: FloatFormat, t: float):  # type: ignore[no-untyped-def]
    """Divide by T in the format (:func:`divide`); the exact quotient feeds the reference.

    Args:
        xt: the chunk rounded to ``f``, as a tensor of ``f``.
        xw: the same values in the reference's working precision.
        f: the format.
        t: the temperature.

    Returns:
        ``(xs, xsw, scale_over)``: the methods' input, ``xw / T`` in the working precision, and
        the elements that became +inf when divided in the format.
    """
    xs, scale_over = divide(xt, f, t)
    if t == 1.0:
        return xs, xw, scale_over
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        xsw = xw / xw.dtype.type(divisor(f, t))
    return xs, xsw, scale_over


def method_input(xs: torch.Tensor, xsw: np.ndarray, scale_over: np.ndarray) -> np.ndarray:
    """The methods' own input fl(x/T) as float64, which the cell's reference is the softmax of.

    Rounding x/T to the format is, like the cast, the format's input rounding (measured apart,
    docs/design.md §4), not a method's error. Elements whose quotient overflowed keep the exact
    one (those rows are overflow findings), and so do those it took below the format's range:
    -inf there is p = 0 correctly rounded, but the exact log p is finite and the element live
    (a -inf in the reference read as a log p of -inf, an underflow headroom of -inf). Returns
    ``xsw`` itself when the division was exact.
    """
    import torch

    xin = xs.to(torch.float64).numpy()
    kept = scale_over | ((xin == -np.inf) & (xsw != -np.inf))
    if kept.any():
        xin = np.where(kept, xsw, xin)
    return xsw if np.array_equal(xin, xsw, equal_nan=True) else xin


def run_method(
    method: SoftmaxMethod, model: str, xs: torch.Tensor, fmt: FloatFormat, ftz: bool
) -> MethodOutput:
    """One method's forward pass on the scaled input, under the ``framework`` or ``strict`` model.

    The strict model starts from the same rounded x/T the framework sees.
    """
    import torch

    if model == "framework":
        return method.framework(xs).to_output()
    assert method.strict is not None
    return method.strict(xs.to(torch.float64).numpy(), fmt, ftz)
