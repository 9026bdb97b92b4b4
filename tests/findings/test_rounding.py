"""Rounding x/T is the format's, stated once; the cells are judged on their own input fl(x/T)."""

from __future__ import annotations

from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import torch

import smcheck
from smcheck.config import parse_temperatures
from smcheck.report.model import Count, Verdict

LLM = Path(__file__).parents[2] / "sample_inputs" / "llm_logits.npy"


def _softmax(z: list) -> list:
    with mp.workdps(50):
        z = [mp.mpf(v) for v in z]
        s = mp.fsum(mp.e**v for v in z)
        return [mp.e**v / s for v in z]


def test_division_rounding_measured_against_mpmath() -> None:
    # bfloat16 holds 27, 26.875, 25 exactly; user code's x / 0.2 divides by 0.2 taken as float32
    # (0.20000000298...), and the quotients 135, 134.375, 125, 0, -25 round to 135, 134, 125,
    # 0, -25 (spacing 1 above 128): the gap between the top two grows from 0.62 to 1 nat
    x = [27.0, 26.875, 25.0, 0.0, -5.0]
    td = float(np.float32(0.2))
    xs = (torch.tensor(x).to(torch.bfloat16) / 0.2).tolist()
    assert xs == [135.0, 134.0, 125.0, 0.0, -25.0]
    p, q = _softmax([mp.mpf(v) / mp.mpf(td) for v in x]), _softmax(xs)
    normwise = float(max(abs(a - b) for a, b in zip(p, q, strict=True)) / max(p) * 2**8)
    dlogp = float(max(abs(mp.log(a) - mp.log(b)) for a, b in zip(p, q, strict=True)))
    assert normwise == pytest.approx(31.326089, rel=1e-6)

    s = smcheck.analyze(
        np.array([x]), methods=["torch"], dtypes=["bfloat16"], temperatures=[0.2]
    ).sources[0]
    (d,) = s.input_rounding[0].division
    assert (d.temperature, d.changed_elements, d.worst_row) == (0.2, 4, (0,))
    assert d.normwise_u == pytest.approx(normwise, rel=1e-9)
    assert d.max_abs_dlogp == pytest.approx(dlogp, rel=1e-9)
    # torch computes the softmax of its rounded input in float32 and rounds once: within 1u
    (cell,) = s.cells
    assert cell.verdict is Verdict.OK and cell.metrics.error.normwise_u < 1
    # the rounding is one WARN about the format, with its figure and the remedy
    (f,) = s.input.findings
    assert (f.kind, f.severity, f.dtype) == ("division_rounding", "WARN", "bfloat16")
    assert "31.3u" in f.message and "divide by T and take the softmax in float32" in f.message
    assert s.verdict is Verdict.WARN
    # the remedy applied: in float32 the same rounding moves p by far less than 2^12 u
    s32 = smcheck.analyze(
        np.array([x]), methods=["torch"], dtypes=["float32"], temperatures=[0.2]
    ).sources[0]
    assert s32.input.findings == [] and s32.verdict is Verdict.OK


def test_a_sweep_judges_torch_bfloat16_the_same_at_every_temperature() -> None:
    # the sweep read .WW.WW for torch bfloat16 at T = 0.16..0.35: the error was the
    # rounding of x/T, hovering at the 16u limit (32u at T = 0.195; six T over it now that x/T
    # divides as torch's x / T does, by T in float32)
    temps = parse_temperatures(["0.05:2:20"])
    s = smcheck.analyze(
        np.load(LLM), methods=["torch"], dtypes=["bfloat16"], temperatures=temps
    ).sources[0]
    assert [c.verdict for c in s.cells] == [Verdict.OK] * 20
    assert max(c.metrics.error.normwise_u for c in s.cells) < 2  # torch's own error: ~1 rounding
    over = [d for d in s.input_rounding[0].division if d.normwise_u > 16]
    assert [round(d.temperature, 3) for d in over] == [0.09, 0.16, 0.195, 0.287, 0.348, 0.514]
    assert max(d.normwise_u for d in over) == pytest.approx(32.00, abs=0.01)
    (f,) = s.input.findings  # stated once for the whole sweep
    assert f.kind == "division_rounding" and "T=0.0895, 0.16, 0.195, 0.287 ... (6 in all)" in (
        f.message
    )
    # T = 2 divides exactly (a power of two): nothing is rounded there
    assert s.input_rounding[0].division[-1].changed_elements == 0


def test_an_algorithm_that_loses_accuracy_still_warns_at_any_temperature() -> None:
    # lse-direct computes p = exp(x - logsumexp(x)) without the shift: at T = 0.75 the
    # quotients near 13333 lose about 13333u in the subtraction, over the 2^12 u limit
    x = np.array([[1e4, 1e4 - 1e-3, 0.0]])
    cells = smcheck.analyze(
        x, methods=["lse-direct", "torch"], dtypes=["float32"], temperatures=[0.75]
    ).sources[0]
    lse, tch = cells.cells
    assert lse.verdict is Verdict.WARN and lse.metrics.error.normwise_u > 2**12
    assert "normwise-error" in {f.cause for f in lse.findings}
    assert tch.verdict is Verdict.OK
    # a sequential float16 sum of 4096 equal terms stalls at 2048 whatever T (0/T = 0 exactly)
    (naive,) = (
        smcheck.analyze(
            np.zeros((1, 4096)), methods=["naive"], dtypes=["float16"], temperatures=[0.7],
            model="strict",
        )
        .sources[0]
        .cells
    )  # fmt: skip
    assert {"stall", "normwise-error"} <= {f.cause for f in naive.findings if f.severity == "WARN"}


def test_float64_and_temperature_one_measure_no_division() -> None:
    s = smcheck.analyze(
        np.array([[3.0, 1.0, 0.1]]), methods=["torch"], dtypes=["float16", "float64"],
        temperatures=[1.0, 0.3],
    ).sources[0]  # fmt: skip
    by = {r.dtype: r.division for r in s.input_rounding}
    assert [d.temperature for d in by["float16"]] == [0.3]  # T = 1 divides by nothing
    assert by["float64"] == []  # |x/T| 2^-53 in log p: not measured


def test_torch_float32_and_float64_log_probabilities_stay_ok_along_the_sweep() -> None:
    # torch's float32 log_softmax shifts every log p of a 32000-class row by its sum's error:
    # 1.5e-5 nats (252u) at T = 1.647, within u x 2^12; a limit of 4u x the deepest |log p|
    # alone read WARN at this T (and float64 at 0.758) but OK at their neighbours
    temps = [t for t in parse_temperatures(["0.05:2:20"]) if round(t, 3) in (0.758, 1.647)]
    s = smcheck.analyze(
        np.load(LLM), methods=["torch"], dtypes=["float32", "float64"], temperatures=temps,
        use="logprobs",
    ).sources[0]  # fmt: skip
    assert len(s.cells) == 4 and {c.verdict for c in s.cells} == {Verdict.OK}
    f32 = [c for c in s.cells if c.dtype == "float32" and c.temperature > 1][0]
    assert f32.metrics.log_error is not None and f32.metrics.log_error.max_abs > 1e-5


def _top_and_zeros(zeros: int, top: float = 18.0) -> np.ndarray:
    """One row: ``top``, then ``zeros`` logits of 0 (p = 1/(e^top + zeros) each)."""
    x = np.zeros((1, zeros + 1))
    x[0, 0] = top
    return x


def test_probabilities_rounding_to_zero_with_visible_mass_are_one_note_per_format() -> None:
    # the review's row: 18 and 199999 zeros in float16. Each p = 1/(e^18 + 199999) = 1.52e-8 is
    # below s/2 = 2^-25 = 2.98e-8, so 0 is its correct rounding (an exact_zero, no method's
    # fault, no verdict), but together they hold 199999/(e^18 + 199999) of the row's mass:
    # 0.0030367 by mpmath, over u = 2^-11 = 4.9e-4, what sampling from float16 p never draws
    with mp.workdps(50):
        mass = float(199999 / (mp.e**18 + 199999))
    assert mass == pytest.approx(0.0030367308952, rel=1e-11)
    s = smcheck.analyze(
        _top_and_zeros(199999), methods=["torch", "shifted"], dtypes=["float16"],
        gradients=False, use="probs",
    ).sources[0]  # fmt: skip
    for c in s.cells:  # shared by the methods: the same figures in each cell's headroom
        assert c.verdict is Verdict.OK  # torch: no finding; shifted: its log(softmax) NOTE
        assert c.metrics.exact_zero.elements == 199999
        h = c.metrics.headroom
        assert h.rounded_to_zero == Count(199999, 1, (0,))
        assert h.rounded_to_zero_mass is not None and h.rounded_to_zero_mass.worst_row == (0,)
        # a plain sum of 199999 float64 terms: within n 2^-53 of the exact mass
        assert h.rounded_to_zero_mass.max == pytest.approx(mass, rel=199999 * 2.0**-53)
    (f,) = s.input.findings  # once for the format, not once per method
    assert (f.kind, f.severity, f.dtype, f.temperature) == ("rounded_to_zero", "INFO", "float16", 1)
    assert f.message == (
        "float16 rounds to 0 the 199999 probabilities at or below 2.98e-08 (half its smallest "
        "subnormal), 0.304 % of the mass of row [0]: 0 is their correct rounding, so no method "
        "is at fault, but sampling from float16 probabilities never draws them"
    )
    assert s.verdict is Verdict.OK  # a note: no severity raised


def test_zero_mass_just_below_u_is_no_note_and_just_above_is() -> None:
    # n zeros beside 18: the mass n/(e^18 + n) passes u = 2^-11 at n = e^18/(2^11 - 1) = 32076.19
    # (below it, rounding a distribution that sums to 1 to float16 moves its mass as much)
    with mp.workdps(50):
        assert mp.e**18 / (2**11 - 1) == pytest.approx(32076.19, abs=0.01)
        below, above = (float(n / (mp.e**18 + n)) for n in (32076, 32077))
    assert below < 2.0**-11 < above
    for n, mass, notes in ((32076, below, 0), (32077, above, 1)):
        s = smcheck.analyze(
            _top_and_zeros(n), methods=["torch"], dtypes=["float16"], gradients=False
        ).sources[0]
        z = s.cells[0].metrics.headroom
        assert z.rounded_to_zero == Count(n, 1, (0,))
        assert z.rounded_to_zero_mass is not None
        assert z.rounded_to_zero_mass.max == pytest.approx(mass, rel=1e-12)
        assert [f.kind for f in s.input.findings] == ["rounded_to_zero"] * notes, n
