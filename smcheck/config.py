"""What to analyse and how: frozen, validated configuration."""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from smcheck.dtypes import DTYPES, canonical_dtype
from smcheck.errors import ConfigError
from smcheck.methods import DEFAULT_METHODS, STRICT_DEFAULT_METHODS, get_method
from smcheck.threads import check_threads

MODELS: tuple[str, ...] = ("framework", "strict")
USES: tuple[str, ...] = ("probs", "logprobs", "loss")
"""What the softmax feeds, each judging more than the one before (docs/design.md §4): the
probabilities; also their logarithms; also the cross-entropy loss and its gradient."""
FRAMEWORK_KERNEL = "torch"
"""The softmax the user's framework computes: with the default methods the others are
hypothetical comparisons beside it."""
TARGET_RULES: tuple[str, ...] = ("argmax", "argmin")
"""Targets chosen from each row itself: the confident case and the confidently-wrong case."""


@dataclass(frozen=True)
class GeneratorSpec:
    """A ``gen:NAME`` generator as a user names it; smcheck.sources.generators.GENERATORS pairs
    each with the function that draws it. Here, as plain data, so that ``generate --help`` and
    shell completion load neither numba nor torch (this module loads numpy, through dtypes)."""

    name: str
    description: str
    """One line for ``--help`` and listings."""
    default_shape: tuple[int, ...]
    defaults: Mapping[str, int | float]
    """Parameter names and their defaults; an int default takes integers only."""
    seeded: bool = True
    """False for generators whose output does not depend on the seed (ramp, constant)."""


GENERATOR_SPECS: tuple[GeneratorSpec, ...] = (
    GeneratorSpec(
        "normal", "i.i.d. normal logits N(loc, scale^2)", (8, 10), {"loc": 0.0, "scale": 1.0}
    ),
    GeneratorSpec(
        "uniform", "i.i.d. uniform logits on [low, high)", (8, 10), {"low": -3.0, "high": 3.0}
    ),
    GeneratorSpec(
        "spike",
        "normal logits plus one dominant logit per row at loc + height",
        (8, 10),
        {"loc": 0.0, "scale": 1.0, "height": 20.0},
    ),
    GeneratorSpec(
        "extreme",
        "a moderate body with some entries near low (-999) or high (100)",
        (8, 10),
        {"low": -999.0, "high": 100.0, "frac": 0.2, "loc": 2.0, "scale": 2.0},
    ),
    GeneratorSpec(
        "ramp", "each row is linspace(low, high)", (8, 10), {"low": -10.0, "high": 10.0}, False
    ),
    GeneratorSpec(
        "llm",
        "LLM-head-like: heavy-tailed vocab-sized rows with a few large outliers",
        (4, 32000),
        {"loc": -3.0, "scale": 2.0, "df": 5.0, "outliers": 8, "top": 28.0},
    ),
    GeneratorSpec(
        "constant", "every logit equals value (a flat distribution)", (8, 10), {"value": 0.0}, False
    ),
    GeneratorSpec(
        "masked",
        "attention scores with a causal -inf mask, optional random and fully masked rows",
        (8, 8),
        {"loc": 0.0, "scale": 1.0, "causal": 1, "mask_frac": 0.0, "fully_masked": 0},
    ),
)
"""The generators' names, descriptions and parameters, in listing order."""
GENERATOR_NAMES: tuple[str, ...] = tuple(g.name for g in GENERATOR_SPECS)
"""The ``gen:NAME`` sources, in listing order."""
DEFAULT_MEMORY_BUDGET = 512 * 2**20
MAX_TEMPERATURES = 100
"""Most temperatures one analysis takes: each adds a full set of cells, and peak memory grows
with them (about 18 MB per temperature with the 16 default cells, even on an 8x10 input)."""


@dataclass(frozen=True)
class Thresholds:
    """Where a finding becomes WARN (FAIL conditions are fixed: overflow, NaN, non-finite log p)."""

    lost_mass: float = 0.0
    """Underflow is WARN only where a row loses more than this probability mass (absolute)..."""
    lost_mass_u: float = 1.0
    """...and more than this many u of the format: less is below what rounding the probabilities,
    which sum to 1, already changes (a NOTE)."""
    normwise_bits: float = 0.5
    """Normwise error above 2^(normwise_bits · t) u (that share of the significand lost): WARN."""
    gradient_abs_u: float = 4.0
    """Dead gradient elements and saturation are WARN (under --use loss) only where what the
    format loses of the gradient exceeds this many u: the cross-entropy gradient p - onehot(t)
    has entries in [-1, 1], and computing p near 1 within the few ulps of any softmax kernel
    (exp, sum, divide, rounding) already moves them by that much. Saturation loses
    1 - p_max <= u/2 (e.g. float32 rows with a lead over 17.3 nats): a NOTE by default."""

    log_abs_u: float = 4.0
    """Log-probabilities (judged under --use logprobs and loss) are WARN only where an error, in
    nats, exceeds u times the larger of 2^(normwise_bits · t) (an error of d nats in log p is a
    relative error d of p: the normwise rule's limit) and this many times the cell's deepest
    |log p| (storing log p in the format already costs up to u|log p|, and a log-softmax that
    shifts by the max loses a few roundings of that size). Nats, because sums of
    log-probabilities add absolute errors."""

    def lost_mass_limit(self, u: float) -> float:
        """The lost mass above which underflow is WARN in a format of unit roundoff ``u``."""
        return max(self.lost_mass, self.lost_mass_u * u)


@dataclass(frozen=True)
class AnalysisConfig:
    """Options of one analysis (the CLI and the Python API build the same object)."""

    dim: int = -1
    dtypes: tuple[str, ...] = DTYPES
    methods: tuple[str, ...] = DEFAULT_METHODS
    temperatures: tuple[float, ...] = (1.0,)
    """Each once, ascending whatever the order given (runs of T read as numeric ranges)."""
    model: str = "framework"
    softmin: bool = False
    ftz: bool = False
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    chunk_rows: int | None = None
    """Rows per chunk; None derives it from the row length and memory_budget."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    use: str = "auto"
    """What the softmax feeds: probs, logprobs, loss, or auto (per source: probs where the input
    has -inf masks or known mask sentinels, else loss)."""
    gradients: bool | None = None
    """Back-propagate the cross-entropy loss through each method (framework model only); None:
    only where the use is loss."""
    comparisons: tuple[str, ...] | None = None
    """Methods run as hypothetical comparisons, never counted in a verdict; None: with the
    default framework methods, all but the framework's own kernel (from_options passes () when
    the methods are named)."""
    targets: Any = field(default="argmax", compare=False)
    """Target classes: "argmax", "argmin", a path to class indices, an index array, or
    smcheck.sources.targets.TargetIndices (paths and arrays are read before the analysis)."""
    critical: bool | None = None
    """Search the critical temperatures; None: only when several temperatures are analysed."""
    mask_value: float | None = None
    """The finite value the input masks with (--mask-value), read as a mask like -inf besides
    the known sentinels (finfo.min of each format, -1e4, -1e9 ...); negative (positive under
    softmin, which negates the input)."""
    threads: int | None = None
    """torch's intra-op threads and the numba kernels' threads during the analysis; None: what
    torch and numba pick (smcheck.threads)."""

    def __post_init__(self) -> None:
        try:  # an integer of any kind (numpy's too), not a float or a bool
            if isinstance(self.dim, bool):
                raise TypeError
            object.__setattr__(self, "dim", operator.index(self.dim))
        except TypeError:
            raise ConfigError(
                f"dim={self.dim!r} is not an axis; give an integer such as -1", options=("dim",)
            ) from None
        with _refusing("threads"):
            object.__setattr__(self, "threads", check_threads(self.threads))
        with _refusing("targets"):
            object.__setattr__(self, "targets", normalise_targets(self.targets))
        with _refusing("dtypes"):
            object.__setattr__(self, "dtypes", _unique(canonical_dtype(d) for d in self.dtypes))
        with _refusing("methods"):
            object.__setattr__(self, "methods", _unique(get_method(m).name for m in self.methods))
        if self.use not in (*USES, "auto"):
            raise ConfigError(
                f"unknown use {self.use!r}; use one of {', '.join(USES)} or auto", options=("use",)
            )
        comparisons = self.comparisons
        if comparisons is None:
            default = self.methods == DEFAULT_METHODS and self.model == "framework"
            comparisons = tuple(m for m in self.methods if m != FRAMEWORK_KERNEL) if default else ()
        named = _unique(get_method(m).name for m in comparisons)
        object.__setattr__(self, "comparisons", tuple(m for m in named if m in self.methods))
        if not self.dtypes or not self.methods:
            raise ConfigError(
                "nothing to analyse: give at least one dtype and one method",
                options=("dtypes", "methods"),
            )
        if self.model not in MODELS:
            raise ConfigError(
                f"unknown arithmetic model {self.model!r}; use one of {', '.join(MODELS)}",
                options=("model",),
            )
        for m in self.methods:
            if self.model not in get_method(m).models:
                why = " (it is the framework's own fused kernel)" if m == "torch" else ""
                raise ConfigError(
                    f"method {m!r} has no {self.model!r} form{why}; "
                    "leave it out of --method or use --model framework",
                    options=("methods", "model"),
                )
        temps = tuple(float(t) for t in self.temperatures) or (1.0,)
        for t in temps:
            if not (math.isfinite(t) and t > 0):
                raise ConfigError(
                    f"temperature {t!r} is not a positive finite number; use e.g. 0.7",
                    options=("temperatures",),
                )
        # ascending: every report names runs of T as "0.5..2", which must be numeric ranges
        object.__setattr__(self, "temperatures", tuple(sorted(set(temps))))
        with _refusing("temperatures"):
            _check_temperature_count(len(self.temperatures))
        if self.critical not in (None, True, False):
            raise ConfigError(
                "critical must be True, False or None (automatic)", options=("critical",)
            )
        if self.mask_value is not None:
            object.__setattr__(self, "mask_value", self._checked_mask_value())
        if self.gradients and self.model == "strict":
            raise ConfigError(
                "gradients need autograd, which only the framework model runs; drop --gradients "
                "or use --model framework",
                options=("gradients", "model"),
            )
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ConfigError("chunk_rows must be at least 1", options=("chunk_rows",))
        if self.memory_budget < 2**20:
            raise ConfigError(
                "the memory budget must be at least 1 MiB", options=("memory_budget",)
            )

    def _checked_mask_value(self) -> float:
        """The mask value as a float: finite, and negative (positive under softmin)."""
        mv = float(self.mask_value)  # type: ignore[arg-type]
        if not (math.isfinite(mv) and (mv > 0 if self.softmin else mv < 0)):
            if self.softmin:
                sign, eg = "positive", "1e4 (softmin negates the input; +inf is a mask already)"
            else:
                sign, eg = "negative", "-1e4 (-inf is a mask already)"
            raise ConfigError(
                f"mask value {self.mask_value!r} is not a finite {sign} number; give the "
                f"value the input masks with, e.g. {eg}",
                options=("mask_value", "softmin"),
            )
        return mv

    @property
    def sentinel(self) -> float | None:
        """The mask value as the softmax sees it (negated under softmin), or None."""
        if self.mask_value is None:
            return None
        return -self.mask_value if self.softmin else self.mask_value

    @property
    def wants_critical(self) -> bool:
        """A sweep of several temperatures asks for the critical ones; one T keeps runs fast."""
        return len(self.temperatures) > 1 if self.critical is None else self.critical

    @classmethod
    def from_options(cls, **options: Any) -> AnalysisConfig:
        """A config from keyword options (API, CLI, policy), where None or ``()`` is the default.

        Args:
            **options: any of the fields; an empty selection (a CLI option not given), None or
                a selection left out means the default, and under ``model="strict"`` the
                default methods are the strict ones (torch's fused kernel has no strict form).
                Methods given are all selected; the default ones are torch and its hypothetical
                comparisons.

        Returns:
            The validated config (raises ConfigError).
        """
        defaults = {"dtypes": DTYPES, "methods": DEFAULT_METHODS, "temperatures": (1.0,)}
        if options.get("model") == "strict":
            defaults["methods"] = STRICT_DEFAULT_METHODS
        # left out is the default too: the field's own default (torch among the methods) would
        # refuse the strict model that a caller passing only the options it has asked for
        options = dict.fromkeys(defaults) | options
        kwargs = {
            k: (defaults.get(k) if v is None or (isinstance(v, tuple) and v == ()) else v)
            for k, v in options.items()
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if "methods" in kwargs and options.get("methods") not in (None, ()):
            kwargs.setdefault("comparisons", ())  # methods the user names are all selected
        for k in ("dtypes", "methods", "temperatures"):
            if k in kwargs:
                kwargs[k] = _selection(k, kwargs[k])
        return cls(**kwargs)


def _selection(key: str, value: Any) -> tuple[Any, ...]:
    """A selection as the API may give it: a list, one name or number, a comma-separated
    string (``"float16,float32"``, ``"0.5:2:3"``), numpy or torch dtypes (``np.float16``)."""
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
        return parse_temperatures(items) if key == "temperatures" else tuple(items)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (value,)
    try:
        items = list(value)
    except TypeError:
        if key != "dtypes":
            raise ConfigError(f"{key}={value!r} is neither a list nor a name") from None
        items = [value]  # one numpy or torch dtype
    if key == "dtypes":
        items = [d if isinstance(d, str) else _dtype_name(d) for d in items]
    return tuple(items)


def _dtype_name(d: Any) -> str:
    """``np.float16``, ``np.dtype("float16")``, ``torch.float16`` as ``float16``."""
    import numpy as np  # loaded already (through dtypes): config imports none at module level

    if d is None:  # np.dtype(None) would be float64
        raise ConfigError("dtypes holds None; give format names such as float16")
    try:
        return str(np.dtype(d).name)
    except TypeError:
        return str(d).removeprefix("torch.")


@contextlib.contextmanager
def _refusing(*options: str) -> Iterator[None]:
    """A ConfigError inside names ``options`` as what it refuses (a config file that set them
    is then named: check.policy.Policy.blame), unless it names its own."""
    try:
        yield
    except ConfigError as e:
        e.options = e.options or options
        raise


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


def _unique(items):  # type: ignore[no-untyped-def]
    return tuple(dict.fromkeys(items))


def parse_temperatures(texts: tuple[str, ...] | list[str]) -> tuple[float, ...]:
    """Temperatures from ``0.05,0.5,1`` items and ``LO:HI:N`` log-spaced ranges."""
    out: list[float] = []
    for text in texts:
        items = [s.strip() for s in text.split(",")]
        if text.strip() and not all(items):  # as --values: "1,,2" is a typo, not two numbers
            raise ConfigError(f"empty item in temperatures {text!r}; separate numbers by one comma")
        for item in filter(None, items):
            out += _temperature_item(item)
            _check_temperature_count(len(out))
    if texts and not out:  # given, but empty: not silently the default
        raise ConfigError("no temperature given; use numbers like 0.5,1,2 or a range LO:HI:N")
    return tuple(out)


def _check_temperature_count(n: int) -> None:
    if n > MAX_TEMPERATURES:
        raise ConfigError(
            f"{n} temperatures are more than the {MAX_TEMPERATURES} one analysis takes (each "
            f"adds a full set of cells); give at most {MAX_TEMPERATURES}, e.g. a range 0.1:10:25"
        )


def _temperature_item(item: str) -> list[float]:
    """One number, or the ``N`` log-spaced values of a ``LO:HI:N`` range."""
    import decimal

    import numpy as np

    try:
        if ":" in item:
            lo, hi, n = item.split(":")
            ends, count = (float(lo), float(hi)), int(n)
        else:
            t = float(item)
            if abs(t) in (0, math.inf) and decimal.Decimal(item).is_normal():  # as typed: 1e400
                raise ConfigError(f"temperature {item!r} rounds to {t} in float64; use e.g. 0.7")
            return [t]
    except ValueError:
        use = "use numbers like 0.5,1,2 or a range LO:HI:N such as 0.01:100:9"
        raise ConfigError(f"bad temperature {item!r}; {use}") from None
    if count < 2 or not all(0 < e < math.inf for e in ends):
        need = "two positive finite ends and N >= 2 temperatures, such as 0.01:100:9"
        raise ConfigError(f"bad temperature range {item!r}: it needs {need}")
    _check_temperature_count(count)  # before numpy allocates them
    return [float(v) for v in np.geomspace(*ends, count)]
