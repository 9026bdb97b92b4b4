"""A float64's bits as an int64 and back, for loops the compiler vectorises.

Without ``fastmath`` (off in every kernel: they measure rounding) LLVM will not vectorise a
floating-point max, as reordering it is not exact for NaN and signed zeros; an integer max it
does. :func:`order_key` maps a float64 to an int64 in the same order, so a maximum over a row
becomes an integer reduction and :func:`from_key` gives the float back.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from smcheck.kernels import kernel

_LOW63 = 0x7FFFFFFFFFFFFFFF
NO_KEY = -(1 << 63)
"""Below every :func:`order_key` and :func:`signed_key`: the key of NaN, the maximum of nothing."""


@intrinsic
def bits(typingctx, x):  # type: ignore[no-untyped-def]
    """The float64's bits as an int64 (a register move; numba's scalar .view allocates)."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def from_bits(typingctx, x):  # type: ignore[no-untyped-def]
    """The float64 whose bits are the int64 x."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@kernel
def signed_key(x):  # type: ignore[no-untyped-def]
    """An int64 ordered as the float64 ``x`` (not NaN), -0.0 below 0.0: a negative x's
    magnitude bits are flipped so that larger means larger."""
    k = bits(x)
    return k ^ ((k >> 63) & _LOW63)


@kernel
def order_key(x):  # type: ignore[no-untyped-def]
    """:func:`signed_key` with -0.0 and 0.0 sharing a key (x + 0.0 is +0.0)."""
    return signed_key(x + 0.0)


@kernel
def from_key(k):  # type: ignore[no-untyped-def]
    """The float64 of an :func:`order_key` (the map is its own inverse on the bits)."""
    return from_bits(k ^ ((k >> 63) & _LOW63))
