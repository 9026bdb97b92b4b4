"""Floating-point formats: canonical names, limits derived from their bit layout, rounding.

Every limit is computed from the format's exponent and significand widths (IEEE 754 rules), never
typed in; tests check them against ``np.finfo`` and ``torch.finfo``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from smcheck.errors import UnsupportedDtypeError

if TYPE_CHECKING:
    import torch

DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
"""The formats analysed by default, narrowest first."""

ALIASES: dict[str, str] = {
    "fp16": "float16",
    "half": "float16",
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "fp32": "float32",
    "float": "float32",
    "single": "float32",
    "f64": "float64",
    "fp64": "float64",
    "double": "float64",
}


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-style binary format: ``t`` significand bits (implicit one included), ``w`` exponent
    bits."""

    name: str
    w: int
    """Exponent field width in bits."""
    t: int
    """Precision: significand bits including the implicit leading bit."""

    @property
    def emax(self) -> int:
        return 2 ** (self.w - 1) - 1

    @property
    def emin(self) -> int:
        return 1 - self.emax

    @property
    def max(self) -> float:
        return math.ldexp(2.0 - math.ldexp(1.0, 1 - self.t), self.emax)

    @property
    def tiny(self) -> float:
        """Smallest positive normal number."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        return math.ldexp(1.0, self.emin - self.t + 1)

    @property
    def eps(self) -> float:
        """Machine epsilon: spacing of the format at 1."""
        return math.ldexp(1.0, 1 - self.t)

    @property
    def u(self) -> float:
        """Unit roundoff 2^-t (round to nearest)."""
        return math.ldexp(1.0, -self.t)

    @property
    def exp_overflow_x(self) -> float:
        """ln of the first value that rounds to +inf, max + ulp(max)/2 = 2^emax (2 - 2^-t)
        (the tie rounds to inf: max's significand is odd). exp(x) is +inf for x at or above
        this, and a row's sum of exp is +inf where its logsumexp is (float16: ln 65520 =
        11.0902, not ln 65504 = 11.0899)."""
        return (self.emax + 1) * math.log(2.0) + math.log1p(-math.ldexp(1.0, -self.t - 1))

    @property
    def exp_subnormal_x(self) -> float:
        """ln of the largest value that rounds to a subnormal's neighbourhood: below
        tiny - s/2 = tiny (1 - 2^-t) a value rounds to a subnormal (the tie rounds up to tiny,
        whose significand is even); exp(x) is subnormal for x below this."""
        return self.emin * math.log(2.0) + math.log1p(-math.ldexp(1.0, -self.t))

    @property
    def exp_zero_x(self) -> float:
        """ln(smallest_subnormal / 2): exp(x) rounds to 0 at or below this."""
        return (self.emin - self.t + 1) * math.log(2.0) - math.log(2.0)  # s/2 underflows in float64

    @property
    def log_zero(self) -> float:
        """A probability p rounds to 0 in this format iff ln p <= this (the value of exp_zero_x)."""
        return self.exp_zero_x

    @property
    def neg_overflow(self) -> float:
        """-(max + ulp(max)/2): a value at or below it rounds to -inf (float16: -65520, so a log p
        of -1.2e5 is -inf correctly rounded); -inf for float64, whose bound float64 cannot hold
        (no float64 log p reaches it)."""
        if self.t >= 53:
            return -math.inf
        return -math.ldexp(2.0 - math.ldexp(1.0, -self.t), self.emax)

    @property
    def sum_stall(self) -> int:
        """Length at which a running sum of ones stops growing: 2^t (float16 2048, bfloat16 256)."""
        return 2**self.t

    @cached_property
    def numpy_dtype(self) -> np.dtype | None:
        """The numpy dtype, or None for bfloat16 (numpy has none)."""
        return None if self.name == "bfloat16" else np.dtype(self.name)

    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.name)

    def ulp(self, p: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """Spacing of the format at |p| (the smallest subnormal below tiny); p given in float64+."""
        a = np.abs(p)
        _, e = np.frexp(np.where(a > 0, a, 1.0))
        # a in [2^(e-1), 2^e): spacing 2^(e-t); subnormal range has the fixed spacing 2^(emin-t+1)
        return np.ldexp(np.ones_like(a), np.maximum(e, self.emin + 1) - self.t)

    def round(self, x: npt.ArrayLike, *, ftz: bool = False) -> npt.NDArray[np.float64]:
        """Round float64 values to this format (round to nearest even), returned as float64.

        One correct rounding from float64 (numpy converts float64 to float16/float32 directly;
        bfloat16 is rounded here bit-exactly). Overflow gives ±inf, subnormals are kept unless
        ``ftz`` flushes them to (signed) zero. NaN stays NaN.
        """
        a = np.asarray(x, dtype=np.float64)
        if self.name == "float64":
            y = a.copy()
        elif self.numpy_dtype is not None:
            with np.errstate(over="ignore"):
                y = a.astype(self.numpy_dtype).astype(np.float64)
        else:
            y = _round_generic(a, self)
        if ftz:
            y = np.where(np.abs(y) < self.tiny, np.copysign(0.0, y), y)
        return y


def _round_generic(a: npt.NDArray[np.float64], f: FloatFormat) -> npt.NDArray[np.float64]:
    """Round-to-nearest-even of float64 values to a narrower format, subnormals included."""
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(a)
        # |a| in [2^(e-1), 2^e) has spacing 2^(e-t); below tiny the spacing is fixed (subnormals)
        e = np.maximum(e, f.emin + 1)
        y = np.ldexp(np.rint(np.ldexp(a, f.t - e)), e - f.t)  # np.rint rounds half to even
        return np.where(np.abs(y) > f.max, np.copysign(np.inf, a), y)


FORMATS: dict[str, FloatFormat] = {
    "float16": FloatFormat("float16", w=5, t=11),
    "bfloat16": FloatFormat("bfloat16", w=8, t=8),
    "float32": FloatFormat("float32", w=8, t=24),
    "float64": FloatFormat("float64", w=11, t=53),
}


def canonical_dtype(name: str) -> str:
    """Normalise a dtype name or alias (``fp16``, ``bf16``, ``half``, ``double``…) to its
    canonical name."""
    key = name.strip().lower().removeprefix("torch.")
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        valid = ", ".join(DTYPES)
        raise UnsupportedDtypeError(
            f"unknown dtype {name!r}; use one of {valid} (or fp16, bf16, half, float, double)"
        )
    return key


def get_format(name: str) -> FloatFormat:
    """The :class:`FloatFormat` for a dtype name or alias."""
    return FORMATS[canonical_dtype(name)]


WIDER_FORMATS = {
    "float16": ("float32", "float64"),
    "bfloat16": ("float32", "float64"),
    "float32": ("float64",),
    "float64": (),
}
"""The wider formats of each, narrowest first."""


def next_wider(dtype: str) -> str | None:
    """The narrowest format wider than ``dtype``; None for float64."""
    return next(iter(WIDER_FORMATS.get(dtype, ())), None)


def next_wider_range(dtype: str, largest: float | None = None) -> str | None:
    """The narrowest format with more exponent range than ``dtype`` (bfloat16's is float32's:
    a quotient beyond one is beyond the other, but for a sliver) that holds ``largest`` (any
    when unknown, as :func:`holding`); None for float64, or where none holds it."""
    emax = get_format(dtype).emax
    return next((w for w in holding(dtype, largest) if get_format(w).emax > emax), None)


def holding(dtype: str, largest: float | None) -> tuple[str, ...]:
    """The formats wider than ``dtype`` whose cast keeps ``largest`` finite, narrowest first,
    analysed or not (1e39 is beyond float32 as well as float16); all of them when unknown.
    The ranges are symmetric: for a negative value, pass its magnitude."""
    wider = WIDER_FORMATS.get(dtype, ())
    if largest is None:
        return wider
    # a value rounds to +inf at or above max + ulp(max)/2 (-neg_overflow; inf for float64)
    return tuple(w for w in wider if largest < -get_format(w).neg_overflow)


def format_limits(names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The limits of each format (all formats when ``names`` is empty), as ``thresholds`` shows.

    Args:
        names: dtype names or aliases, in the order wanted.

    Returns:
        One dict per format: its layout, range, roundoff, and where exp and softmax overflow,
        underflow and stall (raises UnsupportedDtypeError on an unknown name).
    """
    out = []
    for name in dict.fromkeys(canonical_dtype(n) for n in names or DTYPES):  # fp16,half: once
        f = get_format(name)
        out.append(
            {
                "dtype": f.name,
                "precision_bits": f.t,
                "exponent_bits": f.w,
                "max": f.max,
                "smallest_normal": f.tiny,
                "smallest_subnormal": f.smallest_subnormal,
                "eps": f.eps,
                "u": f.u,
                "exp_overflow_above": f.exp_overflow_x,
                "exp_subnormal_below": f.exp_subnormal_x,
                "exp_zero_below": f.exp_zero_x,
                "underflow_gap_nats": -f.log_zero,
                "subnormal_gap_nats": -f.exp_subnormal_x,
                "sum_stall_length": f.sum_stall,
            }
        )
    return out
