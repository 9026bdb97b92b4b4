"""Verdicts judge what the user computes (issue 13: cases 2, 3, 4 and 7, and a healthy corpus)."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import smcheck
from smcheck.api import generate
from smcheck.cli import cli
from smcheck.config import Thresholds
from smcheck.dtypes import get_format
from smcheck.findings.conditiontypes import Hit
from smcheck.findings.inputconditions import INPUT_METRICS
from smcheck.findings.remedytexts import SHIFT_BEFORE_CAST, TORCH_SUM
from smcheck.findings.verdicts import judge
from smcheck.report.grouping import group_findings
from smcheck.report.model import Count, Extreme, Verdict
from smcheck.report.phrases import overflow_limit
from tests.conftest import cell, sample_input


def _attention(mask: float) -> np.ndarray:
    """float32 scores, rows padded with ``mask`` and the last row masked entirely."""
    x = np.random.default_rng(13).normal(0, 2, (4, 6)).astype(np.float32)
    x[1, 3:] = x[2, 4:] = mask
    x[3, :] = mask
    return x


def test_case2_a_row_minus_1e9_masks_fully_fails_torch_float16() -> None:
    r = smcheck.analyze(_attention(-1e9), dtypes=["float16", "float32"], methods=["torch"])
    fp16, fp32 = cell(r, "torch", "float16"), cell(r, "torch", "float32")
    assert fp16.verdict is Verdict.FAIL and fp32.verdict is Verdict.OK
    (f,) = [f for f in fp16.findings if f.severity == "FAIL"]
    assert f.cause == "masked-row-nan"
    assert f.message.startswith(
        "-1e9 rounds to -inf in float16; the output is NaN for 1 row entirely -inf there (row [3])"
    )
    assert f.remedy == (
        "mask with torch.finfo(torch.float16).min, a value float16 holds, or handle fully masked "
        "rows, or compute the softmax in float32"
    )
    # NaN from finite logits is the cell's NaN, so --fail-on nan sees it
    assert (fp16.metrics.nan.rows, fp16.metrics.nan.causes) == (1, {"fully masked row": 6})
    assert r.verdict is Verdict.FAIL


def test_an_overflowing_sum_of_finite_exps_is_named_as_the_sum_not_as_large_logits() -> None:
    # float16: e^10 = 22026 is finite; three of them sum past 65504 (row 0); 12 > 11.09 (row 1)
    x = np.array([[10.0, 10.0, 10.0], [12.0, 0.0, 0.0]])
    r = smcheck.analyze(x, dtypes=["float16"], methods=["naive"], gradients=False)
    c = cell(r, "naive", "float16")
    m = c.metrics
    assert (m.overflow.elements, m.overflow.rows) == (2, 2)
    assert (m.exp_overflow.elements, m.exp_overflow.rows, m.exp_overflow.worst_row) == (1, 1, (1,))
    assert (m.sum_overflow.elements, m.sum_overflow.rows, m.sum_overflow.worst_row) == (1, 1, (0,))
    by = {f.cause: f for f in c.findings}
    assert (
        by["exp-overflow"].message
        == "exp overflows for logits above 11.0902 in 1/2 rows (1 element)"
    )
    assert (
        by["sum-overflow"].message
        == "the sum of exp overflows in 1/2 rows whose every exp is finite"
    )
    assert by["sum-overflow"].severity == "FAIL" and by["sum-overflow"].remedy == TORCH_SUM
    alone = smcheck.analyze(x[:1], dtypes=["float16"], methods=["naive"], gradients=False)
    causes = [f.cause for f in cell(alone, "naive", "float16").findings if f.severity == "FAIL"]
    assert "exp-overflow" not in causes and "sum-overflow" in causes


def test_a_row_too_long_for_the_format_overflows_the_shifted_sum_and_is_sent_to_torch() -> None:
    # 70000 terms of exp(0) = 1 sum past float16's 65504 with or without the shift: shifting
    # cannot help; torch's kernel, which never rounds the sum to float16, does (its probabilities:
    # under use=loss its log_softmax rounds the sum to float16, and torch is not advised there)
    x = np.zeros((1, 70000))
    methods = ["naive", "shifted", "torch"]
    r = smcheck.analyze(x, dtypes=["float16"], methods=methods, use="probs")
    for method in ("naive", "shifted"):
        c = cell(r, method, "float16")
        assert (c.metrics.sum_overflow.rows, c.metrics.exp_overflow.elements) == (1, 0)
        (f,) = [f for f in c.findings if f.cause == "sum-overflow"]
        assert f.remedy == TORCH_SUM and f.fix["method"] == "torch", (method, f.remedy, f.fix)
    assert cell(r, "torch", "float16").metrics.overflow.elements == 0


def test_a_row_too_long_for_the_format_overflows_every_method_that_sums_it_as_shifted() -> None:
    # logdomain (z = d - log(inf) = -inf, every p 0) and lse-direct (torch.logsumexp rounds its
    # sum to float16: +inf) reported the overflowed sum as 70000 underflows (lost mass 1), a
    # vacuous bound and a normwise error, with overflow 0: they take the same sum as shifted
    x = np.zeros((1, 70000))
    methods = ["shifted", "logdomain", "lse-direct", "online"]
    r = smcheck.analyze(x, dtypes=["float16"], methods=methods, use="probs")

    def reading(method: str) -> tuple[object, ...]:
        c = cell(r, method, "float16")
        m = c.metrics
        counts = (m.overflow, m.sum_overflow, m.exp_overflow, m.nan, m.underflow, m.exact_zero)
        logs = (
            m.log_of_zero,
            m.log_nonfinite,
            m.lost_mass,
            m.error.max_ulp,
            c.bounds.rows_tested,
            c.bounds.vacuous,
        )
        return (*counts, *logs, [(f.cause, f.severity) for f in c.findings], c.verdict)

    assert reading("shifted")[-2:] == ([("sum-overflow", "FAIL")], Verdict.FAIL)
    for method in methods[1:]:
        assert reading(method) == reading("shifted"), method


def test_a_masked_row_nan_line_grouped_across_methods_is_true_for_each_method() -> None:
    # "{method} returns NaN" named only the worst cell's method on a line grouping naive,
    # shifted and torch: every one of them returns NaN for the row -1e9 masks in float16
    r = smcheck.analyze(_attention(-1e9), dtypes=["float16"], methods=["naive", "shifted", "torch"])
    (g,) = [g for g in group_findings(r.sources[0]) if g.cause == "masked-row-nan"]
    assert g.where == "naive, shifted, torch × float16"
    assert g.figure == (
        "-1e9 rounds to -inf in float16; the output is NaN for 1 row entirely -inf there (row [3])"
    )


def test_case2_remedy_applied_clears_it() -> None:
    fixed = _attention(float(np.finfo(np.float16).min))
    r = smcheck.analyze(fixed, dtypes=["float16"], methods=["torch"])
    assert cell(r, "torch", "float16").verdict is Verdict.OK


def test_a_row_fully_masked_in_the_input_is_the_inputs_finding_not_every_cells() -> None:
    x = _attention(-np.inf)
    r = smcheck.analyze(x, dtypes=["float16", "float64"], methods=["shifted", "torch"])
    # every method returns NaN for it, in every format: one input finding, no cell FAIL
    assert all(c.verdict is Verdict.OK for c in r.cells)
    assert all(c.fully_masked_output.nan == 1 for c in r.cells)
    (f,) = [f for f in r.sources[0].input.findings if f.kind == "fully_masked"]
    assert f.severity == "WARN" and r.verdict is Verdict.WARN


def test_case3_attention_inputs_judge_the_probabilities_without_gradients() -> None:
    r = smcheck.analyze(sample_input("masked_rows.npy"), dtypes=["float16", "float64"])
    s = r.sources[0]
    assert s.use == "probs" and s.use_reason.startswith("auto: -inf masks")
    assert all(c.gradient is None for c in r.cells)
    assert [c.verdict for c in r.cells] == [Verdict.OK] * len(r.cells)


def test_auto_use_reads_known_sentinels_and_the_explicit_use_wins() -> None:
    x = np.array([[3.0, 1.0, -1e9, -1e9], [0.5, 2.0, 1.0, -1e9]])
    probs = smcheck.analyze(x, dtypes=["float32"], methods=["torch"]).sources[0]
    assert (probs.use, probs.use_reason) == (
        "probs",
        "auto: mask sentinels in the input",
    )
    plain = smcheck.analyze(x[:, :2], dtypes=["float32"], methods=["torch"])
    assert plain.sources[0].use == "loss" and plain.cells[0].gradient is not None
    given = smcheck.analyze(x, dtypes=["float32"], methods=["torch"], use="loss")
    assert given.sources[0].use_reason == "given" and given.cells[0].gradient is not None
    off = smcheck.analyze(x[:, :2], dtypes=["float32"], methods=["torch"], gradients=False)
    assert off.cells[0].gradient is None
    # a value the user names a mask is one: -5000 is no known sentinel, and a logit without it
    mine = np.array([[-5000.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    named = smcheck.analyze(mine, dtypes=["float32"], methods=["torch"], mask_value=-5000)
    assert named.sources[0].use == "probs" and named.cells[0].gradient is None
    assert smcheck.analyze(mine, dtypes=["float32"], methods=["torch"]).sources[0].use == "loss"
    # under softmin the source masks with +5000, which the softmax of -x sees as -5000
    named = smcheck.analyze(
        -mine, dtypes=["float32"], methods=["torch"], mask_value=5000, softmin=True
    )
    assert named.sources[0].use == "probs"


def test_a_cause_the_use_does_not_judge_is_a_note() -> None:
    x = [[-999.0, 1.0, 2.0, 5.0, 6.0]]  # shifted: log(p) = -inf where the exact -1005 is finite
    by_use = {
        use: cell(
            smcheck.analyze(x, dtypes=["float64"], methods=["shifted"], use=use),
            "shifted",
            "float64",
        )
        for use in ("probs", "logprobs")
    }
    assert by_use["probs"].verdict is Verdict.OK
    assert [(f.cause, f.severity) for f in by_use["probs"].findings] == [("log-of-zero", "NOTE")]
    assert by_use["logprobs"].verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("dtype", "lead"), [("float32", 17.5), ("float32", 30.0), ("float64", 38.0)]
)
def test_case4_saturated_correctly_rounded_rows_are_notes_under_loss(
    dtype: str, lead: float
) -> None:
    x = np.zeros((3, 8))
    x[:, 0] = lead
    x[0, 2:] = -np.inf  # a row of two classes: 1 - p_max = e^-lead
    r = smcheck.analyze(x, dtypes=[dtype], methods=["torch"], use="loss")
    c = cell(r, "torch", dtype)
    assert c.gradient is not None and c.gradient.saturated_rows >= 1
    assert c.verdict is Verdict.OK
    assert {f.cause: f.severity for f in c.findings}["saturation"] == "NOTE"
    # what a dead element loses is within a few u of the gradient's scale 1
    assert (c.gradient.dead_max or 0.0) <= Thresholds().gradient_abs_u * get_format(dtype).u
    # the threshold decides: judged below u/2, the same rows WARN
    strict = Thresholds(gradient_abs_u=0.25)
    r = smcheck.analyze(x, dtypes=[dtype], methods=["torch"], use="loss", thresholds=strict)
    assert cell(r, "torch", dtype).verdict is Verdict.WARN


def test_a_dead_gradient_warn_gives_its_worst_loss_not_every_elements() -> None:
    # mnist naive float16: 40 dead elements, of which 2 lose more than 4u = 0.00195; it said
    # "(the gradient loses up to 0.00315, over 0.00195, there)", as if every one of them did
    c = cell(
        smcheck.analyze([[3.0, 0.0, -1.0]], dtypes=["float16"], methods=["naive"]),
        "naive",
        "float16",
    )
    assert c.gradient is not None
    g = dataclasses.replace(c.gradient, dead=Count(40, 40, (0,)), dead_max=0.00315)
    _, found = judge("naive", get_format("float16"), 1.0, c.metrics, Thresholds(), gradient=g)
    (f,) = [f for f in found if f.cause == "dead-gradient"]
    assert f.severity == "WARN"
    assert f.message.endswith(
        "(the gradient loses up to 0.00315 in the worst of them, over the 4u = 0.00195 that "
        "matters)"
    )


def test_a_saturation_warn_says_what_a_row_can_lose() -> None:
    # a saturated row loses 1 - p_max <= u/2, a bound, not what each row loses
    x = np.zeros((1, 8))
    x[0, 0] = 30.0
    strict = Thresholds(gradient_abs_u=0.25)
    r = smcheck.analyze(x, dtypes=["float32"], methods=["torch"], use="loss", thresholds=strict)
    (f,) = [f for f in cell(r, "torch", "float32").findings if f.cause == "saturation"]
    assert f.severity == "WARN"
    assert f.message.endswith(
        "(saturation can cost the gradient up to 1 - p_max <= u/2 = 2.98e-08 at the top class "
        "there, over the 0.25u = 1.49e-08 that matters)"
    )


@pytest.mark.parametrize("use", ["probs", "logprobs", "loss"])
def test_the_saturation_note_speaks_of_the_gradient_only_where_one_is_judged(use: str) -> None:
    # float16 [0, -20, -12]: 1 - p_max = 6.15e-6 <= u/2, p_max rounds to 1; under probs and
    # logprobs (no gradient taken by default) the NOTE said "the gradient loses at most ...",
    # of a gradient nobody takes there; nor does it say the other probabilities keep their
    # values (in [0, -20, -21] both round to 0)
    r = smcheck.analyze([[0.0, -20.0, -12.0]], dtypes=["float16"], methods=["torch"], use=use)
    (f,) = [f for f in cell(r, "torch", "float16").findings if f.cause == "saturation"]
    assert f.severity == "NOTE"
    if use != "loss":
        assert "gradient" not in f.message
        assert f.message.endswith(
            "(1 - p_max <= u/2 = 0.000244, within p_max's rounding: it reads as certain)"
        )
    else:
        assert f.message.endswith(
            "(saturation costs the gradient at most 1 - p_max <= u/2 = 0.000244 at the top class "
            "there, under the 4u = 0.00195 that matters)"
        )


def test_the_saturation_note_states_the_gradient_bound_only_for_rows_that_keep_it() -> None:
    # review 40c: naive float16 [20, 0, 0, 0, 0] said both "5 gradient elements are NaN" and
    # "the gradient loses at most 1 - p_max <= u/2 = 0.000244" of the same row. naive float32,
    # to these targets (torch autograd on the same formulas): row 0 [60.5, 0, 0, 0, 1] to
    # class 1 gives [0, -1, 0, 0, 0] against [1, -1, 5.3e-27, ...] (s^2 overflows in the
    # division's backward: the dead-gradient finding's loss, not saturation's), row 1
    # [30, 0, 0, 0, 0] to class 0 keeps it, row 2 [100, 0, 0, 0, 0] is NaN (exp overflows)
    x = np.array([[60.5, 0, 0, 0, 1], [30.0, 0, 0, 0, 0], [100.0, 0, 0, 0, 0]])
    r = smcheck.analyze(
        x, targets=np.array([1, 0, 0]), dtypes=["float32"], methods=["naive"], use="loss"
    )
    found = cell(r, "naive", "float32").findings
    (f,) = [f for f in found if f.cause == "saturation"]
    assert f.severity == "NOTE"
    assert f.message.endswith(
        "in 3/3 rows: stored in float32 it reads 1, and 1 - p_max is lost there (saturation "
        "costs the gradient at most 1 - p_max <= u/2 = 2.98e-08 at the top class in 2 rows, "
        "under the 4u = 2.38e-07 that matters; the gradient is NaN in 1 row)"
    )
    assert [f.severity for f in found if f.cause == "dead-gradient"] == ["WARN"]
    # the origin keeps a grouped line from joining cells whose gradients are finite
    assert f.why == "NaN gradient"


def test_a_saturated_row_whose_gradient_is_nan_gets_no_bound() -> None:
    # review 40c: NaN beside "loses at most u/2"
    r = smcheck.analyze([[20.0, 0, 0, 0, 0]], dtypes=["float16"], methods=["naive"], use="loss")
    (f,) = [f for f in cell(r, "naive", "float16").findings if f.cause == "saturation"]
    assert f.message.endswith("(the gradient is NaN there)")
    assert "at most" not in f.message


def test_saturation_claims_only_what_p_max_rounding_to_1_costs_the_gradient() -> None:
    # review: naive × bfloat16 on eval_outputs.pt said "loses more than u/2 = 0.00195 in 4 rows,
    # up to 0.00851" of saturation. Row 8 (target 6, argmax 7): exact p_max = 0.9993049, so p_max
    # read as 1 moves g[7] by 1 - p_max = 0.000695; naive's bfloat16 autograd returns 1.0078125
    # there, its own backward rounding (torch, by hand). The NOTE states the bound of
    # saturation's share for every finite row, and the rest is no part of it
    data = torch.load(sample_input("eval_outputs.pt"))
    x, t = data["logits"].numpy(), data["targets"].numpy()
    p = torch.softmax(torch.from_numpy(x[8]).double(), -1)
    assert int(p.argmax()) == 7 and 1 - float(p.max()) < 0.000696
    r = smcheck.analyze(x, targets=t, dtypes=["bfloat16"], methods=["naive"], use="loss")
    c = cell(r, "naive", "bfloat16")
    assert c.gradient is not None and c.gradient.saturated_lossy_rows == 4  # the method's error
    (f,) = [f for f in c.findings if f.cause == "saturation"]
    assert f.message.endswith(
        "in 5/32 rows: stored in bfloat16 it reads 1, and 1 - p_max is lost there (saturation "
        "costs the gradient at most 1 - p_max <= u/2 = 0.00195 at the top class there, under "
        "the 4u = 0.0156 that matters)"
    )
    assert "more than" not in f.message and f.why == ""


def test_a_gradient_note_under_another_use_says_only_use_loss_judges_it() -> None:
    # review 40c: --gradients on a masked input (auto use: probs) gave NaN gradients as bare
    # NOTEs beside OK verdicts; the NOTE now says which use judges them, the verdict stays OK
    x = [[0.0, 1.0, -np.inf, 3.0]]
    r = smcheck.analyze(x, dtypes=["float32"], methods=["naive"], gradients=True)
    c = cell(r, "naive", "float32")
    assert r.sources[0].use == "probs" and c.verdict is Verdict.OK
    (f,) = [f for f in c.findings if f.cause == "gradient-nan"]
    assert f.severity == "NOTE"
    assert f.message.endswith("; only --use loss judges it (the use here is probs)")
    # a NOTE by size says nothing of the use: under loss it is the FAIL it was
    loss = cell(
        smcheck.analyze(x, dtypes=["float32"], methods=["naive"], use="loss"), "naive", "float32"
    )
    (g,) = [f for f in loss.findings if f.cause == "gradient-nan"]
    assert g.severity == "FAIL" and "--use" not in g.message


def test_case4_underflow_losing_less_than_u_is_a_note() -> None:
    c = cell(
        smcheck.analyze([[0.0, 1.0]], dtypes=["float32"], methods=["torch"]), "torch", "float32"
    )
    f32 = get_format("float32")
    m = dataclasses.replace(
        c.metrics, underflow=Count(1, 1, (0,)), lost_mass=Extreme(1.5e-40, (0,))
    )
    verdict, found = judge("torch", f32, 1.0, m, Thresholds())
    assert verdict is Verdict.OK and [f.severity for f in found] == ["NOTE"]
    m = dataclasses.replace(m, lost_mass=Extreme(2 * f32.u, (0,)))
    assert judge("torch", f32, 1.0, m, Thresholds())[0] is Verdict.WARN
    assert judge("torch", f32, 1.0, m, Thresholds(lost_mass_u=4))[0] is Verdict.OK


def test_underflow_agrees_with_its_count_of_probabilities() -> None:
    # "1 probability representable in float16 underflow to 0"
    c = cell(
        smcheck.analyze([[0.0, 1.0]], dtypes=["float32"], methods=["torch"]), "torch", "float32"
    )
    f32 = get_format("float32")
    m = dataclasses.replace(c.metrics, underflow=Count(1, 1, (0,)), lost_mass=Extreme(1e-40, (0,)))
    (one,) = judge("torch", f32, 1.0, m, Thresholds())[1]
    assert one.message.startswith("1 probability representable in float32 underflows to 0 in")
    m = dataclasses.replace(m, underflow=Count(2, 1, (0,)))
    (two,) = judge("torch", f32, 1.0, m, Thresholds())[1]
    assert two.message.startswith("2 probabilities representable in float32 underflow to 0 in")


def test_torch_float16_on_3e6_equal_logits_is_correctly_rounded_and_no_normwise_error() -> None:
    # it returned WARN "normwise error 149u exceeds 45.3u": torch's p̂ = 6·2^-24 = 3.5763e-7 is
    # the float16 nearest p = 1/3e6, a subnormal 0.408 of the spacing 2^-24 away, 149u of p;
    # below float16's smallest normal 2^-14 the spacing is fixed and correct rounding leaves up
    # to 2^-25 = 2^-14·u, which the normwise error is now measured against: 2 × 0.408 u
    r = smcheck.analyze(
        "gen:constant:shape=1x3000000",
        dtypes=["float16"],
        methods=["torch"],
        use="probs",
        memory_budget=800 << 20,
    )
    c = cell(r, "torch", "float16")
    ulps = 6 - 2**24 / 3e6
    assert c.metrics.error.max_ulp == pytest.approx(ulps, rel=1e-9)
    assert c.metrics.error.normwise_u == pytest.approx(2 * ulps, rel=1e-9)
    assert "normwise-error" not in {f.cause for f in c.findings}
    assert c.verdict is Verdict.OK


_SUBNORMAL_ROW = np.zeros((1, 3 << 14))
"""3·2^14 equal logits: p = 2^-14/3, a float16 subnormal 341⅓ spacings 2^-24 above 0, correctly
rounded to 341·2^-24 (1/3 of a spacing off: 2u of p, 2/3 u of float16's smallest normal)."""


@pytest.mark.parametrize("method", ["naive", "shifted", "torch"])
def test_a_correctly_rounded_row_of_subnormal_probabilities_is_within_1u(method: str) -> None:
    # exp(0) = 1, the sum 49152 = 3·2^14 is exact in float16, one rounded division: correctly
    # rounded, so within 1u even where no bit may be lost (normwise_bits = 0: limit 2^0 u)
    r = smcheck.analyze(
        _SUBNORMAL_ROW,
        dtypes=["float16"],
        methods=[method],
        use="probs",
        thresholds=Thresholds(normwise_bits=0.0),
    )
    c = cell(r, method, "float16")
    assert c.metrics.error.max_ulp == pytest.approx(1 / 3, rel=1e-12)
    assert c.metrics.error.normwise_u == pytest.approx(2 / 3, rel=1e-12)
    assert "normwise-error" not in {f.cause for f in c.findings}


def _off_by_40_spacings(x):  # type: ignore[no-untyped-def]
    """torch's softmax plus 40 subnormal spacings of float16 (exact in float16 there)."""
    import torch

    from smcheck.methods.framework import TorchResult

    p = torch.softmax(x, -1) + 40 * 2.0**-24
    return TorchResult(p, torch.log(p))


def test_a_method_inaccurate_in_the_subnormal_range_is_still_a_normwise_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smcheck.methods import METHODS, SoftmaxMethod

    monkeypatch.setitem(METHODS, "off", SoftmaxMethod("off", "test", "log(p)", _off_by_40_spacings))
    r = smcheck.analyze(_SUBNORMAL_ROW, dtypes=["float16"], methods=["off"], use="probs")
    c = cell(r, "off", "float16")
    # p̂ = 381·2^-24, p = 341⅓·2^-24: 39⅔ spacings, 2·39⅔ = 79⅓ u > 2^5.5 u = 45.3u
    assert c.metrics.error.max_ulp == pytest.approx(119 / 3, rel=1e-12)
    assert c.metrics.error.normwise_u == pytest.approx(238 / 3, rel=1e-12)
    (f,) = [f for f in c.findings if f.cause == "normwise-error"]
    assert f.severity == "WARN" and f.message.startswith("normwise error 79.3u exceeds 45.3u")
    assert c.verdict is Verdict.WARN


def test_case4_bfloat16_verdicts_do_not_flip_along_a_temperature_sweep() -> None:
    x = np.random.default_rng(4).normal(0, 4, (16, 10))
    x[:, 0] += 8.0  # confident rows: saturation comes and goes with T
    r = smcheck.analyze(
        x,
        dtypes=["bfloat16"],
        methods=["torch"],
        temperatures=np.geomspace(0.25, 4, 9),
        critical=False,
    )
    assert {c.verdict for c in r.cells} == {Verdict.OK}


def test_case4_hypothetical_comparisons_never_set_the_overall_verdict() -> None:
    x = [[1.0, 2.0, 3.0, 12.0]]
    r = smcheck.analyze(x, dtypes=["float16"])  # the default methods: torch and comparisons
    naive = cell(r, "naive", "float16")
    assert naive.verdict is Verdict.FAIL and naive.hypothetical
    assert not cell(r, "torch", "float16").hypothetical and r.verdict is Verdict.OK
    named = smcheck.analyze(x, dtypes=["float16"], methods=["naive", "torch"])
    assert not cell(named, "naive", "float16").hypothetical and named.verdict is Verdict.FAIL


def test_case7_every_reason_is_kept_with_the_infinite_loss() -> None:
    src = str(sample_input("eval_outputs.pt")) + ":logits"
    targets = str(sample_input("eval_outputs.pt")) + ":targets"
    r = smcheck.analyze(src, targets=targets, dtypes=["float16"], methods=["shifted"])
    c = cell(r, "shifted", "float16")
    causes = [f.cause for f in c.findings]
    assert "loss-inf" in causes and causes[0] != "loss-inf"
    assert len(c.reasons) == len(c.findings)
    assert any("cross-entropy loss is infinite" in s for s in c.reasons)


def test_healthy_corpus_gives_torch_no_warning_in_float32_and_float64() -> None:
    rng = np.random.default_rng(30)
    classifier = rng.normal(0, 2, (32, 10))
    classifier[np.arange(32), rng.integers(0, 10, 32)] += np.linspace(0, 30, 32)  # leads to 30
    llm = generate("llm", shape="2x32000", seed=1)
    causal = rng.normal(0, 3, (8, 8)).astype(np.float32)
    neginf = np.where(np.tril(np.ones((8, 8), bool)), causal, -np.inf)
    finfo = np.where(np.tril(np.ones((8, 8), bool)), causal, np.finfo(np.float32).min)
    for x in (classifier, llm, neginf, finfo):
        r = smcheck.analyze(x, dtypes=["float32", "float64"], methods=["torch"])
        assert r.verdict is Verdict.OK, [c.reasons for c in r.cells]


def test_log_error_of_torch_float16_log_softmax_at_a_near_one_top_class_is_a_note() -> None:
    # exact log p_top = -log1p(e^-8.59375) = -1.8524e-4; torch float16 log_softmax returns 0:
    # 1554 ulps of log p, but 1.85e-4 nats, below u = 2^-11 (what rounding p to float16 costs
    # log p) and far below u x max(2^5.5, 4 x the deepest |log p| 8.5940): a NOTE under logprobs
    x = [[0.0, -8.59375]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["torch"], use="logprobs")
    c = cell(r, "torch", "float16")
    le = c.metrics.log_error
    top = -np.log1p(np.exp(-8.59375))
    assert le is not None and le.max_abs == pytest.approx(-top, rel=1e-9)
    assert c.verdict is Verdict.OK
    (f,) = [f for f in c.findings if f.cause == "log-error"]
    assert f.severity == "NOTE" and "1554 ulp" in f.message
    limit = 2.0**-11 * max(2**5.5, 4 * (8.59375 - top))
    assert f"within {limit:.3g} nats = 45.3u, half the significand" in f.message


def test_log_error_of_a_subnormal_probability_warns_under_logprobs_only() -> None:
    # naive float16, each operation rounded to float16: exp(-16.5) = 6.8e-8 rounds to the
    # subnormal 2^-24, exp(-3) to 0.049774, the sum to 1.0498; 2^-24 / 1.0498 rounds back to
    # 2^-24 and its log to -16.640625, against the exact -16.548587: off by 0.092 nats, over
    # u x max(2^5.5, 4 x 16.55) = 0.0323 nats
    x = [[0.0, -16.5, -3.0]]
    exact = -16.5 - np.log1p(np.exp(-3.0) + np.exp(-16.5))
    by_use = {
        use: cell(smcheck.analyze(x, dtypes=["float16"], methods=["naive"], use=use), "naive",
                  "float16")
        for use in ("probs", "logprobs")
    }  # fmt: skip
    le = by_use["logprobs"].metrics.log_error
    h = np.float16
    total = h(h(1.0) + h(np.exp(-3.0)) + h(2.0**-24))
    log_hat = h(np.log(np.float64(h(h(2.0**-24) / total))))
    assert (float(total), float(log_hat)) == (1.0498046875, -16.640625)
    assert le is not None and le.max_abs == pytest.approx(abs(float(log_hat) - exact), rel=1e-9)
    assert by_use["logprobs"].verdict is Verdict.WARN
    assert "log-error" in {f.cause for f in by_use["logprobs"].findings if f.severity == "WARN"}
    assert by_use["probs"].verdict is Verdict.OK  # the log-probabilities are not judged there
    (f,) = [f for f in by_use["logprobs"].findings if f.cause == "log-error"]
    assert f.remedy.startswith("use log_softmax")


def test_gradient_nan_says_at_a_mask_only_for_inputs_with_masks() -> None:
    plain = smcheck.analyze([[0.0, -20.0, 1.0]], dtypes=["float16"], methods=["shifted"])
    masked = smcheck.analyze([[0.0, -np.inf, 1.0]], dtypes=["float16"], methods=["shifted"],
                             use="loss")  # fmt: skip
    messages = {
        name: [f.message for f in cell(r, "shifted", "float16").findings
               if f.cause == "gradient-nan"]
        for name, r in (("plain", plain), ("masked", masked))
    }  # fmt: skip
    assert messages["plain"] and "(log(p) at p = 0: the backward multiplies" in messages["plain"][0]
    assert "mask" not in messages["plain"][0]
    assert messages["masked"] and "(log(p) at p = 0, at a mask too: " in messages["masked"][0]


def test_gradient_nan_at_a_zero_p_says_0_times_inf_spread_to_the_row_by_the_row_sum() -> None:
    # it said "1/p = inf, times 0 in the softmax backward": the log(p) route's NaN is made where
    # log's backward takes the non-target entry's upstream 0 times 1/0, and the division's
    # backward spreads it through the row sum to every element of the row
    r = smcheck.analyze([[0.0, -20.0, 1.0]], dtypes=["float16"], methods=["shifted"])
    c = cell(r, "shifted", "float16")
    assert c.gradient is not None and (c.gradient.nan.elements, c.gradient.nan_zero_rows) == (3, 1)
    (msg,) = [f.message for f in c.findings if f.cause == "gradient-nan"]
    assert msg == (
        "3 gradient elements are NaN in 1/1 row (log(p) at p = 0: the backward multiplies its "
        "1/p = inf by 0, giving NaN, which the row sum spreads to the row)"
    )
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.0, -20.0, 1.0], dtype=torch.float16, requires_grad=True)
    e = torch.exp(x - x.max())
    p = e / e.sum()
    p.retain_grad()
    (-torch.log(p)[2]).backward()
    assert p.grad is not None and p.grad.isnan().tolist() == [False, True, False]
    assert x.grad is not None and x.grad.isnan().all()


def test_a_log_p_beyond_the_format_is_minus_inf_correctly_rounded_not_log_of_zero() -> None:
    # float16 holds no -1.2e5: log_softmax's -inf is its correct rounding (-65520 and below)
    r = smcheck.analyze([[60000.0, -60000.0]], dtypes=["float16"], methods=["torch"])
    c = cell(r, "torch", "float16")
    assert c.metrics.log_nonfinite.elements == 1 and c.metrics.log_of_zero.elements == 0
    assert "log-of-zero" not in {f.cause for f in c.findings}


def test_nan_gradient_causes_are_counted_by_rows() -> None:
    # row 0 overflows naive float16 (its target's p is NaN: a NaN loss); row 1's target
    # p = e^-21 rounds to 0 (log(p) at p = 0); row 2's exps are subnormal and their sum squared
    # underflows in the backward (a finite loss, no zero p): each row one cause, counted
    x = [[12.0, 1.0, 0.0], [0.0, -20.0, 1.0], [-16.0, -16.4, -16.2]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["naive"], targets=[0, 1, 0])
    g = cell(r, "naive", "float16").gradient
    assert g is not None and (g.nan.rows, g.nan_loss_rows, g.nan_zero_rows) == (3, 1, 1)
    (msg,) = [f.message for f in cell(r, "naive", "float16").findings if f.cause == "gradient-nan"]
    assert msg.endswith(
        "(the loss is NaN in 1 row; log(p) at p = 0 in 1 row; an inf or 0/0 inside the backward "
        "pass in 1 row)"
    )


def test_nan_findings_name_their_origin_in_why_so_reports_group_only_equal_origins() -> None:
    # row 0 overflows naive float16 (a NaN loss); row 1's target p = e^-21 rounds to 0 for
    # naive and shifted (log(p) at p = 0): the two cells' NaN gradients differ in origin
    x = [[12.0, 1.0, 0.0], [0.0, -20.0, 1.0]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["naive", "shifted"], targets=[0, 1])
    why = {(c.method, f.cause): f.why for c in r.sources[0].cells for f in c.findings if f.why}
    assert why == {
        ("naive", "probability-nan"): "inf/inf",
        ("naive", "log-of-zero"): "log(softmax)",
        ("naive", "gradient-nan"): "the loss is NaN; log(p) at p = 0",
        # row 0 saturates (1 - p_max = 2.3e-5 <= u/2): naive's NaN gradient keeps no bound there
        ("naive", "saturation"): "NaN gradient",
        ("shifted", "log-of-zero"): "log(softmax)",
        ("shifted", "gradient-nan"): "log(p) at p = 0",
    }


def test_a_logit_the_cast_turns_into_plus_inf_fails_every_cell_of_that_format() -> None:
    # 1e5 is beyond float16 (65520 and up round to +inf): no softmax of its row is finite there;
    # -7e4 becomes -inf too, but that is a mask (p = 0) in a row that keeps finite logits
    x = [[1e5, 0.0, 1.0], [-7e4, 1.0, 2.0], [65519.0, 0.0, 1.0], [3.0, 1e5, 1e5]]
    r = smcheck.analyze(x, dtypes=["float16", "float32"], methods=["shifted", "torch"])
    for method in ("shifted", "torch"):
        c16, c32 = cell(r, method, "float16"), cell(r, method, "float32")
        (f,) = [f for f in c16.findings if f.cause == "cast-overflow"]
        assert c16.verdict is Verdict.FAIL and f.severity == "FAIL"
        assert f.message.startswith("3 logits at or above 65520 become +inf in float16, in 2 rows")
        assert "(worst row [3])" in f.message  # the row with the most
        assert c16.metrics.rows_checked == 2  # rows 1 and 2 (65519 rounds to 65504)
        assert "cast-overflow" not in {g.cause for g in c32.findings}
        assert c32.metrics.rows_checked == 4


def test_under_softmin_cast_and_exp_messages_bound_minus_x_not_the_logits() -> None:
    # softmin is softmax(-x): "exp overflows for logits above 11.09" was false there (it is -x
    # above 11.09, logits below -11.09), as was "logits at or above 65520 become +inf"
    x = [[-12.0, 0.0, 1.0], [-1e5, 0.0, 1.0]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["naive"], softmin=True, gradients=False)
    by = {f.cause: f.message for f in cell(r, "naive", "float16").findings}
    assert by["exp-overflow"] == (
        "exp overflows for -x above 11.0902 (logits below -11.0902) in 1/1 row (1 element)"
    )
    assert by["cast-overflow"].startswith(
        "1 logit at or below -65520 becomes -inf in float16, +inf in -x, in 1 row (row [1])"
    )
    r = smcheck.analyze(
        x[:1], dtypes=["float16"], methods=["naive"], softmin=True, temperatures=[0.5]
    )
    found = cell(r, "naive", "float16", 0.5).findings
    (exp,) = [f.message for f in found if f.cause == "exp-overflow"]
    assert exp.startswith("exp overflows for -x/T above 11.0902 (x/T below -11.0902) in 1/1 row")


def _softmin(x: list[list[float]], **kw) -> smcheck.Report:  # type: ignore[no-untyped-def]
    return smcheck.analyze(np.array(x), softmin=True, dtypes=["float16"], methods=["naive"], **kw)


def _input_finding(r: smcheck.Report, kind: str) -> str:
    (f,) = [f.message for f in r.sources[0].input.findings if f.kind == kind]
    return f


def test_under_softmin_mask_messages_name_the_logits_plus_inf_masks() -> None:
    # softmin masks with +inf (-inf in -x), and its -inf is upstream (+inf in -x): the messages
    # said "every logit -inf", "NaN or +inf (1 +inf)" and "auto: -inf masks" of logits holding
    # +inf masks and one -inf
    inf = math.inf
    r = _softmin([[1.0, 2.0, 3.0], [inf, inf, inf], [-inf, 0.0, 1.0], [inf, 0.0, 1.0]])
    assert r.sources[0].use_reason == "auto: +inf masks in the input"
    assert _input_finding(r, "upstream").startswith(
        "1 row holds NaN or -inf before any softmax runs (0 NaN, 1 -inf, +inf in -x; row [2])"
    )
    assert _input_finding(r, "fully_masked").startswith(
        "1 fully masked row (every logit +inf, -inf in -x; row [1])"
    )


def _messages(x: list[list[float]]) -> tuple[dict[str, str], dict[str, str], str]:
    """The input findings by kind, the input conditions' details, naive float16's masked NaN."""
    r = smcheck.analyze(np.array(x), dtypes=["float16"], methods=["naive"], gradients=False)
    s = r.sources[0]
    found = {f.kind: f.message for f in s.input.findings}
    hits = {name: m.read(s.input, False) for name, m in INPUT_METRICS.items()}
    details = {name: h.detail for name, h in hits.items() if isinstance(h, Hit)}
    (nan,) = [
        f.message for f in cell(r, "naive", "float16").findings if f.cause == "masked-row-nan"
    ]
    return found, details, nan


def test_a_finding_of_one_row_names_it_row_and_of_several_first_row() -> None:
    # "1 fully masked row (every logit -inf; first row [1])": the first of one row
    inf, big = math.inf, -1e5  # -1e5 rounds to -inf in float16: the row becomes entirely -inf
    found, details, nan = _messages([[1.0, 2.0], [-inf, -inf], [inf, 0.0], [big, big]])
    assert "(0 NaN, 1 +inf; row [2]): no method" in found["upstream"]
    assert found["fully_masked"].startswith("1 fully masked row (every logit -inf; row [1]): ")
    assert "beyond its range; row [3]): " in found["became_fully_masked"]
    assert nan.endswith("the output is NaN for 1 row entirely -inf there (row [3])")
    assert details["input"].endswith("(0 NaN, 1 +inf), row [2]")
    assert details["fully-masked"].endswith("(every logit -inf), row [1]")
    x = [[inf, 0.0], [-inf, -inf], [big, big], [1.0, inf], [-inf, -inf], [big, big]]
    found, details, nan = _messages(x)
    assert "(0 NaN, 2 +inf; first row [0]): no method" in found["upstream"]
    assert found["fully_masked"].startswith("2 fully masked rows (every logit -inf; first row [1])")
    assert "beyond its range; first row [2]): " in found["became_fully_masked"]
    assert nan.endswith("the output is NaN for 2 rows entirely -inf there (first row [2])")
    assert details["input"].endswith("(0 NaN, 2 +inf), first row [0]")
    assert details["fully-masked"].endswith("(every logit -inf), first row [1]")


def test_under_softmin_rows_past_the_range_are_logits_above_it_and_shift_by_the_min() -> None:
    # -x of logits at or above 65520 is entirely -inf in float16: "every logit is at or below
    # -65520" was false, and subtracting the row max leaves -x beyond the range
    r = _softmin([[7e4, 8e4, 9e4], [1.0, 2.0, 3.0]], gradients=False)
    became = _input_finding(r, "became_fully_masked")
    assert became == (
        "1 row of -x becomes entirely -inf in float16 (every logit is at or above 65520, beyond "
        "its range; row [0]): naive returns NaN for it -- subtract the row min before the "
        "cast (softmin is shift-invariant)"
    )
    (f,) = [f for f in cell(r, "naive", "float16").findings if f.cause == "masked-row-nan"]
    assert f.message.startswith(
        "every logit of a row rounds to +inf in float16 (-inf in -x); the output is NaN for 1 row "
        "of -x entirely -inf there"
    )
    shifted = _softmin([[0.0, 1e4, 2e4], [0.0, 1.0, 2.0]], gradients=False)  # x - min x
    assert not shifted.sources[0].input.findings
    assert cell(shifted, "naive", "float16").verdict is Verdict.OK
    # once divided by T: x/T at or above 65520, and -x is centred, (min x - x) / T
    r = _softmin([[1000.0, 2000.0, 1500.0], [1.0, 2.0, 3.0]], temperatures=[0.01])
    assert _input_finding(r, "became_fully_masked") == (
        "1 row of -x becomes entirely -inf in float16 at T=0.01 (every x/T is at or above 65520; "
        "row [0]): naive returns NaN for it -- centre -x before dividing ((min x - x) / T)"
    )
    centred = _softmin([[1000.0, 0.0, 500.0], [2.0, 1.0, 0.0]], temperatures=[0.01])
    assert not centred.sources[0].input.findings  # x - min x: -x/T peaks at 0


def test_under_softmin_the_centring_remedy_centres_minus_x() -> None:
    # -x/T overflows float16 where x/T does: centring x, (x - max x) / T, leaves -x/T = 2e5
    x = [[1000.0, -1000.0, 3.0]]
    r = _softmin(x, temperatures=[0.01], gradients=False)
    found = cell(r, "naive", "float16", 0.01).findings
    (f,) = [f for f in found if f.cause == "temperature-overflow"]
    assert f.remedy.startswith("centre -x before dividing ((min x - x) / T)")
    centred = _softmin([[2000.0, 0.0, 1003.0]], temperatures=[0.01], gradients=False)  # x - min x
    assert "temperature-overflow" not in {
        g.cause for g in cell(centred, "naive", "float16", 0.01).findings
    }
    r = smcheck.analyze(x, softmin=True, dtypes=["float16"], methods=["shifted"], critical=True)
    (crit,) = r.sources[0].temperature.critical
    assert "dividing the logits by T overflows float16 -- centre -x before dividing" in crit.advice


def test_under_softmin_sentinels_are_minus_x_and_the_mask_is_the_formats_max() -> None:
    # a 1e9 mask of the logits is -x's -1e9: finfo.min, which was advised, is no mask there
    r = _softmin([[1e9, 1.0, 2.0], [1e9, 1e9, 1e9], [1.0, 2.0, 3.0]])
    fix = "mask with torch.finfo(torch.float16).max, a value float16 holds"
    assert _input_finding(r, "became_fully_masked").endswith(
        "(every finite logit rounds to +inf there; row [1]): naive returns NaN for it -- "
        + fix
        + ", and use max-shifted softmax for naive"
    )
    assert _input_finding(r, "sentinel_unrepresentable").startswith(
        "mask sentinel -1e9 (common masked_fill value) of -x is not representable in float16"
    )
    (f,) = [f for f in cell(r, "naive", "float16").findings if f.cause == "masked-row-nan"]
    assert f.message.startswith("-1e9 of -x rounds to -inf in float16; the output is NaN")
    assert f.remedy.startswith(fix)
    top = float(np.finfo(np.float16).max)
    fixed = _softmin([[top, 1.0, 2.0], [top, top, top], [1.0, 2.0, 3.0]])
    assert "masked-row-nan" not in {g.cause for g in cell(fixed, "naive", "float16").findings}
    # naive's exp of -65504 is 0: the row is 0/0 still, which the shift the remedy adds cures
    assert "probability-nan" in {g.cause for g in cell(fixed, "naive", "float16").findings}
    shifted = smcheck.analyze(
        np.array([[top, 1.0, 2.0], [top, top, top]]), softmin=True, methods=["shifted"]
    )
    assert not cell(shifted, "shifted", "float16").findings


def test_a_correctly_rounded_tie_is_no_argmax_flip() -> None:
    # exact p = (0.499975, 0.500025) is (0.5, 0.5) in float16 and bfloat16: argmax takes the
    # first of the tie, and no method in the format could do otherwise
    for dtype, x in (("float16", [0.0, 1e-4]), ("bfloat16", [0.0, 1e-3])):
        r = smcheck.analyze([x], dtypes=[dtype], methods=["torch"])
        c = cell(r, "torch", dtype)
        assert c.metrics.argmax_flips.rows == 0 and c.verdict is Verdict.OK


def test_logits_beyond_the_range_are_not_called_a_mask() -> None:
    # no mask in the input: a row of -7e4 is entirely -inf in float16 by range alone
    x = [[3.0, 3.0, 3.0], [-7e4, -7e4, -7e4]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["torch"])
    (f,) = [f for f in r.sources[0].input.findings if f.kind == "became_fully_masked"]
    assert "becomes entirely -inf in float16 (every logit is at or below -65520" in f.message
    assert f.message.endswith("-- " + SHIFT_BEFORE_CAST)
    (g,) = [g for g in cell(r, "torch", "float16").findings if g.cause == "masked-row-nan"]
    assert "mask" not in g.remedy and g.remedy == "compute the softmax in float32"
    # a -1e9 sentinel is a mask: mask with the format's own minimum
    r = smcheck.analyze([[3.0, 1.0], [-1e9, -1e9]], dtypes=["float16"], methods=["torch"])
    (f,) = [f for f in r.sources[0].input.findings if f.kind == "became_fully_masked"]
    assert "becomes fully masked in float16" in f.message and "finfo" in f.message


def test_a_row_of_logits_beside_rows_of_masks_keeps_its_own_cause_and_remedy() -> None:
    # row [1] is -1e9 masks only, row [2] logits of -1e5: both are -inf in float16, the first
    # because -1e9 is not representable, the second beyond the range; the second was blamed on
    # -1e9 and told to mask with finfo.min
    logits = [-1e5, -1e5, -1.00001e5, -1.00002e5]
    x = [[0.5, -1e9, -1e9, 0.2], [-1e9] * 4, logits]
    kw = {"dtypes": ["float16"], "methods": ["torch"], "use": "probs"}
    mixed = smcheck.analyze(x, **kw).sources[0]
    alone = smcheck.analyze([logits], **kw).sources[0]

    def found(src, row: str) -> tuple[list, list]:
        nan = [f for f in src.cells[0].findings if f.cause == "masked-row-nan"]
        cast = [f for f in src.input.findings if f.kind == "became_fully_masked"]
        return (
            [(f.message, f.remedy, f.fix) for f in nan if f.message.endswith(f"(row [{row}])")],
            [f.message for f in cast if f"; row [{row}]): " in f.message],
        )

    nan, cast = found(mixed, "2")
    alone_nan, alone_cast = found(alone, "0")
    assert nan == [(m.replace("row [0]", "row [2]"), r, fix) for m, r, fix in alone_nan]
    assert cast == [m.replace("row [0]", "row [2]") for m in alone_cast]
    assert nan[0][1:] == ("compute the softmax in float32", {"dtype": "float32"})
    assert cast[0].endswith("-- " + SHIFT_BEFORE_CAST)
    # the row of masks keeps the sentinel's cause and the mask remedy
    ((message, remedy, _),), (masks,) = found(mixed, "1")
    assert message.startswith("-1e9 rounds to -inf in float16; the output is NaN for 1 row")
    assert remedy.startswith("mask with torch.finfo(torch.float16).min, a value float16 holds")
    assert "becomes fully masked in float16" in masks and "finfo" in masks
    became = {(b.masks, b.rows, b.first_row) for b in mixed.input.became_fully_masked}
    assert became == {(False, 1, (2,)), (True, 1, (1,))}
    # the format named for each kind holds that kind's rows: float64's min only in float64
    low = float(np.finfo(np.float64).min)
    src = smcheck.analyze([[low] * 4, logits], **kw).sources[0]
    fixes = {f.why: f.fix for f in src.cells[0].findings if f.cause == "masked-row-nan"}
    assert sorted(fixes.values(), key=str) == [{"dtype": "float32"}, {"dtype": "float64"}]
    assert fixes["every logit of a row rounds to -inf in float16"] == {"dtype": "float32"}


def test_a_masked_row_nan_says_as_data_whether_its_rows_are_of_masks_or_of_logits() -> None:
    # settling told the two kinds apart by the prose of why ('every logit of a row ...'); the
    # kind is data: Finding.masks, in JSON on masked-row-nan findings and absent from the rest
    x = [[0.5, -1e9, -1e9, 0.2], [-1e9] * 4, [-1e5, -1e5, -1.00001e5, -1.00002e5]]
    kw = {"dtypes": ["float16"], "methods": ["torch"], "use": "probs"}
    report = smcheck.analyze(x, **kw)
    found = report.sources[0].cells[0].findings
    nan = {
        f.masks: (f.why, f.remedy.startswith("mask with"))
        for f in found
        if f.cause == "masked-row-nan"
    }
    assert nan == {
        True: ("-1e9 rounds to -inf in float16", True),
        False: ("every logit of a row rounds to -inf in float16", False),
    }
    assert all(f.masks is None for f in found if f.cause != "masked-row-nan")
    doc = report.to_dict()["sources"][0]["cells"][0]["findings"]
    assert [f.get("masks") for f in doc] == [f.masks for f in found]
    assert all("masks" not in f for f in doc if f["cause"] != "masked-row-nan")


def test_the_cast_overflow_is_an_overflow_to_check_and_no_temperature_is_safe() -> None:
    from smcheck.check.policy import parse_conditions

    x = [[1e5, 0.0, 1.0], [1.0, 2.0, 3.0]]
    r = smcheck.analyze(x, dtypes=["float16"], methods=["torch"], temperatures=[0.5, 1.0, 2.0])
    (crit,) = r.sources[0].temperature.critical
    assert (crit.min_safe, crit.causes) == (float("inf"), ["cast_overflow"])
    assert crit.advice.startswith("torch float16: at every T the cast to float16 turns logits")
    (cond,) = parse_conditions(["overflow"])
    hit = cond.check(cell(r, "torch", "float16"))
    assert hit is not None and "(cast 1) in 1/2 rows" in hit.detail
    assert hit.remedy == "compute the softmax in float32"
    # beside an exp overflow the cast's remedy leads and the shift follows (naive's exp(200)
    # overflows float32 too, as its exp(7e4) would: the cast's remedy is the shift before the
    # cast, not float32); the cast's row, which lost everything, is the worst
    y = [[7e4, 7e4, 7e4, 1.0], [200.0, 1.0, 2.0, 3.0]]
    r = smcheck.analyze(y, dtypes=["float16", "bfloat16"], methods=["naive"])
    hit = cond.check(cell(r, "naive", "float16"))
    assert hit is not None and "(exp 1, cast 3) in 2/2 rows, worst row [0]" in hit.detail
    assert hit.remedy == f"{SHIFT_BEFORE_CAST}; use max-shifted softmax or torch.softmax"


def test_a_one_dimensional_source_names_no_row_in_its_log_error() -> None:
    # minus999.json at T=10 read "off by up to 0.0121 nats in row [], ... in row [])": a 1-D
    # source has one row, whose index () names nothing
    from smcheck import analyze

    r = analyze([-999.0, 1, 2, 5, 6], methods=["shifted"], dtypes=["float32"], temperatures=[10])
    said = [f.message for c in r.cells for f in c.findings if f.cause == "log-error"]
    assert said and all("row []" not in m and "nats, " in m for m in said), said


@pytest.mark.parametrize(
    ("dtype", "shown"),
    [
        ("float16", "11.0902"),
        ("bfloat16", "88.7209"),
        ("float32", "88.7229"),
        ("float64", "709.783"),
    ],
)
def test_the_overflow_limit_is_shown_to_6_digits_rounded_up_so_every_x_above_it_overflows(
    dtype: str, shown: str
) -> None:
    # review: "exp overflows for logits above 11.09" in float16, whose limit is ln 65520 =
    # 11.090111 (and which rounds 11.09 to 11.09375, past it): every value above the one
    # shown must overflow, in the finding, the -v formats table and `smcheck thresholds`
    f = get_format(dtype)
    assert float(shown) >= f.exp_overflow_x > float(shown) * (1 - 1e-5)  # up, 6 digits
    assert overflow_limit(f.exp_overflow_x) == shown
    r = smcheck.analyze([[f.exp_overflow_x * 1.01, 0.0]], dtypes=[dtype], methods=["naive"])
    (m,) = [x.message for x in cell(r, "naive", dtype).findings if x.cause == "exp-overflow"]
    assert m.startswith(f"exp overflows for logits above {shown} in 1/1 row")
    text = CliRunner().invoke(cli, ["thresholds"], catch_exceptions=False).stdout
    assert shown in next(ln for ln in text.splitlines() if "exp(x) = inf" in ln).split()


def test_explained_nan_reads_the_input_conditions_kinds_from_finding_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # it named "upstream" and "fully_masked" itself: a kind renamed in FINDING_OF, which
    # check/run reads, no longer explained the NaN rows, and the NaN was a violation twice
    from smcheck.findings import inputconditions

    # the three counts explained_nan reads, of an input summary
    s: Any = SimpleNamespace(upstream_rows=1, fully_masked_rows=2, fully_masked_sentinel_rows=0)
    monkeypatch.setitem(inputconditions.FINDING_OF, "input", ("upstream_renamed",))
    monkeypatch.setitem(inputconditions.FINDING_OF, "fully-masked", ("masked_renamed",))
    assert inputconditions.explained_nan(s, 1, {"upstream_renamed"})
    assert inputconditions.explained_nan(s, 3, {"upstream_renamed", "masked_renamed"})
    assert not inputconditions.explained_nan(s, 1, {"upstream"})
