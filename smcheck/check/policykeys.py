"""The value of each ``[tool.smcheck]`` key: one parser per key, each refusing what the analysis
would refuse with a ConfigError (``policy.parse_policy`` names the file and the key)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from smcheck import configchecks as checks
from smcheck.config import MODELS, USES, parse_temperatures
from smcheck.dtypes import canonical_dtype
from smcheck.errors import ConfigError
from smcheck.findings.policyconditions import Condition, parse_conditions
from smcheck.methods import get_method
from smcheck.threads import check_threads


def strings(value: Any) -> tuple[str, ...]:
    """A list of strings, or one comma-separated string."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [s for v in value for s in v.split(",")]
    else:
        raise ConfigError(f"expected a list of strings, got {value!r}")
    return tuple(s.strip() for s in items if s.strip())


def _dtypes(value: Any, _base: Path) -> tuple[str, ...]:
    return tuple(canonical_dtype(d) for d in _nonempty(strings(value)))


def _methods(value: Any, _base: Path) -> tuple[str, ...]:
    return tuple(get_method(m).name for m in _nonempty(strings(value)))


def _nonempty(items: tuple[Any, ...]) -> tuple[Any, ...]:
    if not items:
        raise ConfigError("the list is empty; name at least one, or remove the key")
    return items


def _temperatures(value: Any, _base: Path) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[float] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ConfigError(f"expected numbers or 'LO:HI:N' ranges, got {v!r}")
        out += parse_temperatures([v]) if isinstance(v, str) else [v]
    # as the analysis checks them: positive, finite, each once, at most MAX_TEMPERATURES
    return checks.temperatures(_nonempty(tuple(out)))


def _model(value: Any, _base: Path) -> str:
    if value not in MODELS:
        raise ConfigError(f"expected one of {', '.join(MODELS)}, got {value!r}")
    return str(value)


def _int(lo: int) -> Any:
    def parse(value: Any, _base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ConfigError(
                f"expected an integer{'' if lo < -99 else f' >= {lo}'}, got {checks.shown(value)}"
            )
        return value

    return parse


def _bool(value: Any, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}")
    return value


def _number(value: Any, _base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number, got {value!r}")
    return checks.real(value, "", "-1e4 (1e4 with softmin)")  # mask-value's


def _targets(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected 'argmax', 'argmin' or a file of class indices, got {value!r}")
    if value in ("argmax", "argmin") or Path(value).is_absolute():
        return value
    return _near(base, value)  # a targets file is relative to the config file


def _use(value: Any, _base: Path) -> str:
    if value not in (*USES, "auto"):
        raise ConfigError(f"expected one of {', '.join(USES)} or auto, got {value!r}")
    return str(value)


def _sources(value: Any, base: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"expected a list of paths or globs, got {value!r}")
    _nonempty(tuple(v for v in value if v.strip()))  # [] or "": not silently no sources
    if not all(v.strip() for v in value):  # "" would be the config's folder, unasked
        raise ConfigError(f"a path is empty in {value!r}; name a file, glob or directory")
    return tuple(v if v.startswith("gen:") else _near(base, v) for v in value)


def _near(base: Path, path: str) -> str:
    """``path`` relative to the config's folder, shown relative to the working directory."""
    full = base / path
    try:
        return os.path.relpath(full)
    except ValueError:  # another drive on Windows
        return str(full)


def conditions(value: Any, _base: Path | None = None) -> tuple[Condition, ...]:
    """``fail-on``/``warn-on``: a list of conditions, or one comma-separated string, as a config
    file, ``--fail-on`` and the API give them ([] is refused: failing is turned off by never)."""
    return parse_conditions(strings(value))


def _budget(value: Any, base: Path) -> int:
    return int(_int(1)(value, base)) * 2**20


KEYS: dict[str, Any] = {
    "sources": _sources,
    "methods": _methods,
    "dtypes": _dtypes,
    "temperatures": _temperatures,
    "model": _model,
    "dim": _int(-(2**31)),
    "targets": _targets,
    "use": _use,
    "gradients": _bool,
    "softmin": _bool,
    "ftz": _bool,
    "mask-value": _number,
    "memory-budget": _budget,
    "chunk-rows": _int(1),
    "threads": lambda value, _base: check_threads(value),
    "fail-on": conditions,
    "warn-on": conditions,
}
