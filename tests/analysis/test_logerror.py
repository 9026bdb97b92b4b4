"""metrics.log_error: log-probabilities against the exact log-softmax, in ulps and nats."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

from smcheck import analyze
from smcheck.analysis.cellkernel import cell_chunk
from smcheck.analysis.cells import Block
from smcheck.dtypes import get_format
from smcheck.methods.base import MethodOutput
from smcheck.reference.exact import exact_softmax
from tests.conftest import cell

mpmath.mp.dps = 50


def mp_log_softmax(row: np.ndarray) -> list:  # type: ignore[type-arg]
    xs = [mpmath.mpf(float(v)) for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
    return [v - lse for v in xs]


def ulp_at(z, t: int, emin: int):  # type: ignore[no-untyped-def]
    """The format's spacing at |z|: z in [2^(e-1), 2^e) has spacing 2^(max(e-1, emin) + 1 - t)."""
    _, e = mpmath.frexp(abs(z))
    return mpmath.mpf(2) ** (max(int(e) - 1, emin) + 1 - t)


def test_float16_log_softmax_top_class_returns_zero() -> None:
    # x = (0, -8.59375), both float16: p_top = 1/(1 + e^-8.59375) rounds to 1 in float16, and
    # torch's float16 log_softmax returns exactly 0 for it; the exact log p is
    # -log1p(e^-8.59375) = -1.85243e-4, in [2^-13, 2^-12) where float16's spacing is 2^-23:
    # 1553.9 ulps. No probability metric sees it: p̂ = 1 is correctly rounded.
    x = np.array([[0.0, -8.59375]])
    c = cell(analyze(x, dtypes=["float16"], methods=["torch"], gradients=False), "torch", "float16")
    assert c.log_probabilities[0][0] == 0.0
    exact = -mpmath.log1p(mpmath.exp(mpmath.mpf(-8.59375)))
    le = c.metrics.log_error
    assert le.max_abs == pytest.approx(float(-exact), rel=1e-12, abs=0)
    assert le.max_ulp == pytest.approx(float(-exact * 2**23), rel=1e-12, abs=0)
    assert le.max_ulp > 1500 and le.worst_row == (0,)
    assert c.metrics.error.max_ulp < 0.5  # the probabilities are correctly rounded


def test_top_class_log_p_keeps_its_relative_accuracy() -> None:
    # float32 (0, -35): the top log p = -log1p(e^-35) = -6.305e-16. From the float64
    # reference's log of the rounded sum 1 + 6.3e-16 (= 1 + 3 * 2^-52) it would read -6.66e-16,
    # 5.7 % off; the metric takes it from log1p(-rest). Every method returns (0, -35): both
    # errors are log1p(e^-35), the second because -35 - 6.3e-16 rounds to -35.
    r = analyze([[0.0, -35.0]], dtypes=["float32"], gradients=False)
    exact = float(mpmath.log1p(mpmath.exp(-35)))
    for c in r.cells:
        assert c.log_probabilities == [[0.0, -35.0]], c.method
        assert c.metrics.log_error.max_abs == pytest.approx(exact, rel=1e-9, abs=0), c.method


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_log_error_matches_mpmath(dtype: str) -> None:
    f = get_format(dtype)
    rng = np.random.default_rng(11)
    x = rng.normal(0, 6, (4, 12))
    x[0, 3] += 25  # a saturated row: a top log p of about -1e-10
    xd = torch.from_numpy(x).to(getattr(torch, dtype)).double().numpy()
    r = analyze(x, dtypes=[dtype], gradients=False)
    for c in r.cells:
        ulps, nats, nonfinite = [], [], 0
        for i, row in enumerate(xd):
            for z, q in zip(mp_log_softmax(row), c.log_probabilities[i], strict=True):
                if not np.isfinite(q):  # counted apart (naive float16: log of an underflow)
                    nonfinite += 1
                    continue
                d = abs(mpmath.mpf(q) - z)
                nats.append(d)
                ulps.append(d / ulp_at(z, f.t, f.emin))
        le = c.metrics.log_error
        assert le.max_ulp == pytest.approx(float(max(ulps)), rel=1e-6, abs=0), c.method
        assert le.max_abs == pytest.approx(float(max(nats)), rel=1e-6, abs=0), c.method
        med = float(np.median([float(u) for u in ulps]))
        assert le.median_ulp == pytest.approx(med, rel=1e-6, abs=1e-6), c.method
        assert le.nonfinite.elements == nonfinite and le.finite_at_neginf.elements == 0


def test_nonfinite_log_probabilities_are_counted_not_measured() -> None:
    # naive float16: exp(-20) underflows, log(0) = -inf where the exact log p = -15.0000003
    r = analyze([[-20.0, -5.0]], dtypes=["float16"], methods=["naive"], gradients=False)
    le = cell(r, "naive", "float16").metrics.log_error
    assert (le.nonfinite.elements, le.nonfinite.rows) == (1, 1)
    # the other entry, log p = -log1p(e^-15) = -3.06e-7: naive returns log(1) = 0
    assert le.max_abs == pytest.approx(float(mpmath.log1p(mpmath.exp(-15))), rel=1e-9, abs=0)


def test_finite_log_probability_at_a_mask_is_counted() -> None:
    # no shipped method returns a finite log p̂ at -inf: a hand-made output exercises the count
    x = np.array([[-np.inf, 0.0, 1.0], [2.0, 0.0, 1.0]])
    f = get_format("float32")
    b = Block(0, f, np.array([True, True]), np.isfinite(x), exact_softmax(x), x == np.inf, x)
    ref = exact_softmax(x).logp
    logq = np.where(np.isfinite(ref), ref, -100.0).astype(np.float32)
    out = MethodOutput(np.exp(logq), logq)
    e = cell_chunk(out, b, (100, 100)).log
    assert e.finite_at_neginf.tolist() == [1, 0]
    assert e.ulp_bins.values.size == 5  # the mask entry is not measured
    logq[1, 1] = np.nan
    e = cell_chunk(out, b, (100, 100)).log
    assert e.finite_at_neginf.tolist() == [1, 0] and e.ulp_bins.values.size == 4


def test_log_error_in_json_does_not_depend_on_chunk_size() -> None:
    x = np.random.default_rng(4).normal(0, 8, (9, 30))
    x[2, :5] = -np.inf
    x[5, 7] += 40
    whole = analyze(x, chunk_rows=9, gradients=False).to_dict()
    cells = whole["sources"][0]["cells"]
    # naive float16 has no finite log p̂ left (overflow NaN rows, log of underflows)
    assert sum(c["metrics"]["log_error"]["max_ulp"] is None for c in cells) == 1
    assert list(cells[0]["metrics"]["log_error"]) == [
        "max_ulp",
        "median_ulp",
        "max_abs",
        "worst_row",
        "nonfinite",
        "finite_at_neginf",
        "max_abs_row",
    ]
    for chunk in (1, 4):
        assert analyze(x, chunk_rows=chunk, gradients=False).to_dict() == whole, chunk


def test_a_row_with_one_live_entry_has_log_p_zero_and_no_nan_error() -> None:
    # exact log p = 0 where one entry is live: float64's spacing there is 2^-1074, whose inverse
    # overflows; the error must be 0 ulps, not NaN (a NaN median hid in the JSON)
    x = np.array([[0.5, -np.inf, -np.inf], [0.1, 0.2, 0.3]])
    for c in analyze(x, dtypes=["float64", "float32"], methods=["torch"]).sources[0].cells:
        le = c.metrics.log_error
        assert le.median_ulp is not None and np.isfinite(le.median_ulp), c.dtype
        assert np.isfinite(le.max_ulp), c.dtype
