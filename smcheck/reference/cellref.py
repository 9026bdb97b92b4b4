"""The reference a cell compares with: float64 up to float32 formats, double-double for float64."""

from __future__ import annotations

import numpy as np

from smcheck.dtypes import FloatFormat
from smcheck.reference.doubledouble import dd_reference
from smcheck.reference.exact import Reference, softmax64


def cell_reference(
    xd: np.ndarray, xsw: np.ndarray, f: FloatFormat, t: float, rd: Reference | None
) -> Reference:
    """The exact reference for format ``f`` at temperature ``t``.

    Args:
        xd: the chunk rounded to ``f`` (float64 values).
        xsw: ``xd`` divided by ``t`` in the working precision.
        f: the cell's format.
        t: the temperature.
        rd: the T=1 reference of ``xd``, if already known.
    """
    if f.t > 24:
        return dd_reference(xd, t)
    if t == 1.0 and rd is not None:
        return rd
    return softmax64(xsw)
