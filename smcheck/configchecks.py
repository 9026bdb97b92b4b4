"""The checks of configuration values, one per kind of value: the API, the CLI and config files
reach them all through ``AnalysisConfig`` and ``Thresholds``, so each refuses alike."""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
from collections.abc import Iterable, Iterator
from typing import Any

from smcheck.errors import ConfigError

MAX_TEMPERATURES = 100
"""Most temperatures one analysis takes: each adds a full set of cells, and peak memory grows
with them (about 18 MB per temperature with the 16 default cells, even on an 8x10 input)."""
TARGET_RULES: tuple[str, ...] = ("argmax", "argmin")
"""Targets chosen from each row itself: the confident case and the confidently-wrong case."""


@contextlib.contextmanager
def refusing(*options: str, bare: bool = False) -> Iterator[None]:
    """A ConfigError inside names ``options`` as what it refuses (a config file that set them
    is then named: check.policy.Policy.blame), unless it names its own; ``bare``: the checks
    inside name no option in their messages, so the reporter names it first
    (``SmcheckError.unnamed``: ``--dtype: unknown dtype 'fp8'``)."""
    try:
        yield
    except ConfigError as e:
        if not e.options:
            e.options, e.unnamed = options, bare
        raise


def flag(name: str, value: Any, automatic: bool = False) -> bool | None:
    """``value`` as a bool (numpy's bool too; a truthy string such as "no" is no flag);
    ``automatic``: None is allowed too (decided by the analysis)."""
    if value is None and automatic:
        return None
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    if isinstance(value, bool) or numpy_bool:
        return bool(value)
    allowed = "True, False or None (automatic)" if automatic else "True or False"
    raise ConfigError(f"{name} must be {allowed}, not {value!r}", options=(name,))


def integer(name: str, value: Any, what: str, example: str) -> int:
    """``value`` as an int (numpy's integers too; not a bool, a float or a string of digits),
    refused as not ``what`` (``an axis``), with ``example`` as the fix."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ConfigError(
            f"{name}={value!r} is not {what}; give an integer such as {example}", options=(name,)
        ) from None


def number(name: str, value: Any, what: str) -> float:
    """``value`` as a finite float of at least 0 (not a bool or a string); ``what`` names the
    value in the refusal, e.g. ``Thresholds.log_abs_u``."""
    v = real(value, f"{what}=", "4.0", (name,))
    if not (math.isfinite(v) and v >= 0):
        raise ConfigError(
            f"{what}={value!r} is not a finite number of at least 0; give e.g. 4.0",
            options=(name,),
        )
    return v


def real(value: Any, what: str, example: str, options: tuple[str, ...] = ()) -> float:
    """``value`` as a float if it is a real number (not a bool), else NaN, which each caller
    refuses as no finite number; an integer beyond float64 (10**400: float() raises
    OverflowError) is refused here, as ``what`` (the words before the value) with ``example``.
    A 0-d numpy array or torch tensor is its number (``torch.tensor(-1e4)``)."""
    if _is_array(value) and value.ndim == 0 and not isinstance(value, numbers.Real):
        try:  # a meta tensor holds no value to read
            value = value.tolist()
        except (NotImplementedError, RuntimeError):
            return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(
            f"{what}{shown(value)} overflows float64 (beyond ±1.8e308); give e.g. {example}",
            options=options,
        ) from None


def shown(value: Any) -> str:
    """``value``'s repr, a long integer's cut to its first and last digits and its length
    (Python will not even write one of over 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 80:
        import decimal

        digits = str(decimal.Decimal(abs(value)))  # decimal writes it whatever its length
        return f"{'-' * (value < 0)}{digits[:6]}...{digits[-3:]} ({len(digits)} digits)"
    return repr(value)


def selection(key: str, value: Any) -> tuple[Any, ...]:
    """A selection as the API may give it: a list, one name or number, a comma-separated
    string (``"float16,float32"``, ``"0.5:2:3"``), numpy or torch dtypes (``np.float16``), a
    0-d or 1-d numpy array or torch tensor."""
    if _is_array(value):
        value = _array_values(key, value)
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
        return parse_temperatures(items) if key == "temperatures" else tuple(items)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (value,)
    try:
        items = list(value)
    except TypeError:
        if key != "dtypes":
            raise ConfigError(
                f"{key}={value!r} is neither a list nor a name; give e.g. {_EXAMPLES[key]}",
                options=(key,),
            ) from None
        items = [value]  # one numpy or torch dtype
    if key == "dtypes":
        items = [d if isinstance(d, str) else _dtype_name(d) for d in items]
    elif key in ("methods", "comparisons"):
        for m in items:
            if not isinstance(m, str):
                raise ConfigError(
                    f"{key} holds {m!r}; give method ids such as {_EXAMPLES[key]}", options=(key,)
                )
    return tuple(items)


_EXAMPLES = {
    "dtypes": '["float16", "float32"]',
    "methods": '["shifted", "torch"]',
    "comparisons": '["shifted"]',
    "temperatures": "[0.5, 1.0, 2.0]",
}


def _is_array(value: Any) -> bool:
    """A numpy array or scalar, or a torch tensor (not a numpy scalar type such as np.float16)."""
    return not isinstance(value, type) and all(
        hasattr(value, a) for a in ("tolist", "ndim", "dtype")
    )


def _array_values(key: str, a: Any) -> Any:
    """A 0-d or 1-d array's values as Python scalars (iterating a tensor gives 0-d tensors,
    which no check reads as numbers); temperatures must be real numbers."""
    if a.ndim > 1:
        raise ConfigError(
            f"{key} is a {a.ndim}-D array; give a 1-D array or a list, e.g. {_EXAMPLES[key]}"
        )
    values = a.tolist()
    real = all(
        isinstance(v, (int, float)) and not isinstance(v, bool)
        for v in (values if a.ndim else [values])
    )
    if key == "temperatures" and not real:
        dtype = getattr(a.dtype, "name", str(a.dtype).removeprefix("torch."))
        dtype = "str" if getattr(a.dtype, "kind", "") in ("U", "S") else dtype  # not str96
        raise ConfigError(
            f"temperatures is an array of {dtype}, not of real numbers; give e.g. {_EXAMPLES[key]}"
        )
    return values


def _dtype_name(d: Any) -> str:
    """``np.float16``, ``np.dtype("float16")``, ``torch.float16`` as ``float16``."""
    import numpy as np  # loaded already (through dtypes): config imports none at module level

    if d is None:  # np.dtype(None) would be float64
        raise ConfigError(
            "dtypes holds None; give format names such as float16", options=("dtypes",)
        )
    try:
        return str(np.dtype(d).name)
    except TypeError:
        return str(d).removeprefix("torch.")


def temperatures(values: Iterable[Any]) -> tuple[float, ...]:
    """The temperatures, each once and ascending: every report names runs of T as ``0.5..2``,
    which must be numeric ranges. None given is refused, as no dtype or method is."""
    temps = []
    for t in values:
        if _is_array(t) and t.ndim == 0:  # [torch.tensor(0.5)]: its number
            t = t.tolist()
        # text as one --temperature reads it: "0.7", "0.5,1,2" or a range "0.01:100:9"
        if isinstance(t, str):
            read = parse_temperatures([t])
        else:
            read = (real(t, "temperature ", "0.7", ("temperatures",)),)
        for v in read:
            if not (math.isfinite(v) and v > 0):
                with refusing("temperatures", bare=True):
                    raise ConfigError(
                        f"temperature {t!r} is not a positive finite number; use e.g. 0.7"
                    )
            temps.append(v)
    if not temps:
        with refusing("temperatures", bare=True):  # led by temperatures=() as the caller gave it
            raise ConfigError("nothing to analyse: give at least one temperature, e.g. 1.0")
    with refusing("temperatures", bare=True):
        check_temperature_count(len(set(temps)))
    return tuple(sorted(set(temps)))


def normalise_targets(spec: Any) -> Any:
    """``argmax``/``argmin`` in canonical spelling; anything else (path, array) unchanged."""
    if spec is None:
        return "argmax"
    if isinstance(spec, str):
        if not spec.strip():
            raise ConfigError("empty targets; use argmax, argmin or a file of class indices")
        if spec.strip().lower() in TARGET_RULES:
            return spec.strip().lower()
    return spec


def unique(items: Iterable[Any]) -> tuple[Any, ...]:
    """``items`` in order, each once."""
    return tuple(dict.fromkeys(items))


def parse_temperatures(texts: tuple[str, ...] | list[str]) -> tuple[float, ...]:
    """Temperatures from ``0.05,0.5,1`` items and ``LO:HI:N`` log-spaced ranges (a refusal is
    of ``temperatures``, which its message leaves the reporter to name; a range of N over
    MAX_TEMPERATURES is refused before it is made; all of them are counted by
    :func:`temperatures`, once each, however they were given)."""
    with refusing("temperatures", bare=True):
        return _parsed_temperatures(texts)


def _parsed_temperatures(texts: tuple[str, ...] | list[str]) -> tuple[float, ...]:
    out: list[float] = []
    for text in texts:
        items = [s.strip() for s in text.split(",")]
        if text.strip() and not all(items):  # as --values: "1,,2" is a typo, not two numbers
            raise ConfigError(f"empty item in temperatures {text!r}; separate numbers by one comma")
        for item in filter(None, items):
            out += _temperature_item(item)
    if texts and not out:  # given, but empty: not silently the default
        raise ConfigError("no temperature given; use numbers like 0.5,1,2 or a range LO:HI:N")
    return tuple(out)


def check_temperature_count(n: int) -> None:
    """Refuse more than :data:`MAX_TEMPERATURES` temperatures."""
    if n > MAX_TEMPERATURES:
        raise ConfigError(
            f"{n} temperatures are more than the {MAX_TEMPERATURES} one analysis takes (each "
            f"adds a full set of cells); give at most {MAX_TEMPERATURES}, e.g. a range 0.1:10:25"
        )


def _temperature_item(item: str) -> list[float]:
    """One number, or the ``N`` log-spaced values of a ``LO:HI:N`` range."""
    import numpy as np

    try:
        if ":" in item:
            lo, hi, n = item.split(":")
            ends, count = (float(lo), float(hi)), int(n)
        else:
            return [typed_float(item, "temperature", "0.7")]
    except ValueError:
        use = "use numbers like 0.5,1,2 or a range LO:HI:N such as 0.01:100:9"
        raise ConfigError(f"bad temperature {item!r}; {use}") from None
    if count < 2 or not all(0 < e < math.inf for e in ends):
        need = "two positive finite ends and N >= 2 temperatures, such as 0.01:100:9"
        raise ConfigError(f"bad temperature range {item!r}: it needs {need}")
    check_temperature_count(count)  # before numpy allocates them
    return [float(v) for v in np.geomspace(*ends, count)]


def typed_float(text: str, what: str, example: str) -> float:
    """``text`` as float() reads it (raising ValueError), refusing a nonzero number that float64
    rounds to 0 or inf (``1e400``, ``1e-400``) as typed, as ``what`` with ``example`` the fix:
    a later check would see only the rounded value (``mask value inf``)."""
    import decimal

    t = float(text)
    if abs(t) in (0, math.inf) and decimal.Decimal(text).is_normal():
        raise ConfigError(f"{what} {text!r} rounds to {t} in float64; use e.g. {example}")
    return t
