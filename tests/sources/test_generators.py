"""Tests for smcheck.sources.generators: determinism, shapes, parameters and the gen: spec."""

from __future__ import annotations

import re

import numpy as np
import pytest

from smcheck.errors import ConfigError
from smcheck.sources.generators import GENERATORS, generate_logits, parse_generator_spec
from smcheck.sources.loaders import load_logits
from tests.conftest import sample_input

NAMES = list(GENERATORS)
SEEDED = [name for name, gen in GENERATORS.items() if gen.seeded]


def test_registry_has_the_designed_generators() -> None:
    assert {"normal", "uniform", "spike", "extreme", "ramp", "llm", "constant", "masked"} <= set(
        GENERATORS
    )
    for name, gen in GENERATORS.items():
        assert gen.name == name
        assert gen.description and "\n" not in gen.description


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_same_bytes(name: str) -> None:
    a = generate_logits(name, seed=7)
    b = generate_logits(name, seed=7)
    assert a.tobytes() == b.tobytes()
    assert a.dtype == np.float32
    assert a.shape == GENERATORS[name].default_shape
    assert a.flags.c_contiguous


@pytest.mark.parametrize("name", SEEDED)
def test_different_seeds_differ(name: str) -> None:
    assert generate_logits(name, seed=1).tobytes() != generate_logits(name, seed=2).tobytes()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
def test_shapes(name: str, shape: tuple[int, ...]) -> None:
    assert generate_logits(name, shape=shape).shape == shape


@pytest.mark.parametrize(
    "dtype", ["float16", "float32", "float64", "fp16", "double", np.float16, np.dtype("float64")]
)
def test_dtype_param(dtype: object) -> None:
    x = generate_logits("normal", dtype=dtype)
    assert x.dtype.name in ("float16", "float32", "float64")
    assert x.tobytes() == generate_logits("normal", dtype=dtype).tobytes()


def test_float16_rounds_once_from_float64() -> None:
    x64 = generate_logits("llm", shape=(2, 100), dtype="float64")
    x16 = generate_logits("llm", shape=(2, 100), dtype="float16")
    np.testing.assert_array_equal(x16, x64.astype(np.float16))


def test_default_llm_is_vocab_sized_heavy_tailed_with_outliers() -> None:
    x = generate_logits("llm")
    assert x.shape == (4, 32000)
    assert -30 < x.min() and x.max() < 30
    assert (x.max(axis=1) > 20).all()  # outliers above naive float16's 11.09
    assert np.isfinite(x).all()


def test_spike_has_one_dominant_logit_per_row() -> None:
    x = generate_logits("spike", shape=(6, 12), height=25.0)
    assert ((x == 25.0).sum(axis=1) == 1).all()


def test_extreme_has_a_wide_range() -> None:
    x = generate_logits("extreme", shape=(16, 10))
    assert x.min() < -400 and x.max() > 50


def test_ramp_and_constant() -> None:
    np.testing.assert_array_equal(
        generate_logits("ramp", shape=(2, 5), low=-2, high=2)[1],
        np.array([-2, -1, 0, 1, 2], dtype=np.float32),
    )
    assert (generate_logits("constant", shape=(3, 4), value=-5) == -5).all()
    assert np.isneginf(generate_logits("constant", shape=(2, 2), value=float("-inf"))).all()


def test_masked_is_causal_with_fully_masked_rows() -> None:
    x = generate_logits("masked", shape=(2, 6, 6), fully_masked=2, seed=4)
    keep = ~np.isneginf(x)
    assert np.isneginf(x[..., np.triu_indices(6, k=1)[0], np.triu_indices(6, k=1)[1]]).all()
    assert (~keep.reshape(-1, 6)).all(axis=1).sum() == 2
    assert not np.isnan(x).any()
    assert (keep.sum(axis=-1) <= np.arange(1, 7)).all()


@pytest.mark.parametrize(
    ("shape", "seen"),
    [
        ((8, 4), [1, 2, 3, 4, 4, 4, 4, 4]),  # more queries: top-left, as torch's is_causal
        ((2, 6, 3), [1, 2, 3, 3, 3, 3]),
        ((3, 6), [4, 5, 6]),  # more keys: bottom-right, the queries are the last 3 positions
        ((4, 4), [1, 2, 3, 4]),
    ],
)
@pytest.mark.parametrize("fully_masked", [0, 2])
def test_masked_causal_masks_exactly_fully_masked_rows_for_any_shape(
    shape: tuple[int, ...], seen: list[int], fully_masked: int
) -> None:
    # bug: with more queries than keys the bottom-right triangle left the first r - c queries
    # no key, so 8x4 gave 4 fully -inf rows where fully_masked (default 0) asked for none
    x = generate_logits("masked", shape=shape, fully_masked=fully_masked, seed=3)
    rows = np.isneginf(x).reshape(-1, shape[-1])
    whole = rows.all(axis=1)
    assert whole.sum() == fully_masked
    counts = (~rows).sum(axis=1).reshape(-1, len(seen))
    assert (counts == seen)[~whole.reshape(counts.shape)].all()


def test_masked_random_mask_leaves_every_row_a_key() -> None:
    # bug: mask_frac could mask a whole row by chance (8x8 at 0.3, seed 5: one extra row); the
    # row keeps its query's own key instead, so only the fully_masked rows are entirely -inf
    for seed in range(20):
        x = generate_logits("masked", shape=(8, 8), mask_frac=0.3, seed=seed)
        assert not np.isneginf(x).all(axis=-1).any()
    x = generate_logits("masked", shape=(2, 8, 8), mask_frac=1.0, fully_masked=3)
    rows = np.isneginf(x).reshape(16, 8)
    assert rows.all(axis=1).sum() == 3
    kept = ~rows[~rows.all(axis=1)]
    assert (kept.sum(axis=1) == 1).all()
    causal = ~np.isneginf(generate_logits("masked", shape=(8, 8), mask_frac=1.0))
    assert (causal == np.eye(8, dtype=bool)).all()  # the diagonal: each query's own key
    free = ~np.isneginf(generate_logits("masked", shape=(3, 5), mask_frac=1.0, causal=0))
    assert free[:, -1].all() and not free[:, :-1].any()  # without causal: the last key


def test_masked_sample_input_still_reproduces() -> None:
    # shapes the old generator got right keep their bytes: make_samples.py's masked_rows
    x = generate_logits("masked", shape=(2, 8, 8), seed=1005, scale=3.0, fully_masked=1)
    assert x.tobytes() == np.load(sample_input("masked_rows.npy")).tobytes()


def test_parse_generator_spec() -> None:
    spec = "gen:llm:shape=2x100,seed=3,dtype=float16,outliers=4,top=25"
    name, params = parse_generator_spec(spec)
    assert name == "llm"
    assert params == {"shape": (2, 100), "seed": 3, "dtype": "float16", "outliers": 4, "top": 25}
    assert parse_generator_spec("gen:normal") == ("normal", {})
    assert parse_generator_spec("normal:loc=1e2")[1] == {"loc": 100.0}
    x = generate_logits(name, **params)
    assert x.shape == (2, 100) and x.dtype == np.float16


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("gen:nope", "unknown generator 'nope'; use one of normal, uniform"),
        ("gen:normal:shape=4by3", "shape must look like 4x32000"),
        ("gen:normal:shape=0x3", "positive integers"),
        ("gen:normal:loc", "KEY=VALUE"),
        ("gen:normal:loc=1,loc=2", "given twice"),
        ("gen:normal:loc=abc", "must be a number"),
    ],
)
def test_bad_specs(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_generator_spec(spec)
    with pytest.raises(ConfigError) as loaded:  # as a source, the message names the spec once
        load_logits(spec)
    assert str(loaded.value).count(spec) == 1 and fragment in str(loaded.value)


@pytest.mark.parametrize(
    ("name", "kwargs", "fragment"),
    [
        (
            "normal",
            {"bogus": 1},
            "unknown parameter 'bogus' for generator 'normal'; use one of "
            "shape, seed, dtype, loc, scale",
        ),
        ("normal", {"scale": -1}, "scale must be >= 0"),
        ("normal", {"loc": float("nan")}, "must be finite"),
        ("normal", {"loc": "x"}, "must be a number"),
        ("uniform", {"low": 2, "high": 1}, "low must be <= high"),
        ("llm", {"outliers": 2.5}, "must be an integer"),
        ("masked", {"shape": (2, 3), "fully_masked": 3}, "fully_masked must be between"),
        ("masked", {"causal": 2}, "causal must be 0 or 1"),
        ("extreme", {"frac": 1.5}, "frac must be between 0 and 1"),
        ("normal", {"dtype": "bfloat16"}, "cannot write bfloat16"),
        ("normal", {"dtype": "int8"}, "unknown dtype"),
        ("normal", {"seed": -1}, "seed must be an integer >= 0"),
        ("normal", {"seed": 1.5}, "seed must be an integer >= 0"),
        ("normal", {"shape": (0, 3)}, "positive integers"),
        ("normal", {"shape": (10**6, 10**6)}, "more than"),
    ],
)
def test_bad_params(name: str, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        generate_logits(name, **kwargs)  # type: ignore[arg-type]


def test_unknown_generator() -> None:
    with pytest.raises(ConfigError, match="use one of normal"):
        generate_logits("gauss")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            "gen:normal:loc=1e39",
            "parameter 'loc' of generator 'normal' is 1e+39, beyond float32's largest value "
            "3.4028235e+38; use a value within ±3.4028235e+38, or generate float64",
        ),
        ("gen:constant:value=-1e39", "parameter 'value' of generator 'constant' is -1e+39"),
        ("gen:constant:value=-1e9,dtype=float16", "beyond float16's largest value 65504"),
        ("gen:constant:value=1e400", "parameter 'value' is 1e400, which overflows float64"),
        ("gen:constant:value=1" + "0" * 400, "overflows float64"),
        (
            "gen:normal:dtype=float16,scale=1e6",
            "generator 'normal' (loc=0, scale=1e+06) draws 76 of 80 values beyond float16's "
            "largest value 65504",
        ),
        ("gen:spike:height=70000,dtype=float16", "draws 8 of 80 values beyond float16's"),
        ("gen:normal:scale=1e308,dtype=float64", "beyond float64's largest value"),
        ("gen:ramp:low=-1e308,high=1e308,dtype=float64", "beyond float64's largest value"),
    ],
)
def test_values_the_output_format_cannot_hold_are_refused(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_logits(spec)


def test_meant_infinities_and_values_that_fit_are_kept() -> None:
    assert np.isposinf(load_logits("gen:constant:value=inf").array).all()
    assert np.isneginf(load_logits("gen:constant:value=-inf").array).all()
    assert (load_logits("gen:constant:value=65519,dtype=float16").array == 65504).all()
    assert np.isneginf(load_logits("gen:masked:shape=4x4,fully_masked=1").array).any()
