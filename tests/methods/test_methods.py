"""The framework-model methods: dtypes, shapes, no writeback, and accuracy against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

from smcheck.dtypes import get_format
from smcheck.errors import UnknownMethodError
from smcheck.methods import METHODS, framework, get_method
from tests.conftest import DTYPES, TOLERANCES

mpmath.mp.dps = 50

ROWS = np.array(
    [[-25.0, 0, 25, 50], [1, 325, 749, 750], [1.0, 1.0, 1.0, 1.0], [-3.5, 0.25, 2.0, 7.0]]
)


def mp_softmax(row: np.ndarray) -> list[float]:
    xs = [mpmath.mpf(float(v)) for v in row]
    s = mpmath.fsum(mpmath.exp(v) for v in xs)
    return [float(mpmath.exp(v) / s) for v in xs]


def as_tensor(x: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.from_numpy(get_format(dtype).round(x)).to(getattr(torch, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["shifted", "logdomain", "torch"])
def test_stable_methods_match_mpmath(name: str, dtype: str) -> None:
    f = get_format(dtype)
    x = f.round(ROWS)
    out = get_method(name).framework(as_tensor(ROWS, dtype)).to_output()
    expected = np.array([mp_softmax(r) for r in x])
    rtol, atol = TOLERANCES[dtype]
    # a few roundings per element plus |x - m| amplification of the subtraction's rounding
    np.testing.assert_allclose(out.p, expected, rtol=8 * rtol, atol=atol)
    assert out.p.dtype == np.float64 and out.p.shape == x.shape
    np.testing.assert_array_equal(out.p, f.round(out.p))  # every value is a value of the format


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_matches_mpmath_where_exp_is_finite(dtype: str) -> None:
    f = get_format(dtype)
    x = f.round(np.array([[-3.5, 0.25, 2.0, 7.0], [1.0, 2.0, 3.0, 4.0]]))
    out = get_method("naive").framework(as_tensor(x, dtype)).to_output()
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(out.p, [mp_softmax(r) for r in x], rtol=8 * rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_no_writeback(name: str) -> None:
    t = torch.tensor([[1.0, 2.0, 3.0, 800.0]], dtype=torch.float32)
    before = t.clone()
    get_method(name).framework(t)
    assert torch.equal(t, before)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_shift_invariance_float64(name: str) -> None:
    x = np.array([[0.5, -1.25, 3.0, 2.0]])
    a = get_method(name).framework(torch.from_numpy(x)).to_output().p
    b = get_method(name).framework(torch.from_numpy(x + 8.0)).to_output().p
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_naive_overflow_and_sum_overflow_are_flagged() -> None:
    # exp(10) = 22032 in float16: finite, but three of them sum past 65504
    x = torch.tensor([[12.0, 0.0, 0.0], [10.0, 10.0, 10.0]], dtype=torch.float16)
    out = get_method("naive").framework(x).to_output()
    assert out.overflow is not None and out.sum_overflow is not None
    assert out.overflow.tolist() == [[True, False, False], [False, False, False]]
    assert out.sum_overflow.tolist() == [False, True]


def test_overflow_masks_are_exact_and_skipped_only_where_nothing_can_overflow() -> None:
    # the probability routes skip the mask passes when every row sum of exp is finite and
    # positive (None: nothing marked); a row that is not brings masks exact per element
    fine = [[1.0, 0.0, -3.0], [2.0, 2.0, -np.inf]]
    out = get_method("naive").framework(torch.tensor(fine, dtype=torch.float16)).to_output()
    assert out.overflow is None and out.sum_overflow is None
    assert out.nan_cause is not None and not out.nan_cause.any()
    bad_rows = {
        "exp overflow": [12.0, 0.0, 0.0],
        "sum overflow": [10.0, 10.0, 10.0],
        "0/0": [-np.inf, -np.inf, -np.inf],
        "inf-inf": [np.inf, 0.0, 1.0],
        "NaN input": [np.nan, 0.0, 1.0],
    }
    for bad in bad_rows.values():
        x = torch.tensor([*fine, bad], dtype=torch.float16)
        for name in ("naive", "shifted"):
            out = get_method(name).framework(x).to_output()
            with torch.no_grad():
                w = torch.exp(x) if name == "naive" else torch.exp(x - x.amax(-1, keepdim=True))
                winf = torch.isinf(w)
                sum_over = torch.isinf(w.sum(-1)) & ~winf.any(-1)
            over = np.zeros(x.shape, bool) if out.overflow is None else out.overflow
            sums = np.zeros(len(x), bool) if out.sum_overflow is None else out.sum_overflow
            assert over.tolist() == (winf & torch.isfinite(x)).tolist()
            assert sums.tolist() == sum_over.tolist()
    x = torch.tensor([*fine, bad_rows["exp overflow"]], dtype=torch.float16)
    assert get_method("naive").framework(x).to_output().overflow is not None


def test_every_method_summing_exp_of_the_shifted_row_flags_its_sum_overflow_as_shifted() -> None:
    # 70000 exp(0) = 1 sum past float16's 65504: logdomain's log(sum) and torch.logsumexp (it
    # rounds its sum to float16) give +inf, so z = -inf and p = 0 as for shifted, with no mask
    x = torch.full((4, 70000), -30.0, dtype=torch.float16)
    x[:, 0] = 0.0  # a sum of 1: fine
    x[1] = 0.0  # overflows
    x[2, 1] = torch.inf  # a +inf logit: NaN, no overflow
    x[3, :2] = torch.nan
    expected = get_method("shifted").framework(x).to_output().sum_overflow
    assert expected is not None and expected.tolist() == [False, True, False, False]
    for name in ("logdomain", "lse-direct", "online"):
        out = get_method(name).framework(x).to_output()
        assert out.sum_overflow is not None, name
        assert out.sum_overflow.tolist() == expected.tolist(), name
        assert out.overflow is None or not out.overflow.any(), name
        assert out.p[1].tolist() == [0.0] * 70000 and np.isneginf(out.logp[1]).all(), name
    fine = x[[0]]
    for name in ("logdomain", "lse-direct"):  # nothing overflowed: no mask passes
        assert get_method(name).framework(fine).sum_overflow is None, name


# each cause per element: inf/inf 1, 0/0 2, inf - inf 3, other 4 (NanCause), as before the causes
# were computed lazily (the same table at 2ad7f1c)
CAUSES = {
    "naive": [[1, 0, 0], [2, 2, 2], [0, 0, 0]],
    "shifted": [[3, 3, 3], [4, 4, 4], [0, 0, 0]],
    "logdomain": [[3, 3, 3], [4, 4, 4], [0, 0, 0]],
    "torch": [[3, 3, 3], [4, 4, 4], [0, 0, 0]],
    "online": [[3, 3, 3], [2, 2, 2], [0, 0, 0]],
}


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_nan_causes_are_computed_when_read_and_name_each_cause(name: str) -> None:
    x = torch.tensor(
        [[np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]], dtype=torch.float32
    )
    res = get_method(name).framework(x)
    assert callable(res.nan_cause)  # nothing computed yet
    cause = res.to_output().nan_cause
    assert cause is not None and cause.tolist() == CAUSES[name]
    assert ((cause != 0) == np.isnan(res.p.detach().numpy())).all()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_log_p_read_later_is_what_the_method_computed_in_its_autograd_mode(name: str) -> None:
    x = torch.tensor([[-3.5, 0.25, 2.0, 7.0], [1.0, 2.0, 3.0, 700.0]], dtype=torch.float32)
    fn = get_method(name).framework

    def grad(logp: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(logp[:, 0].sum(), leaf)[0]

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:  # NaN and infinities included
        return torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)

    leaf = x.clone().requires_grad_()
    at_once = fn(leaf).logp  # read where the method ran
    want = grad(at_once, leaf)
    res = fn(leaf)  # built with autograd on, read under no_grad
    with torch.no_grad():
        logp = res.logp
    assert logp.requires_grad and logp is res.logp  # its graph, computed once
    assert same(logp, at_once)
    # the same gradient, NaN where log(softmax) makes one (the 700 row but for log-domain ones)
    assert same(grad(logp, leaf), want)
    with torch.no_grad():  # built under no_grad, read with autograd on: no graph
        res = fn(leaf)
    assert not res.logp.requires_grad and same(res.logp, at_once.detach())


def _dense_causes(x: torch.Tensor, p: torch.Tensor, num: torch.Tensor | None = None,
                  den: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """The causes by their definition, over whole tensors: the division's first, then inf - inf
    for the rest of the NaNs of a row holding +inf."""
    nan = torch.isnan(p)
    cause = torch.where(nan, 4, 0)
    cause = torch.where(nan & torch.isposinf(x).any(-1, keepdim=True), 3, cause)
    if num is not None and den is not None:
        d = den.expand_as(num)
        cause = torch.where(nan & num.isinf() & d.isinf(), 1, cause)
        cause = torch.where(nan & (num == 0) & (d == 0), 2, cause)
    return cause.to(torch.int8)


@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_nan_causes_of_sparse_nans_match_their_definition(dt: torch.dtype) -> None:
    # only the NaN elements are classified: the same codes as the definition over whole tensors
    g = torch.Generator().manual_seed(1)
    special = torch.tensor([0.0, -0.0, np.inf, -np.inf, np.nan, 12.0, 800.0])
    for shape in [(3, 7), (2, 3, 5), (1, 1), (4, 2)] * 20:
        x = torch.randn(*shape, generator=g) * 6
        hit = torch.rand(*shape, generator=g) < 0.3
        x[hit] = special[torch.randint(0, len(special), (int(hit.sum()),), generator=g)]
        den = torch.randn(*shape[:-1], 1, generator=g) * 3
        den[torch.rand(den.shape, generator=g) < 0.4] = 0.0
        den[torch.rand(den.shape, generator=g) < 0.2] = np.inf
        x, den = x.to(dt), den.to(dt)
        num = torch.exp(x)
        p = num / den
        got = framework._quotient_causes(x, num, den, p)
        assert torch.equal(got, _dense_causes(x, p, num, den))
        assert torch.equal(framework.shift_nan_cause(x, p), _dense_causes(x, p))


def test_unknown_method_lists_the_valid_ids() -> None:
    with pytest.raises(UnknownMethodError, match="naive, shifted, logdomain, torch"):
        get_method("fast")
