"""Policy conditions (``fail-on`` / ``warn-on``): how each is parsed and read from a report cell."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from smcheck.errors import ConfigError
from smcheck.findings import remedies
from smcheck.findings.conditiontypes import Hit, Metric, Reader
from smcheck.findings.inputconditions import INPUT_METRICS
from smcheck.report.model import Cell, InputSummary, RowIndex, Verdict
from smcheck.report.phrases import plural, row_index


def _get(obj: Any, key: str) -> Any:
    """A field of a dataclass or a dict (gradient metrics may be either)."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _ix(row: Any) -> RowIndex | None:
    return None if row is None else tuple(int(i) for i in row)


def _where(rows: int | None, total: int, worst: Any) -> str:
    at = "" if worst is None else f", worst row {row_index(_ix(worst))}"
    # always "rows", even of 1 row (the verdicts say "1/1 row"): kept as recorded
    return ("" if rows is None else f" in {rows}/{total} rows") + at


def _count(path: str, *noun: str, parts: Callable[[Cell], str] | None = None) -> Reader:
    """A count metric (elements, rows, worst_row) at ``metrics.<path>``; ``parts``: what the
    count is made of, in brackets after it."""

    def read(cell: Cell) -> Hit | str:
        c = getattr(cell.metrics, path)
        total = cell.metrics.rows_checked
        made = parts(cell) if parts is not None else ""
        # counts are written with :g here (1e+06 elements), unlike the verdicts: kept as recorded
        detail = plural(float(c.elements), *noun) + f" ({made})" * bool(made)
        detail += _where(c.rows, total, c.worst_row)
        return Hit(float(c.elements), c.rows, _ix(c.worst_row), detail)

    return read


def _overflow_parts(cell: Cell) -> str:
    """``exp 472, row sum 4``: an overflowed row sum is no element of the row."""
    m = cell.metrics
    parts = [(m.exp_overflow, "exp"), (m.sum_overflow, "row sum"), (m.temperature_overflow, "x/T")]
    return ", ".join(f"{name} {p.elements}" for p, name in parts if p.elements)


def _flips(cell: Cell) -> Hit | str:
    f = cell.metrics.argmax_flips
    detail = plural(float(f.rows), "row") + f" of {cell.metrics.rows_checked} with a flipped argmax"
    return Hit(float(f.rows), f.rows, _ix(f.worst_row), detail + _where(None, 0, f.worst_row))


def _gradient_count(field: str, *noun: str) -> Reader:
    """A gradient count (issue 3's ``gradient.<field>``: {elements, rows, worst_row} or an int)."""

    def read(cell: Cell) -> Hit | str:
        if cell.gradient is None:
            return "the report has no gradient metrics"
        c = _get(cell.gradient, field)
        if c is None:
            return f"the report's gradient metrics have no {field!r}"
        if isinstance(c, (int, float)):  # a plain row count such as vanished_rows
            n, rows, worst = c, int(c), None
        else:
            rows, worst = _get(c, "rows"), _get(c, "worst_row")
            n = _get(c, "elements") if _get(c, "elements") is not None else rows
        total = cell.metrics.rows_checked
        detail = plural(float(n), *noun) + _where(rows, total, worst)
        return Hit(float(n), rows, _ix(worst), detail)

    return read


def _accuracy(label: str, get: Callable[[Cell], tuple[float | None, Any]], unit: str) -> Reader:
    """A max over rows with finite output; rows whose output is NaN count as unbounded error."""

    def read(cell: Cell) -> Hit | str:
        value, worst = get(cell)
        nan = cell.metrics.nan
        if nan.rows:
            # the metric skips rows whose output is NaN: their error is unbounded, not absent
            detail = f"{label} unbounded: NaN output in {plural(float(nan.rows), 'row')}"
            return Hit(
                math.inf, nan.rows, _ix(nan.worst_row), detail + _where(None, 0, nan.worst_row)
            )
        if value is None:  # no row was judged (all masked or broken upstream)
            return Hit(-math.inf, None, None, f"{label}: no rows judged")
        return Hit(
            float(value), None, _ix(worst), f"{label} {value:.4g}{unit}" + _where(None, 0, worst)
        )

    return read


def _lost_mass(cell: Cell) -> Hit | str:
    lm = cell.metrics.lost_mass
    v = lm.max or 0.0
    rows = cell.metrics.underflow.rows
    return Hit(
        v, rows, _ix(lm.worst_row), f"lost mass up to {v:.4g}" + _where(None, 0, lm.worst_row)
    )


def _gradient_value(field: str, label: str) -> Reader:
    def read(cell: Cell) -> Hit | str:
        if cell.gradient is None:
            return "the report has no gradient metrics"
        v = _get(cell.gradient, field)
        if v is None:
            return f"the report's gradient metrics have no {field!r}"
        v = float(v) if isinstance(v, (int, float)) else float(_get(v, "max"))
        return Hit(v, None, None, f"{label} {v:.4g}")

    return read


_err = lambda c: (c.metrics.error.max_ulp, c.metrics.error.worst_row)  # noqa: E731

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "nan",
            "NaN probabilities from finite input",
            _count("nan", "NaN probability", "NaN probabilities"),
            "probability-nan",
        ),
        Metric(
            "overflow",
            "exp or sum overflowing to +inf (incl. dividing by T)",
            _count("overflow", "overflow to +inf", "overflows to +inf", parts=_overflow_parts),
            "exp-overflow",
        ),
        Metric(
            "underflow",
            "probabilities representable in the format that underflow to 0",
            _count("underflow", "probability underflowing to 0", "probabilities underflowing to 0"),
            "underflow",
        ),
        Metric(
            "log-nonfinite",
            "log-probabilities -inf where the exact one is finite, in rows that did not overflow "
            "(the log(softmax) trap; an overflowed row is overflow's, NaN is nan's)",
            _count("log_of_zero", "-inf log-probability", "-inf log-probabilities"),
            "log-of-zero",
        ),
        Metric(
            "argmax-flip", "rows whose argmax differs from the exact one", _flips, "argmax-flip"
        ),
        Metric(
            "loss-inf",
            "infinite cross-entropy loss from finite input",
            _gradient_count("loss_inf", "infinite loss", "infinite losses"),
            "loss-inf",
        ),
        Metric(
            "nan-gradient",
            "NaN gradient elements",
            _gradient_count("nan", "NaN gradient element", "NaN gradient elements"),
            "gradient-nan",
        ),
        Metric(
            "dead-gradient",
            "gradient elements exactly 0 where the exact gradient is representable",
            _gradient_count("dead", "dead gradient element", "dead gradient elements"),
            "dead-gradient",
        ),
        Metric(
            "vanished-gradient",
            "rows whose whole gradient is 0 while the exact one is not",
            _gradient_count(
                "vanished_rows", "row whose gradient vanished", "rows whose gradient vanished"
            ),
            "dead-gradient",
        ),
        Metric(
            "saturation",
            "rows whose largest probability rounds to 1 (stored, it loses 1 - p_max)",
            _gradient_count("saturated_rows", "saturated row", "saturated rows"),
            "saturation",
        ),
        Metric(
            "error-ulp",
            "largest relative error of a probability, in ulps of the format",
            _accuracy("max error", _err, " ulp"),
            "normwise-error",
            None,
        ),
        Metric(
            "normwise-error",
            "worst row's normwise error max|p^-p|/max p, in units of u = 2^-t",
            _accuracy("normwise error", lambda c: (c.metrics.error.normwise_u, None), "u"),
            "normwise-error",
            None,
        ),
        Metric(
            "sum-error",
            "largest |sum(p) - 1| of a row",
            _accuracy(
                "max |sum(p)-1|",
                lambda c: (c.metrics.sum_error.max, c.metrics.sum_error.worst_row),
                "",
            ),
            "normwise-error",
            None,
        ),
        Metric(
            "kl",
            "largest KL(exact || computed) of a row, in nats",
            _accuracy("max KL", lambda c: (c.metrics.kl.max, c.metrics.kl.worst_row), " nats"),
            "normwise-error",
            None,
        ),
        Metric(
            "lost-mass",
            "largest probability mass a row loses to underflow",
            _lost_mass,
            "underflow",
            None,
        ),
        Metric(
            "gradient-error",
            "worst row's normwise gradient error relative to the exact gradient",
            _gradient_value("max_rel_error", "gradient error"),
            "dead-gradient",
            None,
        ),
    )
}


LEVELS: dict[str, Verdict] = {"fail": Verdict.FAIL, "warn": Verdict.WARN}
"""Verdict levels: ``fail`` is a FAIL cell, ``warn`` a WARN or FAIL cell."""

_ALIASES = {"argmax-flips": "argmax-flip", "dead-gradients": "dead-gradient"}
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

    def check(self, cell: Cell) -> Hit | str | None:
        """The hit if ``cell`` violates the condition, None if not, a reason if not measurable."""
        if self.level is not None:
            if cell.verdict.rank < self.level.rank:
                return None
            # the findings of its verdict, without the cell's name (the violation names it) and
            # without NOTEs, which change no verdict
            why = [f.text() for f in cell.findings if f.severity != "NOTE"]
            return Hit(float(cell.verdict.rank), None, None, "; ".join(why or cell.reasons))
        if self.metric in INPUT_METRICS:
            return None
        metric = METRICS[self.metric]
        got = metric.read(cell)
        if isinstance(got, str):
            return got
        assert self.limit is not None
        over = got.value >= self.limit if self.op == ">=" else got.value > self.limit
        if over and self.bare and _only_notes(cell, metric.hint):
            return None  # the verdict calls it immaterial or unjudged: analyze shows no WARN
        return replace(got, remedy=_remedy(metric.hint, cell)) if over else None

    @property
    def bare(self) -> bool:
        """A count condition by name alone (``dead-gradient``, i.e. ``> 0``): it asks about the
        finding, so it fires only where the verdict finds the cause material; an explicit limit
        (``dead-gradient>=1``) asks about the raw count."""
        m = METRICS.get(self.metric)
        return m is not None and m.default_limit is not None and self.name == self.metric

    def check_input(self, s: InputSummary) -> Hit | None:
        """The hit if the source's input violates the condition: an input condition, or a
        verdict level met by an input finding (``fail``: an all-NaN file); else None."""
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
            return None
        got = INPUT_METRICS[self.metric].read(s)
        assert isinstance(got, Hit) and self.limit is not None
        over = got.value >= self.limit if self.op == ">=" else got.value > self.limit
        return got if over else None

    def message(self, hit: Hit) -> str:
        """One sentence: what was measured, the limit where it is not 0, and the remedy."""
        if self.level is not None:
            return hit.detail
        limit = "" if self.limit == 0 else f" (limit {self.op}{self.limit:g})"
        remedy = hit.remedy or (
            INPUT_METRICS[self.metric].hint if self.metric in INPUT_METRICS else ""
        )
        return f"{hit.detail}{limit}" + (f" -- {remedy}" if remedy else "")


def _only_notes(cell: Cell, cause: str) -> bool:
    """The cell names ``cause`` and only as a NOTE (below its materiality threshold, or not
    judged under the cell's use); a count with no finding of that cause is read as counted."""
    severities = {f.severity for f in cell.findings if f.cause == cause}
    return severities == {"NOTE"}


def _remedy(cause: str, cell: Cell) -> str:
    """The cell's own finding's remedy for ``cause`` (settled), else the registry's."""
    own = [f.remedy for f in cell.findings if f.cause == cause]
    return own[0] if own else remedies.remedy(cause, cell.method, cell.dtype, model=cell.model)


def parse_condition(text: str) -> Condition:
    """``overflow``, ``overflow>100``, ``error-ulp>8``, ``lost-mass>=1e-6``, ``fail`` or ``warn``.

    Raises:
        ConfigError: unknown name, a threshold without a limit, or a bad number.
    """
    m = _SYNTAX.match(str(text).lower())
    if not m:
        raise ConfigError(f"bad condition {text!r}; {_usage()}")
    name, op, limit_text = m.group(1).replace("_", "-"), m.group(2), m.group(3)
    name = _ALIASES.get(name, name)
    if name in LEVELS:
        if op:
            raise ConfigError(f"the verdict level {name!r} takes no limit; write just {name!r}")
        return Condition(name, name)
    metrics = {**METRICS, **INPUT_METRICS}
    if name not in metrics:
        raise ConfigError(f"unknown condition {name!r}; {_usage()}")
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
