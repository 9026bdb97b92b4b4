"""Policy conditions (``fail-on`` / ``warn-on``): how each is parsed and read from a report cell."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from smcheck.errors import ConfigError
from smcheck.findings.conditionreaders import (
    NAN_CAUSES,
    accuracy,
    cell_remedy,
    count_of,
    flips,
    gradient_count,
    gradient_value,
    lost_mass,
    max_ulp,
    overflows,
    saturated,
)
from smcheck.findings.conditiontypes import Hit, Metric
from smcheck.findings.inputconditions import FINDING_OF, INPUT_METRICS, observed
from smcheck.findings.situation import Situation
from smcheck.report.findingmodel import join_by_remedy
from smcheck.report.model import Cell, InputSummary, Verdict

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "nan",
            "NaN probabilities from finite input",
            count_of("nan", "NaN probability", "NaN probabilities", masked=True),
            "probability-nan",
            causes=NAN_CAUSES,
        ),
        Metric(
            "overflow",
            "exp or sum overflowing to +inf (incl. dividing by T and the cast to the format)",
            overflows,
            "exp-overflow",
            # each step's own remedy, the cast's first: a wider format cures none of the shift's
            # overflows, nor the shift the cast's; beside an exp overflow that the wider format
            # keeps (naive, large logits) both are needed
            causes=("cast-overflow", "temperature-overflow", "exp-overflow", "sum-overflow"),
        ),
        Metric(
            "underflow",
            "probabilities representable in the format that underflow to 0",
            count_of(
                "underflow", "probability underflowing to 0", "probabilities underflowing to 0"
            ),
            "underflow",
        ),
        Metric(
            "log-nonfinite",
            "log-probabilities -inf where the exact one is finite, in rows that did not overflow "
            "(the log(softmax) trap; an overflowed row is overflow's, NaN is nan's)",
            count_of("log_of_zero", "-inf log-probability", "-inf log-probabilities"),
            "log-of-zero",
        ),
        Metric(
            "argmax-flip",
            "rows whose argmax differs from the exact one or is lost (NaN or all-zero output)",
            flips,
            "argmax-flip",
            # a lost argmax is the NaN's or the overflowed sum's: their remedies, not a wider one
            causes=("argmax-flip", "sum-overflow", "masked-row-nan", "probability-nan"),
        ),
        Metric(
            "loss-inf",
            "infinite cross-entropy loss from finite input",
            gradient_count("loss_inf", "infinite loss", "infinite losses"),
            "loss-inf",
        ),
        Metric(
            "nan-gradient",
            "NaN gradient elements",
            gradient_count("nan", "NaN gradient element", "NaN gradient elements"),
            "gradient-nan",
        ),
        Metric(
            "dead-gradient",
            "gradient elements exactly 0 where the exact gradient is representable",
            gradient_count("dead", "dead gradient element", "dead gradient elements"),
            "dead-gradient",
        ),
        Metric(
            "vanished-gradient",
            "rows whose whole gradient is 0 while the exact one is not",
            gradient_count(
                "vanished_rows", "row whose gradient vanished", "rows whose gradient vanished"
            ),
            "dead-gradient",
        ),
        Metric(
            "saturation",
            # named alone it follows the verdict, which calls saturation a NOTE by default (it
            # loses 1 - p_max <= u/2 < 4u): only saturation>=1 counts the rows
            "rows whose largest probability rounds to 1 (stored, it loses 1 - p_max)",
            saturated,
            "saturation",
        ),
        Metric(
            "error-ulp",
            "largest relative error of a probability, in ulps of the format",
            accuracy("max error", max_ulp, " ulp"),
            "normwise-error",
            None,
        ),
        Metric(
            "normwise-error",
            "worst row's normwise error max|p^-p|/max(max p, smallest normal), in units of u "
            "= 2^-t (a correctly rounded row: at most 1)",
            accuracy("normwise error", lambda c: (c.metrics.error.normwise_u, None), "u"),
            "normwise-error",
            None,
        ),
        Metric(
            "sum-error",
            "largest |sum(p) - 1| of a row",
            accuracy(
                "max |sum(p)-1|",
                lambda c: (c.metrics.sum_error.max, c.metrics.sum_error.worst_row),
                "",
                all_zero=1.0,
            ),
            "normwise-error",
            None,
        ),
        Metric(
            "kl",
            "largest KL(exact || computed) of a row, in nats",
            accuracy("max KL", lambda c: (c.metrics.kl.max, c.metrics.kl.worst_row), " nats"),
            "normwise-error",
            None,
        ),
        Metric(
            "lost-mass",
            "largest probability mass a row loses to underflow",
            lost_mass,
            "underflow",
            None,
        ),
        Metric(
            "gradient-error",
            "worst row's normwise gradient error relative to the exact gradient",
            gradient_value("max_rel_error", "gradient error"),
            "dead-gradient",
            None,
        ),
    )
}


LEVELS: dict[str, Verdict] = {"fail": Verdict.FAIL, "warn": Verdict.WARN}
"""Verdict levels: ``fail`` is a FAIL cell, ``warn`` a WARN or FAIL cell."""

NAMES: tuple[str, ...] = (*LEVELS, *METRICS, *INPUT_METRICS)
"""Every condition :func:`parse_condition` accepts (a few aliases aside), in this order."""

NEVER = "never"
"""A list of conditions that is this alone holds none: how a policy turns failing off."""

CONDITION_ALIASES = {"argmax-flips": "argmax-flip", "dead-gradients": "dead-gradient"}
"""Other spellings :func:`parse_condition` takes (the policy schema names them too)."""
_SYNTAX = re.compile(r"^\s*([a-z][a-z0-9_-]*)\s*(?:(>=|>)\s*(\S+))?\s*$")


@dataclass(frozen=True)
class Condition:
    """One ``fail-on`` / ``warn-on`` entry: a verdict level or ``metric OP limit``."""

    name: str
    """Canonical spelling, e.g. ``overflow``, ``error-ulp>8``, ``fail``; part of fingerprints."""
    metric: str
    op: str = ">"
    limit: float | None = None

    @property
    def level(self) -> Verdict | None:
        """The verdict level for ``fail``/``warn``; None for a metric condition."""
        return LEVELS.get(self.metric)

    def check(self, cell: Cell, situation: Situation | None = None) -> Hit | str | None:
        """The hit if ``cell`` violates the condition, None if not, a reason if not measurable;
        ``situation``: its source's, for a remedy the cell's findings do not give
        (:func:`smcheck.findings.settling.source_situation`; else softmax, use loss, no masks)."""
        if self.level is not None:
            if cell.verdict.rank < self.level.rank:
                return None
            # the findings of its verdict, without the cell's name (the violation names it) and
            # without NOTEs, which change no verdict; each remedy once, as analyze's lines say it
            why = [(f.message, f.remedy) for f in cell.findings if f.severity != "NOTE"]
            text = join_by_remedy(why) if why else "; ".join(cell.reasons)
            fixes = "; ".join(dict.fromkeys(r for _, r in why if r))
            return Hit(float(cell.verdict.rank), None, None, text, fixes)
        if self.metric in INPUT_METRICS:
            return None
        metric = METRICS[self.metric]
        got = metric.read(cell)
        if isinstance(got, str):
            return got
        assert self.limit is not None
        over = got.value >= self.limit if self.op == ">=" else got.value > self.limit
        if not over or (self.bare and _only_notes(cell, metric.hint)):
            return None  # or the verdict calls it immaterial or unjudged: analyze shows no WARN
        s = situation or Situation("", "")
        # a hit that knows its cause (an accuracy limit met by NaN or overflowed rows) takes
        # that finding's remedy: the metric's own would not cure it
        hint, causes = (got.causes[0], got.causes) if got.causes else (metric.hint, metric.causes)
        return replace(got, remedy=cell_remedy(hint, cell, s, causes))

    @property
    def bare(self) -> bool:
        """A count condition by name alone (``dead-gradient``, i.e. ``> 0``): it asks about the
        finding, so it fires only where the verdict finds the cause material; an explicit limit
        (``dead-gradient>=1``) asks about the raw count."""
        m = METRICS.get(self.metric)
        return m is not None and m.default_limit is not None and self.name == self.metric

    def check_input(
        self, s: InputSummary, *, softmin: bool, dtype: str | None = None
    ) -> Hit | None:
        """The hit if the source's input violates the condition: an input condition, or a
        verdict level met by an input finding (``fail``: an all-NaN file), or ``nan`` or
        ``loss-inf`` met by what a captured site's op returned; else None.
        ``softmin``: the source is analysed as softmax(-x), whose summary ``s`` counts -x;
        ``dtype``: the source's stored format, which a remedy may read."""
        if self.level is not None:
            found = [
                f
                for f in s.findings
                if f.severity != "INFO" and Verdict(f.severity).rank >= self.level.rank
            ]
            if not found:
                return None
            rank = float(Verdict(found[0].severity).rank)  # most severe first
            return Hit(rank, None, None, "; ".join(f.message for f in found))
        if self.metric not in INPUT_METRICS:
            return observed(s, self.name) if self.name in FINDING_OF else None
        got = INPUT_METRICS[self.metric].read(s, softmin, dtype)
        assert isinstance(got, Hit) and self.limit is not None
        over = got.value >= self.limit if self.op == ">=" else got.value > self.limit
        return got if over else None

    def message(self, hit: Hit) -> str:
        """One sentence: what was measured, the limit where it is not 0, and the remedy."""
        if self.level is not None:
            return hit.detail
        limit = "" if self.limit == 0 else f" (limit {self.op}{self.limit:g})"
        remedy = self.remedy(hit)
        return f"{hit.detail}{limit}" + (f" -- {remedy}" if remedy else "")

    def remedy(self, hit: Hit) -> str:
        """The fixes :meth:`message` states: the hit's (a verdict level's, its findings'), else
        an input condition's hint."""
        if hit.remedy or self.level is not None:
            return hit.remedy
        return INPUT_METRICS[self.metric].hint if self.metric in INPUT_METRICS else ""


def _only_notes(cell: Cell, cause: str) -> bool:
    """The cell names ``cause`` and only as a NOTE (below its materiality threshold, or not
    judged under the cell's use); a count with no finding of that cause is read as counted."""
    severities = {f.severity for f in cell.findings if f.cause == cause}
    return severities == {"NOTE"}


def parse_condition(text: str) -> Condition:
    """``overflow``, ``overflow>100``, ``error-ulp>8``, ``lost-mass>=1e-6``, ``fail`` or ``warn``.

    Raises:
        ConfigError: unknown name, a threshold without a limit, or a bad number.
    """
    m = _SYNTAX.match(str(text).lower())
    if not m:
        raise ConfigError(f"bad condition {text!r}; {_usage()}")
    name, op, limit_text = m.group(1).replace("_", "-"), m.group(2), m.group(3)
    name = CONDITION_ALIASES.get(name, name)
    if name in LEVELS:
        if op:
            raise ConfigError(f"the verdict level {name!r} takes no limit; write just {name!r}")
        return Condition(name, name)
    if name not in NAMES:
        raise ConfigError(f"unknown condition {name!r}; {_usage()}")
    metrics = {**METRICS, **INPUT_METRICS}
    if op is None:
        if metrics[name].default_limit is None:
            raise ConfigError(
                f"the condition {name!r} needs a limit, e.g. '{name}>{EXAMPLES[name]}'"
            )
        return Condition(name, name, ">", metrics[name].default_limit)
    try:
        limit = float(limit_text)
    except ValueError:
        raise ConfigError(
            f"bad limit {limit_text!r} in {text!r}; use a number, e.g. 1e-6"
        ) from None
    if not math.isfinite(limit) or limit < 0:
        raise ConfigError(f"the limit in {text!r} must be a finite number >= 0")
    if op == ">" and limit == metrics[name].default_limit:
        return Condition(name, name, op, limit)  # "overflow>0" is "overflow" (one fingerprint)
    shown = repr(limit).removesuffix(".0")
    return Condition(f"{name}{op}{shown}", name, op, limit)


class _NoConditions(tuple):  # type: ignore[type-arg]
    """The type of :data:`NO_CONDITIONS`: an empty tuple that is not ``()`` (every ``()`` is one
    object in CPython, so only a subclass can be told apart by identity)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NO_CONDITIONS"  # copied or unpickled, still the one object


NO_CONDITIONS: tuple[Condition, ...] = _NoConditions()
"""``never`` parsed: no condition, asked for; told apart by identity from a caller's empty
``()`` (``tuple(user_list)``), which a Policy refuses as ``fail_on`` as it refuses ``[]``."""


def parse_conditions(items: tuple[str, ...] | list[str]) -> tuple[Condition, ...]:
    """Parsed, de-duplicated conditions; ``never`` alone means none (:data:`NO_CONDITIONS`).

    Raises:
        ConfigError: an empty list (it would turn every condition off unasked: that is
            ``never``), ``never`` beside others, or a condition :func:`parse_condition` refuses.
    """
    if not items:
        raise ConfigError(f"the list is empty; name at least one condition, or {NEVER!r} for none")
    if list(items) == [NEVER]:
        return NO_CONDITIONS
    if NEVER in items:
        raise ConfigError(
            f"{NEVER!r} means no condition, so it stands alone; drop it or the others"
        )
    return tuple({c.name: c for c in map(parse_condition, items)}.values())


EXAMPLES = {
    "error-ulp": "8",
    "normwise-error": "64",
    "sum-error": "1e-3",
    "kl": "1e-4",
    "lost-mass": "1e-6",
    "gradient-error": "1e-2",
}
"""An example limit for each threshold condition, for the messages that ask for one."""


def _usage() -> str:
    counts = ", ".join(
        n for n, m in {**METRICS, **INPUT_METRICS}.items() if m.default_limit is not None
    )
    limits = ", ".join(f"{n}>{e}" for n, e in EXAMPLES.items())
    return (
        f"use {', '.join(LEVELS)}, one of {counts} (optionally with a limit, e.g. overflow>100),"
        f" or a threshold such as {limits}"
    )
