"""Policy conditions read from real report cells, with the counts derived by hand."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import smcheck
from smcheck.check.policy import Policy, parse_conditions
from smcheck.check.run import evaluate
from smcheck.config import Thresholds
from smcheck.errors import ConfigError
from smcheck.findings.policyconditions import METRICS, Hit, parse_condition
from smcheck.report.model import Cell, FlipCount, Verdict
from smcheck.report.violations import Severity
from smcheck.sources.expand import SourceSpec


def cell(values: list[float], method: str = "naive", dtype: str = "float16") -> Cell:
    report = smcheck.analyze(np.array([values]), dtypes=[dtype], methods=[method])
    return report.sources[0].cells[0]


def test_counts_on_naive_float16_overflow() -> None:
    # [1, 2, 3, 12] in float16: exp(12) = 162755 > 65504 overflows (1 element); the sum is +inf,
    # so p = inf/inf = NaN for x=12 and w/inf = 0 for the other three. Those zeros are lost to
    # the overflow and counted there, not as underflow.
    c = cell([1, 2, 3, 12])
    got = {name: parse_condition(name).check(c) for name in ("overflow", "nan")}
    assert {k: (h.value, h.rows, h.worst_row) for k, h in got.items()} == {  # type: ignore[union-attr]
        "overflow": (1.0, 1, (0,)),
        "nan": (1.0, 1, (0,)),
    }
    assert parse_condition("underflow").check(c) is None
    assert parse_condition("lost-mass>0").check(c) is None


def test_counts_on_naive_float16_underflow() -> None:
    # [-20, -5, -5] in float16: exp(-20) = 2.1e-9 rounds to 0 (below 2^-25); the exact
    # p = e^-15 / (2 + e^-15) = 1.53e-7 is representable (subnormal): 1 underflow, that mass lost.
    c = cell([-20, -5, -5])
    # the mass lost, 1.53e-7, is below u = 2^-11: the verdict calls the underflow a NOTE, so the
    # bare condition (the finding) does not fire; an explicit limit reads the raw count
    assert [f.severity for f in c.findings if f.cause == "underflow"] == ["NOTE"]
    assert parse_condition("underflow").check(c) is None
    hit = parse_condition("underflow>=1").check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.rows, hit.worst_row) == (1.0, 1, (0,))
    lost = math.exp(-15) / (2 + math.exp(-15))
    hit = parse_condition("lost-mass>1e-7").check(c)
    assert isinstance(hit, Hit) and hit.value == pytest.approx(lost, rel=1e-9)
    assert parse_condition("lost-mass>1e-6").check(c) is None
    assert parse_condition("underflow>1").check(c) is None  # 1 is not > 1
    assert isinstance(parse_condition("underflow>=1").check(c), Hit)


def test_accuracy_threshold_counts_nan_rows_as_unbounded() -> None:
    c = cell([1, 2, 3, 12])
    hit = parse_condition("error-ulp>8").check(c)
    # the error metric skips the NaN row; a threshold on it must not pass that cell
    assert isinstance(hit, Hit) and hit.value == math.inf and "NaN output in 1 row" in hit.detail


def test_accuracy_threshold_on_a_clean_cell() -> None:
    c = cell([0.1, 0.2, 0.3], method="shifted", dtype="float32")
    assert c.metrics.error.max_ulp is not None and c.metrics.error.max_ulp < 8
    assert parse_condition("error-ulp>8").check(c) is None
    limit = c.metrics.error.max_ulp / 2
    hit = parse_condition(f"error-ulp>{limit!r}").check(c)
    assert isinstance(hit, Hit) and hit.value == c.metrics.error.max_ulp
    assert parse_condition("sum-error>1e-3").check(c) is None


def _rows_cell(rows: list[list[float]], method: str, dtype: str, **kw) -> Cell:  # type: ignore[no-untyped-def]
    report = smcheck.analyze(np.array(rows), dtypes=[dtype], methods=[method], **kw)
    return report.sources[0].cells[0]


# naive float16 on [10, 10.1, 10]: each exp (22026, 24343) is finite, their sum 68395 > 65504
# overflows, so p̂ = exp/inf = 0 for all three: |sum(p̂) - 1| = 1, KL infinite, the argmax lost;
# the accuracy metrics skip that row (analyze counts it once, as overflow); row [1, 2, 3] is clean
SUM_OVERFLOW = [[10.0, 10.1, 10.0], [1.0, 2.0, 3.0]]
CLEAN = [[1.0, 2.0, 3.0], [0.5, 0.1, -1.0]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("argmax-flip", 1.0),
        ("error-ulp>8", math.inf),
        ("normwise-error>64", math.inf),
        ("sum-error>0.5", 1.0),
        ("kl>1", math.inf),
    ],
)
def test_accuracy_conditions_count_a_row_whose_sum_overflowed(name: str, value: float) -> None:
    c = _rows_cell(SUM_OVERFLOW, "naive", "float16")
    assert c.metrics.sum_overflow.rows == 1 and c.metrics.nan.rows == 0
    hit = parse_condition(name).check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (value, (0,))
    assert parse_condition(name).check(_rows_cell(CLEAN, "naive", "float16")) is None


def test_sum_error_of_a_row_whose_sum_overflowed_is_one() -> None:
    # every p̂ 0: |sum(p̂) - 1| is exactly 1, so a limit of 1 is not exceeded
    c = _rows_cell(SUM_OVERFLOW, "naive", "float16")
    assert parse_condition("sum-error>1").check(c) is None
    assert isinstance(parse_condition("sum-error>=1").check(c), Hit)


# 70000 zeros in float16: every exp is 1, the sum 70000 > 65504 overflows in naive and shifted
# alike (subtracting the max changes nothing), so every p̂ is 0
FLAT = [[0.0] * 70000]


@pytest.mark.parametrize("method", ["naive", "shifted"])
@pytest.mark.parametrize("name", ["error-ulp>8", "normwise-error>8", "sum-error>0.5", "kl>1"])
def test_an_accuracy_limit_met_by_a_sum_overflow_takes_the_overflows_remedy(
    name: str, method: str
) -> None:
    # the generic accuracy remedy, "use max-shifted softmax or torch.softmax", cannot cure a sum
    # that overflows after the shift too: the sum-overflow finding's settled remedy does
    c = _rows_cell(FLAT, method, "float16", use="probs")
    (own,) = [f.remedy for f in c.findings if f.cause == "sum-overflow"]
    hit = parse_condition(name).check(c)
    assert isinstance(hit, Hit) and hit.remedy == own
    assert "max-shifted" not in hit.remedy


def test_argmax_flip_counts_rows_whose_output_is_nan() -> None:
    c = cell([1, 2, 3, 12])  # naive float16: exp(12) overflows, the row is NaN
    assert c.metrics.argmax_flips.rows == 0 and c.metrics.nan.rows == 1
    hit = parse_condition("argmax-flip").check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (1.0, (0,))
    assert "NaN output in 1 row" in hit.detail


@pytest.mark.parametrize("method", ["naive", "shifted"])
def test_argmax_flip_counts_no_lost_argmax_in_a_row_of_ties_whose_sum_overflowed(
    method: str,
) -> None:
    # 70000 equal logits: no unique argmax, so none to lose though every p̂ is 0 (it read
    # "1 row of 1 with a flipped or lost argmax (the row sum overflowed ...)")
    c = _rows_cell(FLAT, method, "float16", use="probs")
    assert c.metrics.sum_overflow.rows == 1
    assert c.metrics.argmax_flips.sum_overflow_rows == 0
    assert parse_condition("argmax-flip").check(c) is None


def test_argmax_flip_counts_no_lost_argmax_in_a_nan_row_of_ties() -> None:
    # [-1e5] * 3 is entirely -inf in float16 (NaN output) and has no unique argmax: it read
    # "(NaN output in 1 row)"; a NaN row with a unique maximum still counts (row 2)
    c = _rows_cell([[-1e5, -1e5, -1e5], [1.0, 2, 3], [1.0, 2, 12]], "naive", "float16")
    assert c.metrics.nan.rows == 2
    f = c.metrics.argmax_flips
    assert (f.nan_rows, f.sum_overflow_rows, f.lost_first_row) == (1, 0, (2,))
    hit = parse_condition("argmax-flip").check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (1.0, (2,))
    # one row is "row [2]", as the findings name it (it said "worst row [2]")
    assert hit.detail == "1 row of 2 with a flipped or lost argmax (NaN output in 1 row), row [2]"


def test_argmax_flip_names_the_first_of_its_flipped_and_lost_rows() -> None:
    # it said "worst row [3]": the first flipped row, before the lost one (row [1]); no figure
    # ranks those rows, so the row given is the first, and is named so
    c = _rows_cell([[1.0, 2, 3]] * 4, "naive", "float16")
    flips = FlipCount(rows=1, worst_row=(3,), nan_rows=1, lost_first_row=(1,))
    c = dataclasses.replace(c, metrics=dataclasses.replace(c.metrics, argmax_flips=flips))
    hit = parse_condition("argmax-flip").check(c)
    assert isinstance(hit, Hit) and hit.worst_row == (1,)
    assert hit.detail == (
        "2 rows of 4 with a flipped or lost argmax (NaN output in 1 row), first row [1]"
    )


@pytest.mark.parametrize(
    ("rows", "kw"),
    [
        ([[-70000.0, -70001, -70002], [1.0, 2, 3]], {}),  # the cast makes row 0 all -inf
        ([[-50000.0, -50000, -50000], [1.0, 2, 3]], {"temperatures": [0.5]}),  # x/T: -1e5
    ],
    ids=["cast", "temperature"],
)
def test_nan_counts_rows_the_format_masks_in_its_numerator_and_denominator(rows, kw) -> None:  # type: ignore[no-untyped-def]
    # torch float16 returns NaN for row 0, entirely -inf in the format: not judged (rows_checked
    # 1), but nan counts it, so "in 1/1 row" claimed every row failed while row 1 is fine
    c = _rows_cell(rows, "torch", "float16", **kw)
    assert (c.metrics.rows_checked, c.metrics.masked_rows, c.metrics.nan.rows) == (1, 1, 1)
    hit = parse_condition("nan").check(c)
    assert isinstance(hit, Hit) and hit.detail == "3 NaN probabilities in 1/2 rows, row [0]"


def test_gradient_error_counts_nan_gradient_rows_as_unbounded() -> None:
    # naive float32 on [-999, 1, 2, 5, 6]: p̂ of -999 is 0, log(0) = -inf, so the whole row's
    # gradient is NaN (left out of max_rel_error); row [1, 2, 3, 4, 5] is accurate (~1e-7)
    c = _rows_cell([[-999.0, 1, 2, 5, 6], [1.0, 2, 3, 4, 5]], "naive", "float32", use="loss")
    assert c.gradient is not None and c.gradient.nan.rows == 1
    assert c.gradient.max_rel_error is not None and c.gradient.max_rel_error < 0.01
    hit = parse_condition("gradient-error>0.01").check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (math.inf, (0,))
    assert hit.detail == "gradient error unbounded: NaN gradient in 1 row, row [0]"  # one row
    # the NaN row alone: no row is left for the maximum, and the condition still holds
    alone = _rows_cell([[-999.0, 1, 2, 5, 6]], "naive", "float32", use="loss")
    assert alone.gradient is not None and alone.gradient.max_rel_error is None
    assert isinstance(parse_condition("gradient-error>0.01").check(alone), Hit)
    clean = _rows_cell([[1.0, 2, 3, 4, 5]], "naive", "float32", use="loss")
    assert parse_condition("gradient-error>0.01").check(clean) is None


def test_levels_follow_the_verdict() -> None:
    bad, good = cell([1, 2, 3, 12]), cell([1, 2, 3])
    assert bad.verdict.value == "FAIL" and good.verdict.value == "OK"
    for level in ("fail", "warn"):
        hit = parse_condition(level).check(bad)
        assert isinstance(hit, Hit) and "exp overflows" in hit.detail
        assert parse_condition(level).check(good) is None


def test_a_level_condition_states_each_remedy_once_after_the_findings_it_fixes() -> None:
    # naive float16 on [1, 2, 3, 12]: the exp overflow and the NaN probability share max-shifted
    # softmax, the NaN loss and gradient log_softmax; the message repeated each remedy
    c = cell([1, 2, 3, 12])
    f = {x.cause: x for x in c.findings}
    cond = parse_condition("fail")
    hit = cond.check(c)
    assert isinstance(hit, Hit)
    shift, log = f["exp-overflow"].remedy, f["loss-nan"].remedy
    assert shift == f["probability-nan"].remedy and log == f["gradient-nan"].remedy != shift
    assert cond.message(hit) == (
        f"{f['exp-overflow'].message}; {f['probability-nan'].message} -- {shift}; "
        f"{f['loss-nan'].message}; {f['gradient-nan'].message} -- {log}"
    )


def test_argmax_flip_reads_flipped_rows() -> None:
    c = cell([1, 2, 3])
    flipped = dataclasses.replace(
        c, metrics=dataclasses.replace(c.metrics, argmax_flips=FlipCount(2, (5,)))
    )
    assert parse_condition("argmax-flip").check(c) is None
    hit = parse_condition("argmax-flip").check(flipped)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (2.0, (5,))
    assert parse_condition("argmax-flip>2").check(flipped) is None


def test_gradient_conditions_are_not_measured_without_gradients() -> None:
    c = dataclasses.replace(cell([1, 2, 3]), gradient=None)
    for name in ("dead-gradient", "loss-inf", "nan-gradient", "vanished-gradient"):
        assert parse_condition(name).check(c) == "the report has no gradient metrics"
    # once gradient metrics are in the report (issue 3's names), they are read
    g = dataclasses.replace(
        c,
        gradient={
            "dead": {"elements": 3, "rows": 1, "worst_row": [0]},
            "loss_inf": {"elements": 0, "rows": 0, "worst_row": None},
            "vanished_rows": 1,
        },
    )
    dead = parse_condition("dead-gradient").check(g)
    assert isinstance(dead, Hit) and (dead.value, dead.rows, dead.worst_row) == (3.0, 1, (0,))
    assert parse_condition("loss-inf").check(g) is None
    assert isinstance(parse_condition("vanished-gradient").check(g), Hit)
    assert parse_condition("nan-gradient").check(g) == (
        "the report's gradient metrics do not include it"
    )


# float16, u/2 = 2^-12 = 2.44e-4 (1 - p_max by torch in float64): [0, -20, -12] 6.15e-6 and
# [0, -10, -12] 5.15e-5 round p_max to 1; [0, -7, -9] 1.03e-3 does not
SATURATED = [[0.0, -20.0, -12.0], [0.0, -10.0, -12.0], [0.0, -7.0, -9.0]]


@pytest.mark.parametrize("kw", [{"use": "loss"}, {"use": "probs"}, {"gradients": False}])
def test_saturation_counts_rows_whose_p_max_rounds_to_1_with_or_without_gradients(kw) -> None:  # type: ignore[no-untyped-def]
    # shifted float16 returns p̂ = 0 for -20 in row 0: log(0) makes its gradient NaN, and that
    # row was left out of the count (saturation>=1 passed on row 0 alone)
    c = _rows_cell(SATURATED, "shifted", "float16", **kw)
    hit = parse_condition("saturation>=1").check(c)
    assert isinstance(hit, Hit) and (hit.value, hit.worst_row) == (2.0, (0,))
    assert [f.severity for f in c.findings if f.cause == "saturation"] == ["NOTE"]
    assert "in 2/3 rows" in next(f.message for f in c.findings if f.cause == "saturation")
    # a NOTE (1 - p_max <= u/2 is within 4u): the bare condition follows the verdict
    assert parse_condition("saturation").check(c) is None
    if c.gradient is not None:
        assert c.gradient.saturated_rows == 2 and c.gradient.nan.rows == 1


def test_saturation_names_its_row_the_first_row() -> None:
    # "2 saturated rows in 2/3 rows, worst row [0]": a row count's row is the first such row
    c = _rows_cell(SATURATED, "shifted", "float16", use="probs")
    hit = parse_condition("saturation>=1").check(c)
    assert isinstance(hit, Hit) and hit.detail == "2 saturated rows in 2/3 rows, first row [0]"


@pytest.mark.parametrize(
    ("rows", "detail"),
    [
        # naive float16: exp overflows above 11.09; row 2 holds two overflows, the most
        (
            [[1.0, 2, 12], [1.0, 2, 3], [1.0, 12, 13]],
            "3 overflows to +inf (exp 3) in 2/3 rows, worst row [2]",
        ),
        # one a row: every row ties, so the row with the most is the first
        (
            [[1.0, 2, 3], [1.0, 2, 12], [1.0, 2, 13]],
            "2 overflows to +inf (exp 2) in 2/3 rows, first row [1]",
        ),
    ],
)
def test_a_count_names_its_worst_row_only_where_a_row_holds_the_most(
    rows: list[list[float]], detail: str
) -> None:
    hit = parse_condition("overflow").check(_rows_cell(rows, "naive", "float16", use="probs"))
    assert isinstance(hit, Hit) and hit.detail == detail


def test_a_bare_saturation_condition_follows_the_verdict() -> None:
    # a NOTE with the default 4u whatever the use (never met from the CLI); judged below u/2
    # under loss the finding is a WARN, and the bare condition is met with it
    strict = Thresholds(gradient_abs_u=0.25)
    c = _rows_cell(SATURATED, "torch", "float16", use="loss", thresholds=strict)
    assert [f.severity for f in c.findings if f.cause == "saturation"] == ["WARN"]
    hit = parse_condition("saturation").check(c)
    assert isinstance(hit, Hit) and hit.rows == 2


def test_evaluate_reports_a_condition_once_and_counts_unmeasured_cells() -> None:
    # row 0 overflows naive float16; row 1 underflows it (exp(-20) -> 0, see above)
    # as reported without gradient metrics (with them, row 0's p_max = 1 - 1.9e-4 rounds to 1 in
    # float16: a saturation WARN for torch too)
    rep = smcheck.analyze(
        np.array([[1.0, 2, 3, 12], [-20.0, -5, -5, -5]]),
        dtypes=["float16"],
        methods=["naive", "torch"],
        gradients=False,
    )
    src = rep.sources[0]
    policy = Policy(
        fail_on=parse_conditions(["overflow", "dead-gradient"]),
        # underflow>=1: the raw count (row 1 loses 1e-7 of its mass, a NOTE for a bare condition)
        warn_on=parse_conditions(["overflow", "warn", "underflow>=1"]),
    )
    found, missing = evaluate(src, SourceSpec("x.npy", "x.npy"), policy)
    got = [(v.method, v.condition, v.severity) for v in found]
    # naive: overflow is an error (not repeated as a warning); `warn` adds nothing to a cell with
    # an error; underflow is a warning. torch (max-shifted, fused) computes both rows cleanly.
    assert got == [
        ("naive", "overflow", Severity.ERROR),
        ("naive", "underflow>=1", Severity.WARNING),
    ]
    assert missing == {("dead-gradient", "the report has no gradient metrics"): 2}


def test_condition_names_are_canonical() -> None:
    assert parse_condition("Lost_Mass >= 0.000001").name == "lost-mass>=1e-06"
    assert parse_condition("error-ulp>8.0").name == "error-ulp>8"
    assert parse_condition("overflow").limit == 0
    with pytest.raises(ConfigError, match="finite number >= 0"):
        parse_condition("kl>-1")


def test_every_count_metric_has_a_default_and_every_threshold_an_example() -> None:
    from smcheck.findings.policyconditions import EXAMPLES

    thresholds = {n for n, m in METRICS.items() if m.default_limit is None}
    assert thresholds == set(EXAMPLES)
    for name, example in EXAMPLES.items():
        assert parse_condition(f"{name}>{example}").metric == name


def _saturated_float64(**kw):  # type: ignore[no-untyped-def]
    # a lead of 40 nats: 1 - p_max = 2 e^-40 = 8.5e-18 <= u/2 = 2^-54, so p_max rounds to 1
    # correctly; the target's gradient p - 1 is then exactly 0 where the exact -8.5e-18 is
    # representable: dead, and saturated, by at most 8.5e-18 -- far within 4u = 4.4e-16
    x = np.array([[40.0, 0.0, 0.0]])
    return smcheck.analyze(x, dtypes=["float64"], methods=["torch"], use="loss", **kw).sources[0]


def test_a_correctly_rounded_saturated_float64_row_does_not_fail_dead_gradient() -> None:
    src = _saturated_float64()
    (c,) = src.cells
    assert c.gradient is not None and c.gradient.dead.elements == 1 and c.gradient.saturated_rows
    assert c.verdict is Verdict.OK
    policy = Policy(fail_on=parse_conditions(["dead-gradient", "saturation", "warn"]))
    found, missing = evaluate(src, SourceSpec("x.npy", "x.npy"), policy)
    assert found == [] and missing == {}  # check agrees with analyze
    # the raw counts, asked for with an explicit limit, are still there
    raw = Policy(fail_on=parse_conditions(["dead-gradient>=1", "saturation>=1"]))
    found, _ = evaluate(src, SourceSpec("x.npy", "x.npy"), raw)
    assert sorted(v.condition for v in found) == ["dead-gradient>=1", "saturation>=1"]


def test_a_material_dead_gradient_fails() -> None:
    # the same measured dead element, judged at gradient_abs_u = 0 (every lost bit material):
    # the verdict WARNs, and the bare condition fires with it
    src = _saturated_float64(thresholds=Thresholds(gradient_abs_u=0.0))
    (c,) = src.cells
    assert c.verdict is Verdict.WARN
    policy = Policy(fail_on=parse_conditions(["dead-gradient"]))
    found, _ = evaluate(src, SourceSpec("x.npy", "x.npy"), policy)
    assert [(v.condition, v.severity) for v in found] == [("dead-gradient", Severity.ERROR)]
