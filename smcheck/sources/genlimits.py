"""What a generated array may hold: logit values its output format can represent.

A value the format cannot hold rounds to ±inf, which the analysis reads as an upstream +inf or a
-inf mask: a parameter asking for one, or draws that reach one, are refused instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from smcheck.errors import ConfigError

_POSITIONS = ("loc", "low", "high", "value", "top")
"""Parameters that are logit values themselves (a centre, a bound, the constant, llm's top)."""


def check_fits(name: str, values: Mapping[str, float], dtype: np.dtype) -> None:
    """Refuse a logit-valued parameter the output format cannot hold: rounded to ±inf, it would
    read as an upstream +inf or a -inf mask, not as the number asked for."""
    for key in _POSITIONS:
        v = values.get(key)
        if v is None or not math.isfinite(v):  # constant's own inf and nan are meant
            continue
        with np.errstate(over="ignore"):
            if math.isfinite(np.asarray(v, dtype=dtype)):
                continue
        top = float(np.finfo(dtype).max)
        raise ConfigError(
            f"parameter {key!r} of generator {name!r} is {v:g}, beyond {dtype.name}'s largest "
            f"value {top:.8g}; use a value within ±{top:.8g}{_wider(dtype)}"
        )


def check_drawn(name: str, values: Mapping[str, float], x: np.ndarray, out: np.ndarray) -> None:
    """Refuse draws that overflowed: finite float64 values the cast to ``out`` made ±inf, or
    float64 overflow itself (infinities or NaN no parameter asked for)."""
    lost = np.isfinite(x) & ~np.isfinite(out)
    if name != "constant":  # constant's value may be ±inf or nan; masked's -inf are its masks
        lost |= np.isnan(x) | (x == np.inf) | ((x == -np.inf) if name != "masked" else False)
    n = int(np.count_nonzero(lost))
    if not n:
        return
    given = ", ".join(f"{k}={v:g}" for k, v in values.items() if isinstance(v, float))
    top = float(np.finfo(out.dtype).max)
    raise ConfigError(
        f"generator {name!r} ({given}) draws {n} of {x.size} values beyond {out.dtype.name}'s "
        f"largest value {top:.8g}, which would read as ±inf; use parameters whose values stay "
        f"within ±{top:.8g}{_wider(out.dtype)}"
    )


def _wider(dtype: np.dtype) -> str:
    """The fix's second half: the next wider output format, where there is one."""
    wider = {"float16": "float32", "float32": "float64"}.get(dtype.name)
    return f", or generate {wider} (dtype={wider})" if wider else ""
