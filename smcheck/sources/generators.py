"""Deterministic, seeded synthetic logits: a registry of named generators and the gen: spec."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from smcheck.config import GENERATOR_NAMES, GENERATOR_SPECS
from smcheck.dtypes import canonical_dtype
from smcheck.errors import ConfigError
from smcheck.sources.genlimits import check_drawn, check_fits
from smcheck.sources.readlimits import ReadLimit, mib_up

Number = int | float
"""A generator parameter value; the type of its default decides whether ints are required."""

Shape = tuple[int, ...]
Params = Mapping[str, Number]

BYTES_PER_ELEMENT = 40
"""Memory a generator takes per element while it builds an array: its float64 draws and
temporaries (measured: 15 to 36 bytes, ``extreme`` the most)."""

MAX_ELEMENTS = 2**24
"""Largest array a generator will build (about 640 MiB while generating); a memory budget
given to :func:`generate_logits` may lower it."""

_OUTPUT_DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True)
class LogitGenerator:
    """One named generator of synthetic logits: its config.GeneratorSpec and the function."""

    name: str
    fn: Callable[[np.random.Generator, Shape, Params], np.ndarray]
    """``fn(rng, shape, params) -> float64 array of that shape``; draws only from ``rng``."""
    description: str
    """One line for ``--help`` and listings."""
    default_shape: tuple[int, ...]
    defaults: Mapping[str, Number]
    """Parameter names and their defaults (read-only)."""
    seeded: bool = True
    """False for generators whose output does not depend on the seed (ramp, constant)."""


def _check(ok: bool, generator: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"generator {generator!r}: {message}")


def _normal(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    _check(p["scale"] >= 0, "normal", "scale must be >= 0")
    return rng.normal(p["loc"], p["scale"], shape)


def _uniform(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    _check(p["low"] <= p["high"], "uniform", "low must be <= high")
    _check(math.isfinite(p["high"] - p["low"]), "uniform", "high - low must be a finite float64")
    return rng.uniform(p["low"], p["high"], shape)


def _spike(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    _check(p["scale"] >= 0, "spike", "scale must be >= 0")
    x = rng.normal(p["loc"], p["scale"], shape)
    at = rng.integers(0, shape[-1], size=(*shape[:-1], 1))
    # one logit per row sits `height` above the body's centre: naive float16 exp overflows
    # once loc + height > ln(65504) = 11.09, and the other entries' probabilities shrink to ~0
    np.put_along_axis(x, at, p["loc"] + p["height"], axis=-1)
    return x


def _extreme(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    _check(0 <= p["frac"] <= 1, "extreme", "frac must be between 0 and 1")
    _check(p["scale"] >= 0, "extreme", "scale must be >= 0")
    body = rng.normal(p["loc"], p["scale"], shape)
    wild = rng.random(shape) < p["frac"]
    negative = rng.random(shape) < 0.5
    size = rng.uniform(0.5, 1.0, shape)
    # like (-999, 1, 2, 5, 6): a moderate body with a fraction of entries near `low` (exp
    # underflows to 0 in every format) or `high` (exp overflows even float32 above 88.7)
    return np.where(wild, np.where(negative, p["low"], p["high"]) * size, body)


def _ramp(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    return np.broadcast_to(np.linspace(p["low"], p["high"], shape[-1]), shape).copy()


def _llm(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    _check(p["df"] > 0, "llm", "df must be > 0")
    _check(p["scale"] >= 0, "llm", "scale must be >= 0")
    _check(p["outliers"] >= 0, "llm", "outliers must be >= 0")
    # Student-t body: LM-head logits have heavier tails than a normal. A tanh soft limit keeps
    # the body within loc +- 10 scale (about -23..+17) without piling values on a clip edge,
    # so the top of each row is set by the outliers below
    limit = 10 * p["scale"]
    z = p["scale"] * rng.standard_t(p["df"], shape)
    body = p["loc"] + (limit * np.tanh(z / limit) if limit > 0 else z)
    top = p["top"]
    rows = body.reshape(-1, shape[-1])
    k = min(int(p["outliers"]), shape[-1])
    at = rng.integers(0, shape[-1], size=(rows.shape[0], k))
    heights = rng.uniform(top / 2, top, size=(rows.shape[0], k))
    np.put_along_axis(rows, at, heights, axis=-1)  # a few likely tokens far above the body
    return rows.reshape(shape)


def _constant(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    return np.full(shape, float(p["value"]))


def _masked(rng: np.random.Generator, shape: Shape, p: Params) -> np.ndarray:
    """Normal scores with -inf masks; exactly ``fully_masked`` rows are entirely -inf.

    ``causal``: query i of the last two axes (r queries x c keys) sees keys j <= i + max(c - r, 0),
    the triangle aligned bottom-right when c >= r (the queries are the last r positions, as with
    a KV cache) and top-left when r > c (torch's ``is_causal``), so every query sees a key.
    ``mask_frac``: each visible key is masked with that probability, but a row it would mask
    entirely keeps its query's own key (the diagonal; the last key without ``causal``).
    """
    _check(p["scale"] >= 0, "masked", "scale must be >= 0")
    _check(0 <= p["mask_frac"] <= 1, "masked", "mask_frac must be between 0 and 1")
    _check(p["causal"] in (0, 1), "masked", "causal must be 0 or 1")
    n_rows = math.prod(shape[:-1])
    _check(
        0 <= p["fully_masked"] <= n_rows,
        "masked",
        f"fully_masked must be between 0 and the number of rows ({n_rows})",
    )
    x = rng.normal(p["loc"], p["scale"], shape)
    # checked here: once masked, a draw that overflowed float64 to -inf would read as a mask
    _check(
        not np.isneginf(x).any(),
        "masked",
        "loc and scale draw values beyond float64; use smaller ones",
    )
    mask = rng.random(shape) < p["mask_frac"]
    c = shape[-1]
    own = np.full(shape[:-1], c - 1)  # the key a query always sees
    if p["causal"] and len(shape) >= 2:
        # bottom-right alignment alone would leave the first r - c queries no key at all: rows
        # fully masked that fully_masked did not ask for
        r = shape[-2]
        shift = max(c - r, 0)
        mask |= np.triu(np.ones((r, c), dtype=bool), k=shift + 1)
        own[...] = np.minimum(np.arange(r) + shift, c - 1)
    rows = mask.reshape(n_rows, c)  # a view: writes go to mask
    whole = rows.all(-1)
    rows[whole, own.reshape(n_rows)[whole]] = False
    rows[rng.choice(n_rows, size=int(p["fully_masked"]), replace=False)] = True
    x[mask] = -np.inf
    return x


_DRAW: Mapping[str, Callable[[np.random.Generator, Shape, Params], np.ndarray]] = {
    "normal": _normal,
    "uniform": _uniform,
    "spike": _spike,
    "extreme": _extreme,
    "ramp": _ramp,
    "llm": _llm,
    "constant": _constant,
    "masked": _masked,
}
if set(_DRAW) != set(GENERATOR_NAMES):  # config declares them, this module draws them
    raise RuntimeError("every generator of config.GENERATOR_SPECS needs one function in _DRAW")

GENERATORS: Mapping[str, LogitGenerator] = MappingProxyType(
    {
        g.name: LogitGenerator(
            g.name,
            _DRAW[g.name],
            g.description,
            g.default_shape,
            MappingProxyType(dict(g.defaults)),
            g.seeded,
        )
        for g in GENERATOR_SPECS
    }
)
"""The generators by name, in listing order (config.GENERATOR_SPECS's)."""


def generate_logits(
    name: str,
    *,
    shape: tuple[int, ...] | None = None,
    seed: int = 0,
    memory_budget: int | ReadLimit | None = None,
    **params: Number | str,
) -> np.ndarray:
    """Build synthetic logits; the same arguments always give the same bytes.

    Args:
        name: a key of :data:`GENERATORS`.
        shape: the array shape (the softmax axis last); default per generator, e.g. 8x10.
        seed: seed of ``np.random.default_rng``, >= 0.
        memory_budget: bytes, or the ReadLimit that names them as the user gave them; a shape
            whose generation (:data:`BYTES_PER_ELEMENT` each) would take more is refused, as is
            one over :data:`MAX_ELEMENTS`.
        **params: the generator's parameters (see ``GENERATORS[name].defaults``) and
            ``dtype`` (``float16``, ``float32`` (default) or ``float64``).

    Returns:
        A new C-contiguous array, computed in float64 and rounded once to ``dtype``.

    Raises:
        ConfigError: unknown generator, parameter or dtype, or a value out of range.
    """
    gen = _lookup(name)
    dtype = _output_dtype(params.pop("dtype", "float32"))
    shape = gen.default_shape if shape is None else _check_shape(shape)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, not {seed!r}")
    values = dict(gen.defaults)
    for key, value in params.items():
        if key not in gen.defaults:
            valid = ", ".join(["shape", "seed", "dtype", *gen.defaults])
            raise ConfigError(
                f"unknown parameter {key!r} for generator {name!r}; use one of {valid}"
            )
        values[key] = _check_value(name, key, value, gen.defaults[key])
    _check_budget(shape, memory_budget)
    check_fits(name, values, dtype)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is found in the values
            x = gen.fn(np.random.default_rng(int(seed)), shape, values)
    except (OverflowError, ValueError) as exc:  # e.g. uniform's high - low beyond float64
        raise ConfigError(
            f"generator {name!r} cannot draw from these parameters ({exc}); use smaller values"
        ) from None
    with np.errstate(over="ignore"):  # float16 rounds logits above 65504 to inf, as a cast does
        out = np.ascontiguousarray(x, dtype=dtype)
    check_drawn(name, values, x, out)
    return out


def parse_generator_spec(spec: str) -> tuple[str, dict[str, object]]:
    """Parse ``gen:NAME[:k=v,...]`` (the ``gen:`` prefix is optional) for :func:`generate_logits`.

    Values are ints or floats; ``shape=4x32000``, ``seed=3`` and ``dtype=float16`` are special.
    Returns ``(name, params)`` where ``params`` can be passed as keyword arguments.
    """
    body = spec.removeprefix("gen:")
    name, _, rest = body.partition(":")
    name = name.strip()
    _lookup(name)
    params: dict[str, object] = {}
    for item in rest.split(",") if rest.strip() else []:
        key, eq, text = (part.strip() for part in item.partition("="))
        if not (eq and key and text):
            raise ConfigError(
                f"bad generator parameter {item.strip()!r} in {spec!r}; write "
                "KEY=VALUE pairs separated by commas, e.g. "
                "gen:normal:shape=4x10,seed=3"
            )
        if key in params:
            raise ConfigError(f"parameter {key!r} is given twice in {spec!r}; keep one")
        if key == "shape":
            params[key] = parse_shape(text)
        elif key == "dtype":
            params[key] = text
        else:
            params[key] = _parse_number(key, text)
    return name, params


def _lookup(name: str) -> LogitGenerator:
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; use one of {', '.join(GENERATORS)}")
    return GENERATORS[name]


def _output_dtype(value: object) -> np.dtype:
    if not isinstance(value, str):  # np.float16, np.dtype("float64"), ...
        try:
            value = np.dtype(value).name  # type: ignore[call-overload]
        except TypeError:
            raise ConfigError(f"dtype must be a name like float32, not {value!r}") from None
    name = canonical_dtype(value)  # accepts fp16, half, ...; raises UnsupportedDtypeError
    if name not in _OUTPUT_DTYPES:
        raise ConfigError(
            f"generators cannot write {name} (numpy has no such type); use one of "
            f"{', '.join(_OUTPUT_DTYPES)} and analyse it as {name}"
        )
    return np.dtype(name)


def _check_shape(shape: object) -> tuple[int, ...]:
    ok = (
        isinstance(shape, (tuple, list))
        and 1 <= len(shape) <= 8
        and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape
        )
    )
    if not ok:
        raise ConfigError(f"shape must be 1 to 8 positive integers like 4x32000, not {shape!r}")
    dims = tuple(int(d) for d in shape)
    if math.prod(dims) > MAX_ELEMENTS:
        raise ConfigError(
            f"shape {'x'.join(map(str, dims))} has more than {MAX_ELEMENTS} "
            "elements; generate a smaller array"
        )
    return dims


def _check_budget(shape: tuple[int, ...], memory_budget: int | ReadLimit | None) -> None:
    """Refuse a shape whose generation would take more than the memory budget."""
    if memory_budget is None:
        return
    limit = memory_budget if isinstance(memory_budget, ReadLimit) else ReadLimit(memory_budget)
    need = math.prod(shape) * BYTES_PER_ELEMENT
    if need > limit.budget:
        raise ConfigError(
            f"shape {'x'.join(map(str, shape))} needs {mib_up(need)} to generate "
            f"({BYTES_PER_ELEMENT} bytes per element), more than {limit.named()} allows; "
            f"generate a smaller array or {limit.raise_it()}",
            options=("memory_budget",),
        )


def parse_shape(text: str) -> tuple[int, ...]:
    """``4x32000`` (or ``4*32000``) as a shape: the one parser of a shape's text, for
    ``gen:NAME:shape=...`` and ``generate --shape``; anything after the last number is refused."""
    if not isinstance(text, str) or not re.fullmatch(r"\d+([x*]\d+)*", text.strip()):
        raise ConfigError(f"shape must look like 4x32000, not {text!r}")
    return _check_shape(tuple(int(d) for d in re.split(r"[x*]", text.strip())))


def _parse_number(key: str, text: str) -> Number:
    if re.fullmatch(r"[+-]?\d+", text):
        # int() refuses thousands of digits; float() could not hold such an int anyway
        value: Number | None = int(text) if len(text) <= _MAX_INT_TEXT else None
        if value is not None and abs(value) <= sys.float_info.max:
            return value
    else:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"parameter {key!r} must be a number, not {text!r}") from None
        # 1e400 is float("inf"): taken silently it would pass as constant's +inf on purpose
        if not math.isinf(value) or text.lstrip("+-").lower() in ("inf", "infinity"):
            return value
    shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
    raise ConfigError(
        f"parameter {key!r} is {shown}, which overflows float64 (beyond ±1.8e308); write "
        "inf or -inf if that is meant, else use a smaller value"
    )


_MAX_INT_TEXT = 400
"""Characters of an integer parameter read with int(): float64's largest has 309 digits."""


def _check_value(gen: str, key: str, value: object, default: Number) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"parameter {key!r} of generator {gen!r} must be a number, not {value!r}")
    if isinstance(default, int):
        if not float(value).is_integer():
            raise ConfigError(
                f"parameter {key!r} of generator {gen!r} must be an integer, not {value!r}"
            )
        return int(value)
    if not math.isfinite(value) and key != "value":  # constant rows of inf/nan are allowed
        raise ConfigError(f"parameter {key!r} of generator {gen!r} must be finite, not {value!r}")
    return float(value)
