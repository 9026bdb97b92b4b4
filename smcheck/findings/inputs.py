"""Findings about the input itself (NaN/+inf, fully masked rows, sentinels); one line each."""

from __future__ import annotations

from collections.abc import Sequence

from smcheck.dtypes import get_format
from smcheck.report.maskmodel import (
    SEVERITIES,
    BecameMasked,
    InputFinding,
    MaskedOutput,
    Sentinel,
)
from smcheck.report.model import RowIndex


def _n(n: int, word: str) -> str:
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n} {word if n == 1 else plural}"


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _ix(ix: RowIndex | None) -> str:
    return "-" if ix is None else "[" + ",".join(map(str, ix)) + "]"


def value_text(v: float) -> str:
    """-65504, -1e9, -3.40282e38: short and exact enough to recognise."""
    return format(v, ".6g").replace("e+0", "e").replace("e+", "e")


def _at(t: float) -> str:
    return "" if t == 1 else f" at T={t:g}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _kind(o: MaskedOutput) -> str:
    if o.nan == o.rows:
        return "NaN"
    if o.zeros == o.rows:
        return "zeros"
    return "NaN or other values" if o.nan else "non-zero values"


def describe_outputs(
    outputs: dict[tuple[str, str, float], MaskedOutput], rows: int
) -> tuple[str, bool]:
    """``"naive, shifted and torch return NaN for them"`` from per-cell outputs; and whether any
    method returns something other than zeros (the finding is then a warning)."""
    by_method: dict[str, dict[str, list[str]]] = {}
    for (method, dtype, t), o in outputs.items():
        if o.rows:
            kinds = by_method.setdefault(method, {})
            kinds.setdefault(_kind(o), []).append(dtype + _at(t))
    groups: dict[str, list[str]] = {}
    for method, kinds in by_method.items():
        if len(kinds) == 1:
            groups.setdefault(next(iter(kinds)), []).append(method)
        else:
            parts = [f"{k} in {_join(where)}" for k, where in kinds.items()]
            groups.setdefault("; ".join(parts), []).append(method)
    phrases = [
        f"{_join(methods)} return{'s' if len(methods) == 1 else ''} {kind}"
        for kind, methods in groups.items()
    ]
    bad = any(k != "zeros" for kinds in by_method.values() for k in kinds)
    them = "it" if rows == 1 else "them"
    return (_join(phrases) + f" for {them}" if phrases else f"no method ran on {them}"), bad


def input_findings(
    *,
    upstream_rows: int,
    upstream_first: RowIndex | None,
    nan: int,
    posinf: int,
    masked_rows: int,
    masked_first: RowIndex | None,
    outputs: dict[tuple[str, str, float], MaskedOutput],
    became: Sequence[BecameMasked],
    sentinels: Sequence[Sentinel],
) -> list[InputFinding]:
    """Every finding about the input, most severe kinds first."""
    out: list[InputFinding] = []
    if upstream_rows:
        out.append(
            InputFinding(
                "upstream",
                "FAIL",
                f"{_n(upstream_rows, 'row')} {_verb(upstream_rows, 'holds', 'hold')} NaN or +inf "
                "before any softmax runs "
                f"({nan} NaN, {posinf} +inf; first row {_ix(upstream_first)}): no method can give "
                "them a distribution, so they are kept out of the method metrics -- fix the layer "
                "that produced the logits (run it in float32, or find it with "
                "torch.autograd.detect_anomaly)",
            )
        )
    what, bad = describe_outputs(outputs, masked_rows)
    if masked_rows:
        out.append(
            InputFinding(
                "fully_masked",
                "WARN" if bad else "INFO",
                f"{_n(masked_rows, 'fully masked row')} (every logit -inf; first row "
                f"{_ix(masked_first)}): {what}, and {'it is' if masked_rows == 1 else 'they are'} "
                "kept out of the method metrics -- use a masked softmax that returns zeros there "
                "(as "
                "torch.nn.functional.scaled_dot_product_attention does), or drop the rows",
            )
        )
    for b in became:
        if not b.rows:
            continue
        where = b.dtype if b.temperature is None else f"{b.dtype} at T={b.temperature:g}"
        cause = (
            "every finite logit rounds to -inf there"
            if b.temperature is None
            else "every finite logit is -inf there once divided by T"
        )
        what, bad = describe_outputs(
            {k: o for k, o in outputs.items() if k[1] == b.dtype and b.temperature in (None, k[2])},
            b.rows,
        )
        out.append(
            InputFinding(
                "became_fully_masked",
                "WARN" if bad else "INFO",
                f"{_n(b.rows, 'row')} {_verb(b.rows, 'becomes', 'become')} fully masked in "
                f"{where} ({cause}; first row {_ix(b.first_row)}): {what} -- mask with a value "
                f"{b.dtype} holds, such as torch.finfo(torch.{b.dtype}).min"
                + ("" if b.temperature is None else ", after dividing by T"),
                b.dtype,
                b.temperature,
            )
        )
    for s in sentinels:
        out += _sentinel_findings(s)
    return sorted(out, key=lambda f: -SEVERITIES.index(f.severity))  # stable: kinds keep order


def _name(s: Sentinel) -> str:
    text = f"mask sentinel {value_text(s.value)}"
    return text + (f" ({s.label})" if s.label else "")


def _where(pairs: Sequence[tuple[str, float]]) -> str:
    """``float16 and bfloat16 at T=100`` for (dtype, T) pairs, grouped by temperature."""
    by_t: dict[float, list[str]] = {}
    for d, t in pairs:
        by_t.setdefault(t, []).append(d)
    return "; ".join(_join(ds) + _at(t) for t, ds in by_t.items())


def _up_to(values: Sequence[int], word: str) -> str:
    n = max(values)
    return ("" if len(set(values)) == 1 else "up to ") + _n(n, word)


def _sentinel_findings(s: Sentinel) -> list[InputFinding]:
    """At most one finding per kind for one sentinel, its formats and temperatures together."""
    out: list[InputFinding] = []
    lost = [c for c in s.casts if not c.representable and c.to_neginf.elements]
    if lost:
        out.append(
            InputFinding(
                "sentinel_unrepresentable",
                "INFO",
                f"{_name(s)} is not representable in {_join([c.dtype for c in lost])} and "
                f"becomes -inf there ({_up_to([c.to_neginf.elements for c in lost], 'entry')} in "
                f"{_up_to([c.to_neginf.rows for c in lost], 'row')}): the mask still gives p = 0, "
                "but a row holding only sentinels becomes fully masked -- mask with "
                "torch.finfo(dtype).min of the dtype the softmax runs in",
                lost[0].dtype if len(lost) == 1 else None,
            )
        )
    for c in s.casts:
        if c.representable and c.to_neginf.elements:
            f = get_format(c.dtype)
            limit = f.max + 2.0 ** (f.emax - f.t)  # halfway to the next power of two: rounds to inf
            out.append(
                InputFinding(
                    "sentinel_overflow",
                    "INFO",
                    f"sentinel + score overflows to -inf in {c.dtype}: "
                    f"{_n(c.to_neginf.elements, 'entry')} near {_name(s)} "
                    f"{_verb(c.to_neginf.elements, 'is', 'are')} at or below "
                    f"-{value_text(limit)} (down to {value_text(s.min)}) in "
                    f"{_n(c.to_neginf.rows, 'row')} (first row {_ix(c.to_neginf.worst_row)}) -- "
                    f"add the mask in float32, or clamp to torch.finfo(torch.{c.dtype}).min",
                    c.dtype,
                )
            )
    cast = {c.dtype: c.to_neginf.elements for c in s.casts}
    scaled = [
        (e, e.to_neginf.elements - cast.get(e.dtype, 0))
        for e in s.effects
        if e.temperature != 1 and e.to_neginf.elements > cast.get(e.dtype, 0)
    ]
    if scaled:
        first = scaled[0][0]
        out.append(
            InputFinding(
                "sentinel_scaled_to_neginf",
                "INFO",
                f"dividing by T turns {_up_to([n for _, n in scaled], 'entry')} of {_name(s)} "
                f"into -inf in {_where([(e.dtype, e.temperature) for e, _ in scaled])} (first row "
                f"{_ix(first.to_neginf.worst_row)}) -- divide by T before masking, or in a "
                "wider format",
                first.dtype if len(scaled) == 1 else None,
                first.temperature if len(scaled) == 1 else None,
            )
        )
    weak = [e for e in s.effects if e.weak.rows]
    if weak:
        worst = max(weak, key=lambda e: e.leak.max or 0.0)
        f = get_format(worst.dtype)
        out.append(
            InputFinding(
                "sentinel_weak",
                "WARN",
                f"{_name(s)} is too weak to mask in "
                f"{_where([(e.dtype, e.temperature) for e in weak])}: "
                f"its entries keep more probability than the format's rounding error u in "
                f"{_up_to([e.weak.rows for e in weak], 'row')}, up to {worst.leak.max:.3g} "
                f"({worst.dtype}{_at(worst.temperature)}, u = {f.u:.3g}, row "
                f"{_ix(worst.leak.worst_row)}) -- mask with -inf or torch.finfo(dtype).min"
                + ("" if all(e.temperature == 1 for e in weak) else ", after dividing by T"),
                worst.dtype if len(weak) == 1 else None,
                worst.temperature if len(weak) == 1 else None,
            )
        )
    return out
