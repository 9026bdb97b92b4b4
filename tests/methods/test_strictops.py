"""The strict model's arithmetic is exact per operation: one correct rounding of the true result.

Checked against an independent rounding (exact rationals rounded to nearest even in pure Python,
subnormals, overflow and flush-to-zero included), against the formats' native arithmetic
(numpy float16/float32, torch bfloat16), and exp/log/log1p against mpmath.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch

from smcheck.dtypes import FloatFormat, get_format
from smcheck.methods.strictops import StrictArith, fn_error
from tests.conftest import DTYPES


def round_fraction(q: Fraction, fmt: FloatFormat, ftz: bool = False) -> float:
    """Round an exact rational to ``fmt``: nearest even, gradual underflow, overflow to inf."""
    if q == 0:
        return 0.0
    sign = -1.0 if q < 0 else 1.0
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()  # 2^e <= a < 2^(e+2)
    if Fraction(2) ** e > a:
        e -= 1
    if Fraction(2) ** (e + 1) <= a:
        e += 1
    quantum = Fraction(2) ** (max(e, fmt.emin) - fmt.t + 1)  # spacing; fixed below tiny
    k, rem = divmod(a, quantum)
    if rem > quantum / 2 or (rem == quantum / 2 and k % 2 == 1):
        k += 1
    value = k * quantum
    if value > Fraction(fmt.max):
        return sign * math.inf
    if ftz and value < Fraction(fmt.tiny):
        return sign * 0.0
    return sign * float(value)


def format_values(fmt: FloatFormat, count: int, seed: int) -> np.ndarray:
    """Finite values of ``fmt`` from random bit patterns: every exponent, subnormals included."""
    rng = np.random.default_rng(seed)
    with np.errstate(invalid="ignore"):  # some patterns are signalling NaNs
        return _from_bits(fmt, rng, count)


def _from_bits(fmt: FloatFormat, rng: np.random.Generator, count: int) -> np.ndarray:
    if fmt.name == "bfloat16":
        bits = rng.integers(0, 2**16, count, dtype=np.uint64).astype(np.uint32) << np.uint32(16)
        v = bits.view(np.float32).astype(np.float64)
    else:
        width = {"float16": 16, "float32": 32, "float64": 64}[fmt.name]
        raw = rng.integers(0, 2**63, count, dtype=np.uint64) >> np.uint64(64 - width)
        v = raw.astype(f"uint{width}").view(f"float{width}").astype(np.float64)
        v = np.where(np.isfinite(v), v, 1.0) * np.where(rng.random(count) < 0.5, -1.0, 1.0)
    return v[np.isfinite(v)]


def subnormal_heavy(fmt: FloatFormat, count: int, seed: int) -> np.ndarray:
    """Values in the bottom few binades, where results are subnormal or just normal."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(-4, 4, count) * fmt.tiny
    return fmt.round(v)


OPS = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("ftz", [False, True], ids=["gradual", "ftz"])
@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_arithmetic_is_one_correct_rounding(dtype: str, op: str, ftz: bool) -> None:
    fmt = get_format(dtype)
    arith = StrictArith(fmt, ftz)
    a = np.concatenate([format_values(fmt, 600, 1), subnormal_heavy(fmt, 200, 3)])
    b = np.concatenate([format_values(fmt, 600, 2), subnormal_heavy(fmt, 200, 4)])
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    if ftz:  # inputs are format values as the engine gives them: already flushed
        a, b = arith.round_value(a), arith.round_value(b)
    if op == "div":
        a, b = a[b != 0], b[b != 0]
    exact, _ = OPS[op]
    expected = [
        round_fraction(exact(Fraction(x), Fraction(y)), fmt, ftz)
        for x, y in zip(a.tolist(), b.tolist(), strict=True)
    ]
    with np.errstate(all="ignore"):
        got = getattr(arith, op)(a, b)
    np.testing.assert_array_equal(got, expected)


def test_ties_round_to_even_in_float16() -> None:
    # 2048 + 1 = 2049 lies halfway between 2048 and 2050 (spacing 2 above 2^11): even is 2048;
    # 2050 + 1 = 2051 is halfway between 2050 and 2052: even significand is 2052
    arith = StrictArith(get_format("float16"))
    assert arith.add(np.array([2048.0, 2050.0]), 1.0).tolist() == [2048.0, 2052.0]


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_arithmetic_matches_numpy_native(dtype: str, op: str) -> None:
    fmt = get_format(dtype)
    a, b = format_values(fmt, 3000, 5), format_values(fmt, 3000, 6)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    native = OPS[op][1]
    with np.errstate(all="ignore"):
        expected = native(a.astype(dtype), b.astype(dtype)).astype(np.float64)
        got = getattr(StrictArith(fmt), op)(a, b)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("op", sorted(OPS))
def test_arithmetic_matches_torch_bfloat16(op: str) -> None:
    fmt = get_format("bfloat16")
    a, b = format_values(fmt, 3000, 7), format_values(fmt, 3000, 8)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    ta, tb = (torch.from_numpy(v).to(torch.bfloat16) for v in (a, b))
    # torch computes bfloat16 arithmetic in float32 and rounds once (innocuous: 24 >= 2*8 + 2)
    expected = OPS[op][0](ta, tb).to(torch.float64).numpy()
    with np.errstate(all="ignore"):
        got = getattr(StrictArith(fmt), op)(a, b)
    np.testing.assert_array_equal(got, expected)


def mp_fraction(v: mpmath.mpf) -> Fraction:
    sign, man, exp, _ = mpmath.mpf(v)._mpf_  # value = (-1)^sign * man * 2^exp
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)


FUNCS = {"exp": mpmath.exp, "log": mpmath.log, "log1p": mpmath.log1p}


@pytest.mark.parametrize("ftz", [False, True], ids=["gradual", "ftz"])
@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_functions_round_the_true_value_once(dtype: str, name: str, ftz: bool) -> None:
    """The result is the correctly rounded value, or a neighbour only where the true value lies
    within the wider evaluation's error (fn_error - 1 units of u) of the midpoint between them."""
    fmt = get_format(dtype)
    rng = np.random.default_rng(11)
    if name == "exp":  # over the whole range where exp(x) is normal, subnormal or 0 in fmt
        lo = math.log(fmt.smallest_subnormal) - 2
        x = fmt.round(rng.uniform(lo, fmt.exp_overflow_x + 1, 400))
    else:
        x = format_values(fmt, 800, 12)
        x = np.abs(x[x != 0])[:400]
    arith = StrictArith(fmt, ftz)
    with np.errstate(all="ignore"):
        got = getattr(arith, name)(x)
    mpmath.mp.prec = 200
    slack = Fraction(fn_error(fmt) - 1) * Fraction(fmt.u)
    for xi, gi in zip(x.tolist(), got.tolist(), strict=True):
        true = mp_fraction(FUNCS[name](mpmath.mpf(xi)))
        want = round_fraction(true, fmt, ftz)
        if gi == want:
            continue
        assert math.isfinite(gi) and math.isfinite(want), (xi, gi, want)
        mid = (Fraction(gi) + Fraction(want)) / 2
        assert abs(true - mid) <= slack * abs(true), (xi, gi, want)


def test_cumsum_is_sequential_and_reports_the_stall() -> None:
    # 4096 ones in float16: the running sum reaches 2048 = 2^11 after 2048 terms; every later
    # 1 is a tie (2049 between 2048 and 2050) that rounds back to even 2048, so 2048 ones are
    # absorbed and the sum ends at 2048
    arith = StrictArith(get_format("float16"))
    s, absorbed = arith.cumsum(np.ones((2, 4096)))
    assert s.tolist() == [2048.0, 2048.0]
    assert absorbed.tolist() == [2048.0, 2048.0]
    # bfloat16 (t = 8) stalls at 256, float32 (t = 24) not before 2^24
    assert StrictArith(get_format("bfloat16")).cumsum(np.ones((1, 1000)))[0].tolist() == [256.0]
    assert StrictArith(get_format("float32")).cumsum(np.ones((1, 1000)))[0].tolist() == [1000.0]


def test_cumsum_marks_overflowed_rows() -> None:
    arith = StrictArith(get_format("float16"))
    with np.errstate(all="ignore"):
        s, absorbed = arith.cumsum(np.array([[60000.0, 60000.0, 1.0], [1.0, 2.0, 3.0]]))
    assert s[0] == math.inf and math.isnan(absorbed[0])
    assert s[1] == 6.0 and absorbed[1] == 0.0
