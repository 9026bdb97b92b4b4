"""The CI policy of ``smcheck check``: what to analyse and which findings fail the build.

It is read from ``[tool.smcheck]`` in the nearest ``pyproject.toml`` (walking up from the working
directory), or from a ``.smcheck.toml`` / ``smcheck.toml`` there (top-level keys), or ``--config``;
command-line options override it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smcheck.check.policykeys import KEYS, conditions
from smcheck.config import AnalysisConfig, empty_refused, parse_temperatures
from smcheck.configchecks import refusing
from smcheck.errors import ConfigError, SmcheckError
from smcheck.findings.policyconditions import (
    NO_CONDITIONS,
    Condition,
    parse_condition,
    parse_conditions,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tomli backport has the same interface
    import tomli as tomllib

CONFIG_FILES: tuple[str, ...] = (".smcheck.toml", "smcheck.toml", "pyproject.toml")
"""Looked for in this order in each directory from the working directory up to the root."""

DEFAULT_FAIL_ON: tuple[str, ...] = ("fail", "input", "fully-masked")
"""A FAIL cell or input finding, NaN or +inf in the input, and rows masked entirely."""

_ANALYSIS_KEYS = (
    "dim", "dtypes", "methods", "temperatures", "model", "softmin", "ftz", "mask_value",
    "memory_budget", "chunk_rows", "threads", "targets", "use", "gradients",
)  # fmt: skip
"""The Policy fields that are analysis options (AnalysisConfig.from_options' keywords)."""


@dataclass(frozen=True)
class Policy:
    """The effective policy; None means "the analysis default"."""

    sources: tuple[str, ...] = ()
    """Sources checked when none are given on the command line (relative to the config file)."""
    methods: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    temperatures: tuple[float, ...] | None = None
    model: str | None = None
    dim: int | None = None
    targets: str | None = None
    """Gradient targets: argmax, argmin or a file of class indices."""
    use: str | None = None
    """What the softmax feeds: probs, logprobs, loss or auto."""
    gradients: bool | None = None
    """Compute the gradients (None: where the use is loss)."""
    softmin: bool | None = None
    ftz: bool | None = None
    mask_value: float | None = None
    memory_budget: int | None = None
    """Bytes of temporaries per chunk (the TOML key ``memory-budget`` is in MiB)."""
    chunk_rows: int | None = None
    threads: int | None = None
    """torch's and the kernels' threads (None: what torch and numba pick)."""
    fail_on: tuple[Condition, ...] = tuple(parse_condition(c) for c in DEFAULT_FAIL_ON)
    """Conditions that are errors (exit 1), given as a config file gives them (``["nan",
    "overflow"]``, ``"nan,overflow"``) or parsed; ``"never"`` (``--fail-on never``) for none,
    whose parsed form is ``policyconditions.NO_CONDITIONS``. An empty list or tuple is refused,
    as ``fail-on = []`` is."""
    warn_on: tuple[Condition, ...] = ()
    """Conditions that are reported as warnings without failing (given as ``fail_on``)."""
    config_file: str | None = None
    file_keys: tuple[str, ...] = ()
    """The fields the config file set (a refused analysis names them)."""
    extra: tuple[tuple[str, Any], ...] = ()
    """Other analysis options from the command line, passed to the analysis as they are."""

    def __post_init__(self) -> None:
        # the API may give a condition list as a config file does (["nan"], "nan,overflow"),
        # and one source as a string: never read one character at a time
        for key in ("fail_on", "warn_on"):
            value = getattr(self, key)
            # parsed already: never (NO_CONDITIONS), or conditions; an empty fail_on is not
            # (tuple(user_list) would turn failing off unasked), an empty warn_on the default
            empty_ok = key == "warn_on" and isinstance(value, tuple)
            if value is NO_CONDITIONS or (
                isinstance(value, (tuple, list))
                and (value or empty_ok)
                and all(isinstance(c, Condition) for c in value)
            ):
                object.__setattr__(self, key, value if isinstance(value, tuple) else tuple(value))
                continue
            try:
                object.__setattr__(self, key, conditions(value))
            except ConfigError as e:
                raise ConfigError(f"{key}: {e}", options=(key,)) from None
        if isinstance(self.sources, (str, os.PathLike)):
            object.__setattr__(self, "sources", (os.fspath(self.sources),))

    def override(self, **changes: Any) -> Policy:
        """A copy with every change that is not None (unknown keys go to ``extra``)."""
        known = {f.name for f in dataclasses.fields(self)}
        changes = {k: v for k, v in changes.items() if v is not None}
        extra = dict(self.extra) | {k: v for k, v in changes.items() if k not in known}
        fields = {k: v for k, v in changes.items() if k in known}
        file_keys = tuple(k for k in self.file_keys if k not in fields)  # overridden: not its
        return dataclasses.replace(self, **fields, extra=tuple(extra.items()), file_keys=file_keys)

    def analysis_config(self) -> AnalysisConfig:
        """The analysis this policy asks for (validated; raises ConfigError)."""
        options = empty_refused({k: getattr(self, k) for k in _ANALYSIS_KEYS})
        with self.naming_file():
            return AnalysisConfig.from_options(**options, **dict(self.extra))

    @contextlib.contextmanager
    def naming_file(self, keys: Sequence[str] = _ANALYSIS_KEYS) -> Iterator[None]:
        """A ConfigError inside also names the config file and which of ``keys`` it set (the
        message names the option's flag; the value may have come from the file)."""
        try:
            yield
        except ConfigError as e:
            if (blamed := self.blame(e, keys)) == str(e):
                raise
            raise ConfigError(blamed, options=e.options) from None

    def blame(self, e: SmcheckError, keys: Sequence[str] = _ANALYSIS_KEYS) -> str:
        """``e``'s message, which names the flags (``--dim``), and which of the options it
        refuses (``e.options``) the config file set, of ``keys``: the values came from there."""
        named = ", ".join(
            k.replace("_", "-") for k in e.options if k in self.file_keys and k in keys
        )
        return f"{e} (config '{self.config_file}' sets {named})" if named else str(e)

    def to_dict(self, cfg: AnalysisConfig) -> dict[str, Any]:
        """The effective policy for reports: the analysis as run, and the conditions."""
        return {
            "config_file": self.config_file,
            "methods": list(cfg.methods),
            "dtypes": list(cfg.dtypes),
            "temperatures": list(cfg.temperatures),
            "model": cfg.model,
            "dim": cfg.dim,
            "targets": self.targets,
            "use": cfg.use,
            "fail_on": [c.name for c in self.fail_on],
            "warn_on": [c.name for c in self.warn_on],
        }


def policy_from_options(
    cwd: Path,
    config: str | None,
    isolated: bool,
    given: dict[str, Any],
    fail_on: Sequence[str],
    warn_on: Sequence[str],
) -> Policy:
    """The config file's policy with the options given on the command line laid over it.

    Args:
        cwd: where the search for a config file starts.
        config: ``--config``, or None to search.
        isolated: ``--isolated``: ignore config files.
        given: the analysis options given on the command line, as click parsed them
            (temperature texts, the memory budget in MiB).
        fail_on: ``--fail-on`` conditions (empty keeps the policy's).
        warn_on: ``--warn-on`` conditions (empty keeps the policy's).

    Returns:
        The effective policy (raises ConfigError).
    """
    policy = load_policy(cwd, config, isolated)
    over = dict(given)
    if "temperatures" in over:
        over["temperatures"] = parse_temperatures(over["temperatures"]) or None
    if "memory_budget" in over:
        over["memory_budget"] *= 2**20
    for key in ("dtypes", "methods"):  # an empty LIST keeps the policy's
        if key in over and not over[key]:
            del over[key]
    for key, texts in (("fail_on", fail_on), ("warn_on", warn_on)):
        if texts:
            with refusing(key, bare=True):  # the message names no option: --fail-on leads it
                over[key] = parse_conditions(list(texts))
    return policy.override(**over)


def find_config(start: Path) -> Path | None:
    """The nearest config file from ``start`` up (a pyproject.toml only with [tool.smcheck])."""
    for folder in (start, *start.parents):
        for name in CONFIG_FILES:
            path = folder / name
            if not path.is_file():
                continue
            if name != "pyproject.toml" or _tool_table(_read_toml(path)) is not None:
                return path
    return None


def load_policy(
    cwd: str | os.PathLike[str],
    config: str | os.PathLike[str] | None = None,
    isolated: bool = False,
) -> Policy:
    """The policy for a run: ``config`` (``--config``; a relative path is relative to ``cwd``),
    else the nearest config file from ``cwd`` up, else the defaults."""
    if isolated:
        if config is not None:
            raise ConfigError("--isolated ignores config files, so it cannot be used with --config")
        return Policy()
    if config is not None:
        path = Path(cwd, config)  # an absolute config stays as it is
        if not path.is_file():
            where = "" if Path(config).is_absolute() else f" in '{cwd}'"
            raise ConfigError(
                f"config file '{os.fspath(config)}' does not exist{where}; check the --config path"
            )
        return read_policy(path)
    found = find_config(Path(cwd).resolve())
    return read_policy(found) if found is not None else Policy()


def read_policy(path: Path) -> Policy:
    """Parse one config file (``[tool.smcheck]`` of a pyproject.toml, else top-level keys)."""
    data = _read_toml(path)
    where = f"config '{_shown(path)}'"
    if path.name == "pyproject.toml":
        table = _tool_table(data)
        if table is None:
            raise ConfigError(
                f"{where} has no [tool.smcheck] table; add one or pass another --config"
            )
        where += " [tool.smcheck]"
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: 'smcheck' must be a table")
    return parse_policy(table, where, path.parent, _shown(path))


def _tool_table(data: dict[str, Any]) -> Any:
    tool = data.get("tool")
    return tool.get("smcheck") if isinstance(tool, dict) else None


def _shown(path: Path) -> str:
    """A path relative to the working directory when inside it, else absolute (posix)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path.as_posix()
    return Path(rel).as_posix() if not rel.startswith("..") else path.resolve().as_posix()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config '{path}' is not valid TOML ({e}); fix its syntax") from None
    except ValueError as e:  # an integer beyond Python's int-string limit
        raise ConfigError(f"cannot read config '{path}' ({e}); fix the value") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(
            f"config '{path}' nests arrays or tables too deeply to read; flatten it"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config '{path}' ({e}); check the file") from None


def parse_policy(
    table: dict[str, Any], where: str, base: Path, config_file: str | None = None
) -> Policy:
    """Validate a policy table; every problem is a ConfigError naming ``where`` and the key."""
    out: dict[str, Any] = {"config_file": config_file}
    spelled: dict[str, str] = {}  # each key as the table spells it
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        parse = KEYS.get(key)
        if parse is None:
            hint = " (in smcheck.toml the keys go at the top level)" if key == "tool" else ""
            raise ConfigError(
                f"{where}: unknown key {raw_key!r}{hint}; valid keys: {', '.join(KEYS)}"
            )
        if (first := spelled.setdefault(key, raw_key)) != raw_key:  # else one would be lost
            raise ConfigError(
                f"{where} sets {key} twice, as {first!r} and {raw_key!r}; keep one of them"
            )
        try:
            out[key.replace("-", "_")] = parse(value, base)
        except ConfigError as e:
            raise ConfigError(f"{where}: {raw_key}: {e}") from None
    return Policy(**out, file_keys=tuple(k for k in out if k != "config_file"))
