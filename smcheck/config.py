"""What to analyse and how: frozen, validated configuration."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from smcheck import configchecks as checks
from smcheck.configchecks import MAX_TEMPERATURES as MAX_TEMPERATURES
from smcheck.configchecks import TARGET_RULES as TARGET_RULES
from smcheck.configchecks import parse_temperatures as parse_temperatures
from smcheck.dtypes import DTYPES, canonical_dtype
from smcheck.errors import ARGUMENTS, FLAGS, ConfigError
from smcheck.methods import DEFAULT_METHODS, STRICT_DEFAULT_METHODS, get_method
from smcheck.threads import check_threads

MODELS: tuple[str, ...] = ("framework", "strict")
USES: tuple[str, ...] = ("probs", "logprobs", "loss")
"""What the softmax feeds, each judging more than the one before (docs/design.md §4): the
probabilities; also their logarithms; also the cross-entropy loss and its gradient."""
FRAMEWORK_KERNEL = "torch"
"""The softmax the user's framework computes: with the default methods the others are
hypothetical comparisons beside it."""


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

    def __post_init__(self) -> None:
        for f in fields(self):  # each a finite number >= 0: a string or -1 would judge nothing
            value = checks.number("thresholds", getattr(self, f.name), f"Thresholds.{f.name}")
            object.__setattr__(self, f.name, value)

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
    """Each once, ascending whatever the order given (runs of T read as numeric ranges); at
    most MAX_TEMPERATURES once repeats are removed. Given as numbers, a comma-separated string
    of numbers and LO:HI:N ranges, or a 0-d or 1-d numpy array or torch tensor."""
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
        self._check_values()
        self._check_selections()
        if self.use not in (*USES, "auto"):
            raise ConfigError(
                f"unknown use {self.use!r}; use one of {', '.join(USES)} or auto", options=("use",)
            )
        if self.model not in MODELS:
            raise ConfigError(
                f"unknown arithmetic model {self.model!r}; use one of {', '.join(MODELS)}",
                options=("model",),
            )
        for m in self.methods:
            if self.model not in get_method(m).models:
                why = " (it is the framework's own fused kernel)" if m == "torch" else ""
                raise _framework_only(
                    f"method {m!r} has no {self.model!r} form{why}",
                    (
                        "methods",
                        "leave it out of the methods",
                        "leave it out of --method",
                        "leave it out of methods=",
                    ),
                )
        if self.mask_value is not None:
            object.__setattr__(self, "mask_value", self._checked_mask_value())
        if self.gradients and self.model == "strict":
            raise _framework_only(
                "gradients need autograd, which only the framework model runs",
                ("gradients", "turn gradients off", "give --no-gradients", "give gradients=False"),
            )

    def _check_values(self) -> None:
        """Each single-valued option of the right type and range: a truthy "no" is no flag, nor
        "512" a byte count (whoever built the config: the API, the CLI or a config file)."""
        put = partial(object.__setattr__, self)
        put("dim", checks.integer("dim", self.dim, "an axis", "-1"))
        for name in ("softmin", "ftz"):
            put(name, checks.flag(name, getattr(self, name)))
        for name in ("gradients", "critical"):
            put(name, checks.flag(name, getattr(self, name), automatic=True))
        budget = self.memory_budget
        budget = checks.integer("memory_budget", budget, "a number of bytes", "2**29 (512 MiB)")
        if budget < 2**20:  # the command line and config files take MiB >= 1: only the API
            raise ConfigError(
                f"memory_budget={budget} bytes is under 1 MiB; give at least 2**20 (1048576)",
                options=("memory_budget",),
            )
        put("memory_budget", budget)
        if self.chunk_rows is not None:
            put("chunk_rows", checks.integer("chunk_rows", self.chunk_rows, "a row count", "4096"))
            if self.chunk_rows < 1:
                raise ConfigError("chunk_rows must be at least 1", options=("chunk_rows",))
        if not isinstance(self.thresholds, Thresholds):
            raise ConfigError(
                f"thresholds={self.thresholds!r} is not a smcheck.Thresholds; give e.g. "
                "smcheck.Thresholds(lost_mass_u=2.0)",
                options=("thresholds",),
            )
        with checks.refusing("threads"):
            put("threads", check_threads(self.threads))
        with checks.refusing("targets"):
            put("targets", checks.normalise_targets(self.targets))

    def _check_selections(self) -> None:
        """dtypes, methods, comparisons and temperatures as tuples of known names and numbers,
        in whichever form the API takes them (one name, a comma-separated string, dtypes)."""
        put = partial(object.__setattr__, self)
        with checks.refusing("dtypes", bare=True):
            dtypes = checks.selection("dtypes", self.dtypes)
            put("dtypes", checks.unique(canonical_dtype(d) for d in dtypes))
        with checks.refusing("methods", bare=True):
            methods = checks.selection("methods", self.methods)
            put("methods", checks.unique(get_method(m).name for m in methods))
        comparisons = self.comparisons
        if comparisons is None:
            default = self.methods == DEFAULT_METHODS and self.model == "framework"
            comparisons = tuple(m for m in self.methods if m != FRAMEWORK_KERNEL) if default else ()
        with checks.refusing("comparisons", bare=True):
            named = [get_method(m).name for m in checks.selection("comparisons", comparisons)]
        put("comparisons", tuple(m for m in checks.unique(named) if m in self.methods))
        for key, one in (("dtypes", "dtype"), ("methods", "method")):
            if not getattr(self, key):  # led by the argument the caller left empty (dtypes=())
                with checks.refusing(key, bare=True):
                    raise ConfigError(f"nothing to analyse: give at least one {one}")
        with checks.refusing("temperatures"):
            temps = checks.selection("temperatures", self.temperatures)
        put("temperatures", checks.temperatures(temps))

    def _checked_mask_value(self) -> float:
        """The mask value as a float: finite, and negative (positive under softmin)."""
        if self.softmin:
            sign, eg = "positive", "1e4 (softmin negates the input; +inf is a mask already)"
        else:
            sign, eg = "negative", "-1e4 (-inf is a mask already)"
        mv = checks.real(self.mask_value, "mask value ", eg, ("mask_value",))
        if not (math.isfinite(mv) and (mv > 0 if self.softmin else mv < 0)):
            with checks.refusing("mask_value", "softmin", bare=True):  # led by --mask-value
                raise ConfigError(
                    f"mask value {self.mask_value!r} is not a finite {sign} number; give the "
                    f"value the input masks with, e.g. {eg}"
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
        unknown = [k for k in options if k not in {f.name for f in fields(cls)}]
        if unknown:
            known = ", ".join(f.name for f in fields(cls))
            raise ConfigError(f"there is no option {unknown[0]!r}; the options are {known}")
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
        return cls(**kwargs)


def _framework_only(what: str, other: tuple[str, str, str, str]) -> ConfigError:
    """``WHAT; FIX`` where FIX is the other option or the framework model, each named as the
    caller spells it (SmcheckError.spelled): ``other`` is that option's key and its fix in
    words (a config file's value: no flag), on the command line and as the API's argument."""
    key, words, flag, argument = other
    spelled = {
        FLAGS: f"{what}; {flag} or use --model framework",
        ARGUMENTS: f"{what}; {argument} or use model='framework'",
    }
    return ConfigError(
        f"{what}; {words} or use the framework model", options=(key, "model"), spelled=spelled
    )


def empty_refused(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` a Python caller gave (the API, a Policy) as :meth:`AnalysisConfig.from_options`
    takes them: it reads ``()`` as a selection the command line left out, the default; given
    here, an empty ``dtypes``, ``methods`` or ``temperatures`` is refused, as ``[]`` is."""
    keys = ("dtypes", "methods", "temperatures")
    empty = [k for k in keys if isinstance(v := options.get(k), tuple) and not v]
    return options | dict.fromkeys(empty, [])
