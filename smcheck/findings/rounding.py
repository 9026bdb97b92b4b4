"""The format findings for what rounding to a format does, never charged to a method: to x/T,
stated once per format; to the probabilities, once per format and temperature.

Dividing by T in a narrow format rounds every quotient, and a logit of size |x/T| carries an
absolute error of up to |x/T|·u: at T = 0.2 a bfloat16 logit of 27 moves by up to 0.5 nats.
The cells' references are the softmax of that rounded input (docs/design.md §3), so a method is
judged on what it does with it; what the rounding itself does is measured per format and T
(``InputRounding.division``) and becomes one finding per format here. A probability at or
below half the format's smallest subnormal has 0 as its correct rounding, whatever the method
(a cell counts its 0 as an ``exact_zero``, never a fault); where many of them hold a visible
share of a row's mass (``Headroom.rounded_to_zero_mass``), the format itself drops it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smcheck.config import Thresholds
from smcheck.dtypes import get_format, next_wider
from smcheck.findings.remedytexts import divide_in
from smcheck.report.maskmodel import InputFinding
from smcheck.report.model import DivisionRounding, Headroom, InputRounding
from smcheck.report.phrases import at_temperature, plural, row_index


def division_findings(rounding: Sequence[InputRounding], th: Thresholds) -> list[InputFinding]:
    """A WARN per format where rounding x/T alone moves p by more than the normwise limit
    2^(normwise_bits·t) u at some temperature of the run (the limit a cell's error is held to).

    One finding for the whole run, naming every temperature over the limit: the measured effect
    jumps between neighbouring T (it depends on how each quotient happens to round), so a
    per-temperature verdict would flicker along a sweep.
    """
    out = []
    for r in rounding:
        fmt = get_format(r.dtype)
        limit = 2.0 ** (th.normwise_bits * fmt.t)
        over = [d for d in r.division if (d.normwise_u or 0.0) > limit]
        if not over:
            continue
        worst = max(over, key=lambda d: d.normwise_u or 0.0)
        wider = next_wider(r.dtype)
        fix = f" -- {divide_in(wider)}" if wider else ""
        out.append(
            InputFinding(
                "division_rounding",
                "WARN",
                f"dividing by T rounds x/T to {r.dtype}, which alone moves p by up to "
                f"{worst.normwise_u:.3g}u (normwise, T={worst.temperature:.3g}, row "
                f"{row_index(worst.worst_row)}; log p by up to {worst.max_abs_dlogp:.3g} nats) "
                f"before any softmax runs, over {limit:g}u at T={_temperatures(over)}: no method "
                f"can do better on the rounded x/T{fix}",
                r.dtype,
                worst.temperature,
            )
        )
    return out


def zero_mass_findings(
    headroom: Mapping[tuple[str, float], Headroom], th: Thresholds
) -> list[InputFinding]:
    """An INFO per (format, T) where the probabilities that round to 0 in the format hold more
    of a row's exact mass than the underflow NOTE's cut, max(lost_mass, lost_mass_u·u): below
    it, rounding a distribution that sums to 1 to the format already moves it as much.

    0 is their correct rounding, so no method is blamed and no verdict changes; but a user who
    samples from the format's probabilities never draws them. ``headroom``: the headroom of
    each (format, T), which every method of it shares.
    """
    out = []
    for (dtype, t), h in headroom.items():
        fmt, zeros, mass = get_format(dtype), h.rounded_to_zero, h.rounded_to_zero_mass
        if zeros is None or mass is None or (mass.max or 0.0) <= th.lost_mass_limit(fmt.u):
            continue
        share = f"{100 * (mass.max or 0.0):.3g} % of the mass of row {row_index(mass.worst_row)}"
        where = "," if zeros.rows == 1 else f" in {plural(zeros.rows, 'row')}, up to"
        out.append(
            InputFinding(
                "rounded_to_zero",
                "INFO",
                f"{dtype}{at_temperature(t)} rounds to 0 the "
                f"{plural(zeros.elements, 'probability')} at or below "
                f"{fmt.smallest_subnormal / 2:.3g} (half its smallest subnormal){where} {share}: "
                "0 is their correct rounding, so no method is at fault, but sampling from "
                f"{dtype} probabilities never draws them",
                dtype,
                t,
            )
        )
    return out


def _temperatures(over: Sequence[DivisionRounding]) -> str:
    """``0.16, 0.195, 0.287`` (at most five, then ``... (8 in all)``)."""
    ts = [f"{d.temperature:.3g}" for d in sorted(over, key=lambda d: d.temperature)]
    return ", ".join(ts) if len(ts) <= 5 else ", ".join(ts[:4]) + f" ... ({len(ts)} in all)"
