"""How a golden output is compared with its recording: exactly, but for float noise.

The cases run with torch's kernels pinned to AVX2, numpy's AVX-512 loops off and MKL in its
cross-CPU mode (``cases.pinned_env``), so on x86 CPUs with AVX2 the outputs are the recording
byte for byte but for the loss errors below (``LOSS_ULP``). What the pins cannot reach
(another libm, a CPU whose float64 exp/log round a last bit differently) is last-bit noise,
and this module lets exactly that through:

* JSON (the ``--- stdout`` of a ``.json`` case): keys and their order, list lengths, ints,
  bools and nulls exactly; floats within ``RTOL`` relative; strings as text lines (below),
  since messages print the same figures as the text reports.
* Text (every other output, and the lines around the JSON): words and integers exactly; a
  decimal figure (``4.36``, ``3.1e-07``) may move by one unit of its last printed digit,
  printed alike (``4.361`` for ``4.36`` is a change of format), or round to a power of ten
  (``9.99`` and ``10``), and where that changes its width the spaces around it may change
  length (a column re-aligns).

``RTOL`` = 1e-8. Measured on an AMD EPYC (AVX-512) against the Intel recording with numpy's
AVX-512 loops on (``python tests/golden/noise.py NPY_DISABLE_CPU_FEATURES=``; numpy's own
float64 exp/log/log1p/expm1 there round up to 1 ulp apart in 0.05-5% of values): exact values
such as ``exact_losses`` and the temperature sweep's means moved 1 ulp (2e-16 relative), and
the largest relative difference of any float was 3.3e-12 (mnist.json, naive/float32
``gradient.loss_error.max_abs``, a difference of two losses that turns a 1-ulp change of the
exact loss into 16384 ulps); no int, string, key or text figure moved. 1e-8 is 3000 times that
and 1e5 times finer than the 3 significant digits the text reports print. torch's framework
cells are another matter (``... noise.py ATEN_CPU_CAPABILITY=avx512``): its AVX-512 and AVX2
kernels round a float64 softmax apart, so those cells' measured errors move by up to 100%,
their histogram counts and worst rows change and their text figures too; no tolerance covers
that without blinding the test, hence the pin. So with MKL's vector math, which torch's float32
and float64 exp and log call (``... noise.py MKL_CBWR=AUTO`` on an Intel Xeon with AVX-512:
12 of 37 cases fail, float64 cells' measured errors moving by up to 79%), hence
``MKL_CBWR=COMPATIBLE``.
"""

from __future__ import annotations

import json
import re
from typing import Any

RTOL = 1e-8
"""Relative tolerance on a JSON float (the module docstring says where it comes from)."""

LOSS_ULP = 2.0**-60
"""Absolute tolerance on a gradient's ``loss_error.max_abs``, |loss - exact loss|: a
difference of two float64 losses, which one last bit of either moves by that loss's ulp, far
beyond RTOL of a difference a few ulps wide. On an Intel Xeon the temperature sweep's float64
cells (classifier-sweep.json, T = 2 and 4) moved by 2^-69, 2^-67 and 2^-66, one ulp of losses
below 2^-13, with every pin above on (the pins, ``NUMBA_CPU_NAME=generic`` and numpy's
baseline loops each left them so: not traced further). 2^-60 is one ulp of a loss below
2^-7: a last bit of a larger loss still fails."""
_LOSS_ERROR = ".gradient.loss_error.max_abs"

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
_SPACE = re.compile(r" +")
_POWER_OF_TEN = re.compile(r"[-+]?(?:10*|0\.0*1)(?:\.0*)?(?:[eE][-+]?\d+)?")
_STDOUT, _STDERR = "--- stdout\n", "--- stderr\n"


def differences(expected: str, got: str, *, json_case: bool) -> list[str]:
    """What differs beyond float noise between a recorded output and a new one (empty: same)."""
    if expected == got:
        return []
    if json_case:
        split_e, split_g = _split_json(expected), _split_json(got)
        if split_e is not None and split_g is not None:
            out = _text(split_e[0] + split_e[2], split_g[0] + split_g[2])
            return out + _json(split_e[1], split_g[1], "$")
    return _text(expected, got)


def _split_json(text: str) -> tuple[str, Any, str] | None:
    """(head, parsed stdout, stderr part) of a recorded JSON case; None if stdout is not JSON."""
    head, sep, rest = text.partition(_STDOUT)
    body, sep2, tail = rest.partition(_STDERR)
    if not sep or not sep2:
        return None
    try:
        return head + sep, json.loads(body), sep2 + tail
    except ValueError:
        return None


def _json(e: Any, g: Any, path: str) -> list[str]:
    if type(e) is not type(g):
        return [f"{path}: {e!r} became {g!r}"]
    if isinstance(e, dict):
        if list(e) != list(g):
            return [f"{path}: keys {list(e)} became {list(g)}"]
        return [d for k in e for d in _json(e[k], g[k], f"{path}.{k}")]
    if isinstance(e, list):
        if len(e) != len(g):
            return [f"{path}: {len(e)} items became {len(g)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(e, g, strict=True))
            for d in _json(a, b, f"{path}[{i}]")
        ]
    if isinstance(e, float):
        if same_float(e, g) or (path.endswith(_LOSS_ERROR) and abs(e - g) <= LOSS_ULP):
            return []
        return [f"{path}: {e!r} became {g!r} (beyond {RTOL:g})"]
    if isinstance(e, str):
        return [] if not _line(e, g) else [f"{path}: {e!r} became {g!r}"]
    return [] if e == g else [f"{path}: {e!r} became {g!r}"]


def same_float(e: float, g: float) -> bool:
    """Equal within ``RTOL`` of the larger magnitude, so an exact zero stays exact (JSON floats
    are finite: non-finite numbers are strings)."""
    return e == g or abs(e - g) <= RTOL * max(abs(e), abs(g))


def _text(expected: str, got: str) -> list[str]:
    e_lines, g_lines = expected.splitlines(), got.splitlines()
    if len(e_lines) != len(g_lines):
        return [f"{len(e_lines)} lines became {len(g_lines)}"]
    return [
        f"line {i + 1}: {a!r} became {b!r}"
        for i, (a, b) in enumerate(zip(e_lines, g_lines, strict=True))
        if _line(a, b)
    ]


def _line(e: str, g: str) -> bool:
    """True where line ``g`` differs from ``e`` beyond a last printed digit (see module doc)."""
    if e == g:
        return False
    e_nums, g_nums = _NUMBER.findall(e), _NUMBER.findall(g)
    if len(e_nums) != len(g_nums) or not all(map(_same_figure, e_nums, g_nums)):
        return True
    e_rest, g_rest = _NUMBER.sub("#", e), _NUMBER.sub("#", g)
    if [len(n) for n in e_nums] == [len(n) for n in g_nums]:
        return e_rest != g_rest  # figures of the same width: the layout must not move
    return _SPACE.sub(" ", e_rest) != _SPACE.sub(" ", g_rest)


def _same_figure(e: str, g: str) -> bool:
    """Two printed numbers the same but for one unit of the last digit of a decimal, printed
    alike (as many decimals, exponent or not) unless one is a power of ten (``.3g`` prints
    9.995 as ``10``); two integers exactly."""
    if e == g:
        return True
    units = [_unit(s) for s in (e, g) if not _is_integer(s)]
    if not units or abs(float(e) - float(g)) > max(units) * (1 + 1e-9):
        return False
    return _shape(e) == _shape(g) or any(_POWER_OF_TEN.fullmatch(s) for s in (e, g))


def _shape(s: str) -> tuple[int, bool]:
    """How a figure is printed: its decimals and whether it has an exponent."""
    mantissa, e, _ = s.lower().partition("e")
    return len(mantissa.partition(".")[2]), bool(e)


def _is_integer(s: str) -> bool:
    return not any(c in s for c in ".eE")


def _unit(s: str) -> float:
    """The value of one unit in the last printed digit of ``s`` (``3.1e-07``: 1e-08)."""
    mantissa, _, exp = s.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exp or 0) - decimals)
