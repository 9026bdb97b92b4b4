"""Property-based tests (hypothesis) over the methods, the metrics and the loaders."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smcheck import analyze
from smcheck.analysis.sentinels import classify
from smcheck.dtypes import get_format
from smcheck.errors import LoadError
from smcheck.methods import get_method
from smcheck.report.model import Count
from smcheck.sources.loaders import load_logits, parse_values
from tests.conftest import DTYPES
from tests.safetensorsfile import write_safetensors

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------- methods


def grid_rows(limit: int) -> st.SearchStrategy[np.ndarray]:
    """(rows, n) arrays of quarter-integers in [-limit, limit]: exact in every format here."""
    return hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
        elements=st.integers(-4 * limit, 4 * limit).map(lambda k: k / 4),
    )


def run(method: str, dtype: str, x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(get_format(dtype).round(x)).to(getattr(torch, dtype))
    return get_method(method).framework(t).to_output().p


@pytest.mark.parametrize("method", ["shifted", "logdomain", "torch"])
@settings(SETTINGS, max_examples=25)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_shift_invariance(method: str, dtype: str, data: st.DataObject) -> None:
    # x and x + c sit on a grid the format holds exactly (|x + c| * 4 < 2^t), so x - max(x) is
    # exact and the max-shifted methods must give bit-identical results
    limit = 16 if dtype == "bfloat16" else 50
    x = data.draw(grid_rows(limit))
    c = data.draw(st.integers(-2 * limit, 2 * limit)) / 1.0
    np.testing.assert_array_equal(run(method, dtype, x), run(method, dtype, x + c))


@pytest.mark.parametrize("method", ["shifted", "logdomain", "torch"])
@settings(SETTINGS, max_examples=25)
@given(x=grid_rows(50), dtype=st.sampled_from(DTYPES))
def test_rows_sum_to_one(method: str, dtype: str, x: np.ndarray) -> None:
    # each p_i carries a few roundings of the format (exp, the sum, the division): |sum - 1|
    # stays within (n + 4) u; the stable methods never overflow, so every row is finite
    f = get_format(dtype)
    p = run(method, dtype, x)
    assert np.isfinite(p).all()
    assert np.all(np.abs(p.sum(-1) - 1) <= (x.shape[1] + 4) * f.u)
    assert np.all((p >= 0) & (p <= 1))


# ------------------------------------------------------------------------------------- metrics

SPECIAL = [
    0.0,
    -0.0,
    1.0,
    11.1,
    12.0,
    89.0,
    710.0,
    -999.0,
    -1e4,
    -65504.0,
    -65524.0,
    -7e4,
    -1e9,
    -3.4028234663852886e38,
    3e38,
    -np.inf,
    np.inf,
    np.nan,
]
logits = st.one_of(
    st.floats(-1e5, 1e5, allow_nan=False), st.sampled_from(SPECIAL), st.integers(-30, 30)
)


def check_count(c: Count, max_rows: int, max_elements: int, total_rows: int) -> None:
    assert 0 <= c.rows <= c.elements <= max_elements
    assert c.rows <= max_rows
    assert (c.worst_row is None) == (c.elements == 0)
    if c.worst_row is not None:  # an index into the original shape minus the softmax axis
        assert len(c.worst_row) == 1 and 0 <= c.worst_row[0] < total_rows


mixed_rows = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6), elements=logits
)
temperatures = st.sampled_from([1.0, 0.5, 30.0])


@settings(SETTINGS, max_examples=25)
@given(x=mixed_rows, t=temperatures)
def test_metric_counts_are_consistent(x: np.ndarray, t: float) -> None:
    check_metrics(x, t)


@pytest.mark.slow
@MANY
@given(x=mixed_rows, t=temperatures)
def test_metric_counts_are_consistent_many(x: np.ndarray, t: float) -> None:
    check_metrics(x, t)


def check_metrics(x: np.ndarray, t: float) -> None:
    src = analyze(x, temperatures=[t]).sources[0]
    rows, n = x.shape
    i = src.input
    assert (i.nan, i.posinf, i.neginf) == (
        int(np.isnan(x).sum()),
        int(np.isposinf(x).sum()),
        int(np.isneginf(x).sum()),
    )
    upstream = np.isnan(x).any(1) | np.isposinf(x).any(1)
    masked = np.isneginf(x).all(1)
    # a row of mask values only (sentinels, perhaps beside -inf) is fully masked too, but judged
    of_masks = ~classify(x)[1] & ~upstream & ~masked
    assert (i.upstream_rows, i.fully_masked_rows, i.fully_masked_sentinel_rows) == (
        int(upstream.sum()),
        int((masked | of_masks).sum()),
        int(of_masks.sum()),
    )
    became: dict[tuple[str, float | None], int] = {}
    for b in i.became_fully_masked:  # rows of logits and rows of masks together
        became[(b.dtype, b.temperature)] = became.get((b.dtype, b.temperature), 0) + b.rows
    for c in src.cells:
        m = c.metrics
        k = m.rows_checked
        for count in (m.overflow, m.underflow, m.exact_zero, m.log_nonfinite):
            check_count(count, k, k * n, rows)
        # NaN also counts the rows only the format or T masks fully (finite source logits)
        b = c.fully_masked_output.rows - int(masked.sum())
        check_count(m.nan, k + b, (k + b) * n, rows)
        # overflow is its three parts' sum; a row of a part is a row of overflow
        parts = (m.temperature_overflow, m.exp_overflow, m.sum_overflow)
        for part in parts:
            check_count(part, k, k * n, rows)
        assert sum(p.elements for p in parts) == m.overflow.elements
        assert max(p.rows for p in parts) <= m.overflow.rows <= sum(p.rows for p in parts)
        assert m.sum_overflow.elements == m.sum_overflow.rows
        assert m.underflow.elements + m.exact_zero.elements <= k * n
        assert sum(m.nan.causes.values()) == m.nan.elements
        assert m.argmax_flips.rows <= k
        if m.error.max_ulp is not None:
            assert 0 <= m.error.median_ulp <= m.error.max_ulp
        # every row is judged, or excluded for exactly one reason
        f = get_format(c.dtype)
        xd = f.round(x)
        rest = ~upstream & ~masked
        cast_gone = rest & np.isneginf(xd).all(1)
        cast_posinf = rest & ~cast_gone & np.isposinf(xd).any(1)
        t_gone = became.get((c.dtype, c.temperature), 0)
        assert become_total(became, c.dtype) == int(cast_gone.sum())
        excluded = upstream.sum() + masked.sum() + cast_gone.sum() + cast_posinf.sum() + t_gone
        assert k == rows - excluded
        out = c.fully_masked_output
        assert out.rows == masked.sum() + cast_gone.sum() + t_gone
        assert out.nan + out.zeros + out.other == out.rows
    for s in i.sentinels:
        assert s.rows <= s.elements and s.exact_elements <= s.elements and s.min <= s.max
        for cast in s.casts:
            check_count(cast.to_neginf, s.rows, s.elements, rows)
        for e in s.effects:
            check_count(e.to_neginf, s.rows, s.elements, rows)
            assert e.weak.rows <= s.rows


def become_total(became: dict[tuple[str, float | None], int], dtype: str) -> int:
    return became[(dtype, None)]


# ------------------------------------------------------------------------------------- loaders

finite_or_not = {
    16: st.floats(width=16),
    32: st.floats(width=32),
    64: st.floats(width=64),
}


def float_arrays(width: int, max_dims: int = 3) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(
        np.dtype(f"float{width}"),
        hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=5),
        elements=finite_or_not[width],
    )


def load_file(name: str, write, key: str = "") -> np.ndarray:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        write(path)
        before = path.read_bytes()
        loaded = load_logits(str(path) + key).array
        assert path.read_bytes() == before
        return np.array(loaded)


def same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values, NaN included, and -0.0 kept."""
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b)
    real = ~np.isnan(a)  # text formats do not keep the sign of a NaN
    assert np.array_equal(np.signbit(a[real]), np.signbit(b[real]))


@SETTINGS
@given(x=st.one_of(float_arrays(16), float_arrays(32), float_arrays(64)))
def test_npy_npz_round_trip(x: np.ndarray) -> None:
    same(load_file("x.npy", lambda p: np.save(p, x)), x)
    same(load_file("x.npz", lambda p: np.savez(p, logits=x)), x)
    same(load_file("x.npz", lambda p: np.savez_compressed(p, a=x, b=x[:1]), ":a"), x)


@SETTINGS
@given(x=st.one_of(float_arrays(16), float_arrays(32), float_arrays(64)), bf16=st.booleans())
def test_torch_round_trip(x: np.ndarray, bf16: bool) -> None:
    t = torch.from_numpy(x)
    if bf16:
        t = t.to(torch.bfloat16)  # bfloat16 loads widened exactly to float32
    expected = t.float().numpy() if bf16 else x
    same(load_file("x.pt", lambda p: torch.save({"logits": t}, p)), expected)


@SETTINGS
@given(x=st.one_of(float_arrays(16), float_arrays(32), float_arrays(64)), bf16=st.booleans())
def test_safetensors_round_trip(x: np.ndarray, bf16: bool) -> None:
    if bf16:
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf, as in bfloat16
            t = torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
        raw = t.view(torch.int16).numpy().view(np.uint16)
        tensors, expected = {"x": ("BF16", raw)}, t.float().numpy()
    else:
        code = {2: "F16", 4: "F32", 8: "F64"}[x.dtype.itemsize]
        tensors, expected = {"x": (code, x)}, x
    same(load_file("x.safetensors", lambda p: write_safetensors(p, tensors)), expected)


@SETTINGS
@given(x=float_arrays(64, max_dims=2))
def test_text_round_trip(x: np.ndarray) -> None:
    rows = x.reshape(-1, x.shape[-1]) if x.ndim == 2 else x.reshape(1, -1)
    text = "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
    same(load_file("x.csv", lambda p: p.write_text(text)), rows)
    same(load_file("x.txt", lambda p: p.write_text(text.replace(",", " "))), rows)
    same(np.array(parse_values(";".join(text.splitlines())).array), rows)


@SETTINGS
@given(x=float_arrays(64))
def test_json_round_trip(x: np.ndarray) -> None:
    # Python's json writes NaN/Infinity literals, which smcheck reads; "nan"/"-inf" strings too
    same(load_file("x.json", lambda p: p.write_text(json.dumps(x.tolist()))), x)
    strings = [[v if math.isfinite(v) else str(v) for v in r] for r in x.reshape(-1, x.shape[-1])]
    text = json.dumps({"logits": strings})
    same(load_file("y.json", lambda p: p.write_text(text)), x.reshape(-1, x.shape[-1]))


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=300), ext=st.sampled_from(["npy", "npz", "safetensors", "json", "csv"])
)
def test_arbitrary_bytes_load_or_raise_load_error(data: bytes, ext: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x.{ext}"
        path.write_bytes(data)
        try:
            loaded = load_logits(str(path))
        except LoadError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("cannot load ")
        else:
            assert loaded.array.dtype.kind == "f" and loaded.array.size > 0
        assert path.read_bytes() == data
